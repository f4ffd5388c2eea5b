"""Third-party heads: privacy liability (records × cost per record), notification
and credit monitoring (with the policy's count limit), settlements, regulatory fines."""
from __future__ import annotations

import numpy as np

from adjusters.heads import Head
from adjusters.losses import Draws, HeadLoss, const, doc
from adjusters.losses.fines import assess_fines
from adjusters.records import personal_records


def privacy_liability(storyline, policy, fin, d: Draws) -> HeadLoss | None:
    rc = personal_records(storyline, fin)
    sec = policy.section(Head.privacy_liability)
    if rc.total == 0 or sec is None or sec.cost_per_record is None:
        return None
    cpr = sec.cost_per_record
    records = np.floor(rc.total * d.records_factor)
    docs = [f"policy {policy.policy_number} sections[{policy.sections.index(sec)}] cost_per_record"]
    if rc.basis.startswith("data_inventory") or rc.dropped_non_personal:
        docs.append(doc(fin, "data_inventory.csv"))
    return HeadLoss(
        Head.privacy_liability, records * cpr.amount, "personal records affected × cost per record",
        {"records_by_type": rc.by_type, "records": rc.total, "records_basis": rc.basis,
         "non_personal_dropped": rc.dropped_non_personal, "cost_per_record": cpr.amount,
         "cost_per_record_source": cpr.source, "cost_per_record_year": cpr.year},
        cited_event_ids=rc.cited_event_ids, cited_documents=docs)


def notification_costs(storyline, policy, fin, d: Draws) -> HeadLoss | None:
    items = fin.ledger_for(Head.notification_costs)
    ledger = sum(i.amount for i in items)
    lia = fin.liability
    n = lia.notified_individuals if lia else 0
    if not items and n == 0:
        return None
    sec = policy.section(Head.notification_costs)
    cap = sec.count_limits.get("notified_individuals") if sec else None
    counted = min(n, cap) if cap is not None else n
    per = (lia.notification_cost_per_individual + lia.credit_monitoring_cost_per_individual) if lia else 0.0
    docs = ([doc(fin, "ledger.csv")] if items else []) + ([doc(fin, "liability.yaml")] if lia else [])
    return HeadLoss(
        Head.notification_costs, const(ledger + counted * per, d),
        "Σ ledger[notification_costs] + min(notified individuals, count limit) × "
        "(notification + credit monitoring cost per individual)",
        {"invoices": [i.invoice_id for i in items], "ledger": ledger, "notified_individuals": n,
         "count_limit": cap, "individuals_counted": counted,
         "notification_cost_per_individual": lia.notification_cost_per_individual if lia else 0.0,
         "credit_monitoring_cost_per_individual": lia.credit_monitoring_cost_per_individual if lia else 0.0},
        cited_event_ids=personal_records(storyline, fin).cited_event_ids, cited_documents=docs)


SETTLEMENT_HEADS = (Head.network_security_liability, Head.product_liability, Head.outsourcer_liability,
                    Head.media_liability)


def settlement_head(policy) -> Head:
    """Where a settlement without an explicit head goes: the policy's first third-party liability section."""
    return next((s.name for s in policy.sections if s.name in SETTLEMENT_HEADS), Head.network_security_liability)


def settlements(storyline, policy, fin, d: Draws) -> list[HeadLoss]:
    lia = fin.liability
    if lia is None or not lia.settlements:
        return []
    default = settlement_head(policy)
    by_head: dict[Head, list] = {}
    for s in lia.settlements:
        by_head.setdefault(s.head or default, []).append(s)
    return [HeadLoss(h, const(sum(s.amount for s in ss), d), "Σ third-party settlements",
                     {"settlements": [{"party": s.party, "amount": s.amount} for s in ss]},
                     cited_documents=[doc(fin, "liability.yaml")])
            for h, ss in sorted(by_head.items(), key=lambda kv: list(Head).index(kv[0]))]


def regulatory_fines(storyline, policy, fin, d: Draws) -> HeadLoss | None:
    lia = fin.liability
    if lia is None or not lia.fines:
        return None
    fa = assess_fines(lia.fines, policy.jurisdiction)
    return HeadLoss(Head.regulatory_fines, const(fa.insurable_total, d),
                    f"Σ fines insurable under {policy.jurisdiction.value} law",
                    {"fines": fa.items, "fines_total": fa.total, "insurable_total": fa.insurable_total},
                    cited_documents=[doc(fin, "liability.yaml")])
