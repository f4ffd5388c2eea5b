"""Cost heads paid on invoices: incident response, data restoration, legal, PR,
hardware replacement, direct physical loss (and the ledger part of notification).

Betterment — the part of an invoice that upgrades beyond like-for-like — is
removed unless the policy covers hardware improvement (硬件改善成本).
"""
from __future__ import annotations

from adjusters.heads import Head
from adjusters.losses import Draws, HeadLoss, const, doc

COST_HEADS = (Head.incident_response, Head.data_restoration, Head.legal_costs, Head.public_relations,
              Head.hardware_replacement, Head.direct_physical_loss)


def ledger_sum(fin, head: Head, betterment_excluded: bool) -> tuple[float, float, list[str]]:
    items = fin.ledger_for(head)
    gross = sum(i.amount for i in items)
    better = sum(i.betterment_amount for i in items) if betterment_excluded else 0.0
    return gross, better, [i.invoice_id for i in items]


def cost_head(head: Head):
    def calc(storyline, policy, fin, d: Draws) -> HeadLoss | None:
        gross, better, invoices = ledger_sum(fin, head, policy.betterment_excluded)
        if not invoices and head == Head.data_restoration and fin.restoration:
            return _restoration_by_rates(storyline, fin, d)
        if not invoices:
            return None
        formula = f"Σ ledger[{head.value}]" + (" − Σ betterment_amount (hardware improvement not covered)"
                                                if policy.betterment_excluded and better else "")
        impact_ids = sorted({e for f in storyline.impact for e in f.cited_event_ids})
        return HeadLoss(head, const(gross - better, d), formula,
                        {"invoices": invoices, "invoiced": gross, "betterment_removed": better},
                        cited_event_ids=impact_ids, cited_documents=[doc(fin, "ledger.csv")])
    calc.__name__ = head.value
    return calc


def _restoration_by_rates(storyline, fin, d: Draws) -> HeadLoss:
    """Before the invoices arrive: systems and volumes × the restorer's rates (restoration.csv)."""
    rows = fin.restoration
    impact_ids = sorted({e for f in storyline.impact for e in f.cited_event_ids})
    return HeadLoss(Head.data_restoration, const(sum(r.volume * r.rate for r in rows), d), "Σ volume × rate per system",
                    {"systems": [{"system": r.system, "volume": r.volume, "unit": r.unit, "rate": r.rate} for r in rows]},
                    cited_event_ids=impact_ids, cited_documents=[doc(fin, "restoration.csv")])
