"""Funds-transfer fraud (网络欺诈损失): transfers made on the fraudster's instruction, less recoveries."""
from __future__ import annotations

from adjusters.heads import Head
from adjusters.losses import Draws, HeadLoss, const, doc


def funds_transfer_fraud(storyline, policy, fin, d: Draws) -> HeadLoss | None:
    if fin.fraud is None or not fin.fraud.transfers:
        return None
    tr = fin.fraud.transfers
    total = sum(t.amount for t in tr)
    recovered = sum(t.recovered_amount for t in tr)
    return HeadLoss(
        Head.funds_transfer_fraud, const(total - recovered, d), "Σ transfer amount − Σ recovered",
        {"transfers": [{"date": t.date.isoformat(), "amount": t.amount, "beneficiary": t.beneficiary,
                        "beneficiary_account": t.beneficiary_account, "recovered_amount": t.recovered_amount} for t in tr],
         "total_transferred": total, "total_recovered": recovered},
        cited_event_ids=list(storyline.social_engineering.cited_event_ids) if storyline.social_engineering else [],
        cited_documents=[doc(fin, "fraud.yaml")],
    )
