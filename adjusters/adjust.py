"""adjust(storyline, policy, financials) → AdjustmentResult: coverage per section,
the loss schedule per head (claimed → adjusted → payable, P10/P50/P90) and totals.

Pure: no I/O. Same inputs → byte-identical `to_json()`. Money is rounded to
2 decimals only here, at output.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from adjusters.coverage import CoverageDecision, decide_coverage
from adjusters.financials import Financials
from adjusters.heads import HEAD_ZH, Decision, Head
from adjusters.limits import apply_terms
from adjusters.losses import Draws, HeadLoss
from adjusters.losses.bi import business_interruption, loss_hours
from adjusters.losses.costs import COST_HEADS, cost_head
from adjusters.losses.extortion import extortion
from adjusters.losses.fraud import funds_transfer_fraud
from adjusters.losses.liability import notification_costs, privacy_liability, regulatory_fines, settlements
from adjusters.montecarlo import N_DRAWS, SEED, mc_draws, point_draws
from adjusters.policy import Policy
from forensics.events import canonical_json
from forensics.storyline_model import Storyline

METHOD_VERSION = "adjusters@1"
CALCULATORS = [business_interruption, *(cost_head(h) for h in COST_HEADS), extortion, funds_transfer_fraud,
               privacy_liability, notification_costs, settlements, regulatory_fines]


def money(x: float | None) -> float | None:
    return None if x is None else round(float(x) + 0.0, 2) + 0.0  # + 0.0: no "-0.0" in the output


class LossLine(BaseModel):
    head: str
    head_zh: str
    section_decision: str | None
    claimed: float | None
    adjusted: float
    payable: float
    currency: str
    formula: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    p10: float
    p50: float
    p90: float
    cited_event_ids: list[str] = Field(default_factory=list)
    cited_documents: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Totals(BaseModel):
    claimed: float
    adjusted: float
    payable: float
    currency: str
    p10: float
    p50: float
    p90: float


class AdjustmentResult(BaseModel):
    case_id: str
    policy_number: str
    insured: str
    currency: str
    method: str = METHOD_VERSION
    monte_carlo: dict[str, Any] = Field(default_factory=dict)
    coverage: list[CoverageDecision]
    losses: list[LossLine]
    totals: Totals
    warnings: list[str] = Field(default_factory=list)

    def to_json(self) -> str:
        return canonical_json(self.model_dump(mode="json"))


def _plain(v):
    """numpy scalars/arrays → plain JSON values, so the output is deterministic text."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _run(storyline, policy, fin, d: Draws) -> list[HeadLoss]:
    out: list[HeadLoss] = []
    for calc in CALCULATORS:
        r = calc(storyline, policy, fin, d)  # one head, several (settlements), or none
        out.extend(r if isinstance(r, list) else [r] if r is not None else [])
    return out


def _section_matrix(policy: Policy, losses: list[HeadLoss], k: int) -> np.ndarray:
    m = np.zeros((k, len(policy.sections)))
    for hl in losses:
        sec = policy.section(hl.head)
        if sec is not None:
            m[:, policy.sections.index(sec)] = hl.adjusted
    return m


def adjust(storyline: Storyline, policy: Policy, fin: Financials, n_draws: int = N_DRAWS,
           seed: int = SEED) -> AdjustmentResult:
    coverage = decide_coverage(storyline, policy, fin)
    covered = np.array([c.decision == Decision.triggered for c in coverage])
    point = _run(storyline, policy, fin, point_draws(fin))
    pay_pt = apply_terms(policy, _section_matrix(policy, point, 1), covered)[0]

    H, _, _, inferred = loss_hours(storyline, fin) if len(fin.revenue) else (np.zeros(0), [], [], False)
    default_shift = (-(len(H) // 4), len(H) // 4) if inferred and len(H) >= 4 else None
    md = mc_draws(fin, n_draws, seed, default_shift)
    if md is not None:
        mc = _run(storyline, policy, fin, md)
        pay_mc = apply_terms(policy, _section_matrix(policy, mc, md.k), covered)
        pct = np.percentile(pay_mc, [10, 50, 90], axis=0)  # (3, n_sections)
        tot_pct = np.percentile(pay_mc.sum(axis=1), [10, 50, 90])
    else:
        pct = np.repeat(pay_pt[None, :], 3, axis=0)
        tot_pct = np.repeat(pay_pt.sum(), 3)

    by_head = {hl.head: hl for hl in point}
    claimed = {Head(h): a for h, a in fin.claim.claimed.items()}
    # order: the policy's sections first (as the schedule reads), then heads the policy does not cover
    heads = [s.name for s in policy.sections if s.name in by_head or s.name in claimed]
    heads += sorted((set(by_head) | set(claimed)) - set(heads), key=list(Head).index)
    lines = []
    for h in heads:
        hl = by_head.get(h)
        sec = policy.section(h)
        i = policy.sections.index(sec) if sec else None
        notes = list(hl.notes) if hl else []
        if sec is None:
            notes.append("no section of the policy covers this head / 保单未承保此项损失")
        elif hl is None:
            notes.append("claimed, but nothing in the evidence or the financials supports an amount")
        lines.append(LossLine(
            head=h.value, head_zh=HEAD_ZH[h], section_decision=coverage[i].decision.value if i is not None else None,
            claimed=money(claimed.get(h)), adjusted=money(hl.adjusted[0] if hl else 0.0),
            payable=money(pay_pt[i] if i is not None else 0.0), currency=policy.currency,
            formula=hl.formula if hl else "", inputs=_plain(hl.inputs) if hl else {},
            p10=money(pct[0, i] if i is not None else 0.0), p50=money(pct[1, i] if i is not None else 0.0),
            p90=money(pct[2, i] if i is not None else 0.0),
            cited_event_ids=hl.cited_event_ids if hl else [], cited_documents=hl.cited_documents if hl else [],
            notes=notes,
        ))
    totals = Totals(
        claimed=money(sum(claimed.values())), adjusted=money(sum(float(hl.adjusted[0]) for hl in point)),
        payable=money(pay_pt.sum()), currency=policy.currency,
        p10=money(tot_pct[0]), p50=money(tot_pct[1]), p90=money(tot_pct[2]),
    )
    mc_info = {"draws": md.k if md is not None else 0, "seed": seed if md is not None else None,
               "distribution": "triangular, mode at the point estimate" if md is not None else None}
    return AdjustmentResult(
        case_id=storyline.case_id, policy_number=policy.policy_number, insured=policy.insured,
        currency=policy.currency, monte_carlo=mc_info, coverage=coverage, losses=lines, totals=totals,
        warnings=list(fin.warnings),
    )
