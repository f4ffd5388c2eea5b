"""Builders for adjuster tests: a policy from a dict, a financials/ directory on
disk (the real loader reads it), a storyline. No tests here."""
from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from adjusters.financials import load_financials
from adjusters.policy import parse_policy
from forensics.storyline_model import Fact, Outage, Storyline

T_START = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday, 00:00 UTC


def policy(sections: list[dict], **over):
    base = dict(
        policy_number="T-1", insurer="Insurer", insured="Retailer", product="enterprise",
        product_type="telecom_internet", jurisdiction="CN", currency="CNY", timezone="UTC",
        period={"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"},
        retroactive_date="2025-01-01", trigger_basis="discovery", aggregate_limit=10_000_000,
        sections=sections, exclusions=[], hardware_improvement_covered=False,
    )
    base.update(over)
    return parse_policy(yaml.safe_dump(base, allow_unicode=True, sort_keys=False))


def bi_section(**over) -> dict:
    s = {"name": "business_interruption", "triggers": ["security_failure", "system_failure"], "limit": 10_000_000}
    s.update(over)
    return s


def section(name: str, triggers: list[str], limit: float = 10_000_000, **over) -> dict:
    return {"name": name, "triggers": triggers, "limit": limit, **over}


def daily_pattern(hour: int) -> float:
    """An online retailer: the evening peak at 20:00 is the busiest hour of the day."""
    return {20: 1000.0, 21: 600.0}.get(hour, 100.0)


def write_financials(d: Path, *, weeks: int = 6, revenue_fn=None, outage=None, profile=None, ledger=(),
                     inventory=(), ransom=None, fraud=None, liability=None, claim=None, pol=None):
    """Hourly revenue from T_START for `weeks` weeks; hours in `outage` (start, end datetimes) earn 0."""
    d.mkdir(parents=True, exist_ok=True)
    fn = revenue_fn or (lambda t: daily_pattern(t.hour))
    with open(d / "revenue.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "revenue"])
        for i in range(weeks * 168):
            t = T_START + timedelta(hours=i)
            v = 0.0 if outage and outage[0] <= t < outage[1] else fn(t)
            w.writerow([t.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{v:.2f}"])
    prof = {"currency": "CNY", "gross_profit_rate": 0.5, "net_profit_rate": 0.1, "continuing_expenses_per_hour": 50}
    prof.update(profile or {})
    (d / "profile.yaml").write_text(yaml.safe_dump(prof))
    if ledger:
        with open(d / "ledger.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["invoice_id", "vendor", "category", "amount", "currency", "date", "description", "betterment_amount"])
            for r in ledger:
                w.writerow([r[0], r[1], r[2], r[3], "CNY", r[4] if len(r) > 4 else "2026-02-20", "", r[5] if len(r) > 5 else ""])
    if inventory:
        with open(d / "data_inventory.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["system", "host", "record_type", "count", "personal"])
            w.writerows(inventory)
    for name, obj in (("ransom.yaml", ransom), ("fraud.yaml", fraud), ("liability.yaml", liability), ("claim.yaml", claim)):
        if obj is not None:
            (d / name).write_text(yaml.safe_dump(obj, allow_unicode=True))
    return load_financials(d, pol)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def fact(name, value, conf=0.9, ids=None) -> Fact:
    return Fact(name=name, value=value, confidence=conf, cited_event_ids=ids or [f"ev-{name}"])


def story(outage=None, malicious=True, t0=None, discovery=None, **over) -> Storyline:
    t0 = t0 or (outage[0] - timedelta(hours=2) if outage else T_START + timedelta(days=30))
    kw = dict(
        case_id="CTEST",
        t0=fact("t0", iso(t0)),
        discovery=fact("discovery", iso(discovery or t0 + timedelta(hours=1))),
        malicious=fact("malicious", malicious),
        outages=[Outage(service="shop", start=iso(outage[0]), end=iso(outage[1]) if outage[1] else None,
                        confidence=0.9, cited_event_ids=["ev-outage"])] if outage else [],
    )
    kw.update(over)
    return Storyline(**kw)
