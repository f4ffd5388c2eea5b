"""Extortion (网络勒索损失): ransom paid plus the ledger's extortion costs.

In mainland China a ransom paid in virtual currency is not payable: financial
institutions may not facilitate virtual-currency transactions (银发〔2021〕237号),
so the insurer cannot indemnify it; negotiators and other extortion costs remain.
"""
from __future__ import annotations

from adjusters.currency import is_virtual_payment
from adjusters.heads import Head
from adjusters.losses import Draws, HeadLoss, const, doc
from adjusters.policy import ExclusionCode, Jurisdiction, Policy


def ransom_not_payable(policy: Policy, ransom) -> bool:
    return (policy.jurisdiction == Jurisdiction.CN
            and is_virtual_payment(ransom.payment_method, ransom.demand_currency))


def extortion(storyline, policy: Policy, fin, d: Draws) -> HeadLoss | None:
    items = fin.ledger_for(Head.extortion)
    r = fin.ransom
    if r is None and not items:
        return None
    costs = sum(i.amount for i in items)
    paid = r.paid_value_in_policy_currency if (r and r.paid) else 0.0
    blocked = bool(r and r.paid and ransom_not_payable(policy, r))
    ransom_payable = 0.0 if blocked else paid
    docs = [doc(fin, "ledger.csv")] if items else []
    if r is not None:
        docs.append(doc(fin, "ransom.yaml"))
    inputs = {"ransom_paid": paid, "ransom_payable": ransom_payable, "ledger_extortion_costs": costs,
              "invoices": [i.invoice_id for i in items]}
    if r is not None:
        inputs.update(payment_method=r.payment_method, demand_amount=r.demand_amount, demand_currency=r.demand_currency,
                      demand_value_in_policy_currency=r.demand_value_in_policy_currency)
    formula = "ransom paid + Σ ledger[extortion]"
    if blocked:
        formula += " ; ransom paid in virtual currency not payable under CN law (银发〔2021〕237号) → 0"
        inputs["virtual_currency_ransom_excluded"] = True
    return HeadLoss(Head.extortion, const(ransom_payable + costs, d), formula, inputs,
                    cited_event_ids=list(storyline.extortion.cited_event_ids) if storyline.extortion else [],
                    cited_documents=docs)
