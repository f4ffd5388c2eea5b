"""The generator's own arithmetic for truth.json's expected_payable, written
straight from the adjustment method in the contract (never importing adjusters/,
which it exists to check). Plain Python over the very numbers written to disk."""
from __future__ import annotations

from scenarios.writers.clock import HOUR, DAY
from scenarios.writers.financials import Financials

VIRTUAL_CURRENCIES = {"bitcoin", "monero", "ethereum", "usdt", "virtual_currency"}
COST_HEADS = ("incident_response", "data_restoration", "legal_costs", "public_relations", "notification_costs",
              "hardware_replacement")


def loss_hours(start_us: int, end_us: int) -> list[int]:
    """Whole hours [start floored to the hour, end ceiled to the hour)."""
    first = start_us // HOUR * HOUR
    last = -(-end_us // HOUR) * HOUR
    return list(range(first, last, HOUR))


def business_interruption(section: dict, profile: dict, revenue: dict[int, float], start_us: int,
                          end_us: int) -> dict:
    hours = loss_hours(start_us, end_us)
    first = hours[0]
    wp = section.get("waiting_period") or {}
    w = wp.get("hours", 0)
    if wp.get("mode") == "franchise":
        paid = hours if len(hours) >= w else []  # n loss hours against the franchise
    else:
        paid = [h for h in hours if h >= first + w * HOUR]
    p = section.get("period_of_restoration_hours")
    if p is not None:
        paid = [h for h in paid if h < first + p * HOUR]
    lost = 0.0
    for h in paid:
        standard = sum(revenue[h - 7 * DAY * k] for k in (1, 2, 3, 4)) / 4
        lost += max(0.0, standard - revenue[h])
    lost *= 1 - profile.get("make_up_rate", 0.0)
    if section.get("bi_basis", "gross_profit") == "gross_profit":
        amount = lost * profile["gross_profit_rate"] * (1 - profile.get("savings_rate", 0.0))
        icow = profile.get("increased_cost_of_working")
        if icow:
            amount += min(icow["amount"], icow["turnover_saved_by_it"] * profile["gross_profit_rate"])
    else:
        amount = lost * profile["net_profit_rate"] + profile["continuing_expenses_per_hour"] * len(paid)
    return {"amount": amount, "lost_turnover": lost, "loss_hours": len(hours), "paid_hours": len(paid)}


def extortion(fin: Financials, jurisdiction: str) -> float:
    r = fin.ransom or {}
    ransom = float(r.get("paid_value_in_policy_currency", 0.0)) if r.get("paid") else 0.0
    if jurisdiction == "CN" and str(r.get("payment_method", "")).lower() in VIRTUAL_CURRENCIES:
        ransom = 0.0
    return ransom + fin.ledger_total("extortion", net_of_betterment=False)


def funds_transfer_fraud(fin: Financials) -> float:
    return sum(float(t["amount"]) - float(t.get("recovered_amount", 0.0)) for t in (fin.fraud or {}).get("transfers", []))


def privacy_liability(section: dict, personal_records: int) -> float:
    return personal_records * float(section["cost_per_record"]["amount"])


def notification_costs(section: dict, fin: Financials, net_of_betterment: bool) -> float:
    amount = fin.ledger_total("notification_costs", net_of_betterment)
    li = fin.liability or {}
    n = int(li.get("notified_individuals", 0))
    cap = (section.get("count_limits") or {}).get("notified_individuals")
    if cap is not None:
        n = min(n, int(cap))
    return amount + n * (float(li.get("notification_cost_per_individual", 0.0))
                         + float(li.get("credit_monitoring_cost_per_individual", 0.0)))


def settlements(fin: Financials) -> float:
    """Third-party liability heads without a ledger rule: the settlements paid to claimants."""
    return sum(float(s["amount"]) for s in (fin.liability or {}).get("settlements", []))


def apply_terms(policy: dict, gross: dict[str, float], decisions: dict[str, str]) -> dict[str, float]:
    """Retention (once per retention group, in section order), coinsurance, sublimit, limit, aggregate,
    in the policy's application_order. Sections not triggered pay 0."""
    sections = policy["sections"]
    amt = {s["name"]: (gross.get(s["name"], 0.0) if decisions.get(s["name"]) == "triggered" else 0.0)
           for s in sections}
    for step in policy.get("application_order") or ["retention", "coinsurance", "sublimit", "limit", "aggregate"]:
        if step == "retention":
            left: dict[str, float] = {}
            for s in sections:
                ret = (s.get("retention") or {}).get("amount")
                if ret is None or amt[s["name"]] <= 0:
                    continue
                group = s.get("retention_group") or f"__{s['name']}"
                left.setdefault(group, float(ret))
                take = min(left[group], amt[s["name"]])
                amt[s["name"]] -= take
                left[group] -= take
        elif step == "coinsurance":
            for s in sections:
                amt[s["name"]] *= 1 - float(s.get("coinsurance", 0.0))
        elif step == "sublimit":
            for s in sections:
                if s.get("sublimit") is not None:
                    amt[s["name"]] = min(amt[s["name"]], float(s["sublimit"]))
        elif step == "limit":
            for s in sections:
                amt[s["name"]] = min(amt[s["name"]], float(s["limit"]))
        elif step == "aggregate":
            room = float(policy["aggregate_limit"])
            for s in sections:
                amt[s["name"]] = min(amt[s["name"]], room)
                room -= amt[s["name"]]
    out = {k: round(v, 2) for k, v in amt.items()}
    out["total"] = round(sum(amt.values()), 2)
    return out
