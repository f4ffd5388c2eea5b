"""Business interruption (营业中断损失), and dependent BI, on an hourly baseline.

Method: docs/adjustment-method.md §2. All hour arithmetic is on the revenue
grid (hour indexes into financials.revenue); the waiting period and the period
of restoration are counts of loss hours from the first loss hour S, so the
Monte Carlo can vary the outage end by moving one index per draw.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from adjusters.baseline import seasonal_trend_projection, standard_turnover
from adjusters.facts import parse_time, truthy
from adjusters.financials import HOUR_US
from adjusters.heads import Head
from adjusters.losses import Draws, HeadLoss, doc
from adjusters.policy import BIBasis, WaitingMode

RECOVERY_SHARE, RECOVERY_RUN = 0.9, 3  # restored once actual ≥ 90 % of standard for 3 hours running
MAX_TABLE_ROWS = 2000


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def _recovery_index(rev: np.ndarray, start: int) -> int:
    """First hour after `start` from which revenue is back to normal; the end of the data if never."""
    idx = np.arange(start, len(rev))
    std, _ = standard_turnover(rev, idx)
    ok = rev[idx] >= RECOVERY_SHARE * np.nan_to_num(std, nan=0.0)
    run = np.convolve(ok.astype(int), np.ones(RECOVERY_RUN, int), mode="valid") == RECOVERY_RUN
    hit = np.flatnonzero(run[1:]) + 1 if len(run) > 1 else np.array([], int)  # the first hour is the outage itself
    return int(start + hit[0]) if len(hit) else len(rev)


def loss_hours(storyline, fin) -> tuple[np.ndarray, list[str], list[str], bool]:
    """Sorted hour indexes of the outage(s), the notes, cited event ids, and whether an end was inferred."""
    ts0 = int(fin.revenue_ts[0]) if len(fin.revenue_ts) else 0
    service = fin.profile.revenue_service
    hours: set[int] = set()
    notes, cited, inferred = [], [], False
    for o in storyline.outages:
        if service and o.service != service:
            continue
        st = parse_time(o.start)
        if st is None:
            notes.append(f"outage of {o.service}: unreadable start {o.start!r}, ignored")
            continue
        a = (_us(st) - ts0) // HOUR_US  # floor to the hour on the revenue grid
        en = parse_time(o.end)
        if en is None:
            b = _recovery_index(fin.revenue, int(max(a, 0)))
            inferred = True
            notes.append(f"outage of {o.service} has no end in the evidence; restoration inferred at "
                         f"{_iso(ts0 + b * HOUR_US)} from revenue back to ≥ {RECOVERY_SHARE:.0%} of standard")
        else:
            b = -((ts0 - _us(en)) // HOUR_US)  # ceil to the hour
        hours.update(range(int(a), int(max(b, a))))
        cited.extend(o.cited_event_ids)
    return np.array(sorted(hours), dtype=np.int64), notes, sorted(set(cited)), inferred


def business_interruption(storyline, policy, fin, d: Draws) -> HeadLoss | None:
    H, notes, cited, inferred = loss_hours(storyline, fin)
    if len(H) == 0 or len(fin.revenue) == 0:
        return None
    head = Head.dependent_business_interruption if truthy(storyline.dependent_provider) else Head.business_interruption
    sec = policy.section(head)
    basis = sec.basis if sec else BIBasis.gross_profit
    prof = fin.profile
    rev = fin.revenue
    n0 = len(H)
    shift = d.outage_end_shift_hours.astype(np.int64)
    extra = int(max(0, shift.max()))
    Hx = np.concatenate([H, H[-1] + 1 + np.arange(extra, dtype=np.int64)])
    inside = (Hx >= 0) & (Hx < len(rev))
    if not inside.all():
        notes.append(f"{int((~inside).sum())} outage hour(s) fall outside the revenue history: no loss measured there")
    actual = np.where(inside, rev[np.clip(Hx, 0, len(rev) - 1)], np.nan)
    std, used = standard_turnover(rev, Hx)
    if np.any(inside & (used == 0)):
        notes.append(f"{int((inside & (used == 0)).sum())} outage hour(s) have no history 1–4 weeks before: "
                     "no loss measured there")
    if np.any(inside & (used > 0) & (used < 4)):
        notes.append("some outage hours have fewer than 4 weeks of history; the weeks available were averaged")
    lost = np.where(inside & ~np.isnan(std), np.maximum(0.0, std - np.nan_to_num(actual)), 0.0)
    lost_mu = lost * (1.0 - prof.make_up_rate)
    C = np.concatenate([[0.0], np.cumsum(lost_mu)])

    S = int(H[0])
    P = sec.period_of_restoration_hours if sec else None
    wp = sec.waiting_period if sec else None
    ret_h = sec.retention.hours if (sec and sec.retention and sec.retention.hours) else 0.0
    td_hours = ret_h + (wp.hours if (wp and wp.mode == WaitingMode.time_deductible) else 0.0)
    fr_hours = wp.hours if (wp and wp.mode == WaitingMode.franchise) else 0.0

    n = np.clip(n0 + shift, 0, len(Hx))
    p_cnt = int(np.count_nonzero(Hx < S + P)) if P else len(Hx)
    m = np.minimum(n, p_cnt)
    w_cnt = int(np.count_nonzero(Hx < S + td_hours))
    first_paid = np.minimum(w_cnt, m)
    franchise_met = n >= fr_hours
    L = (C[m] - C[first_paid]) * franchise_met
    paid_hours = (m - first_paid) * franchise_met

    icow = prof.increased_cost_of_working
    if basis == BIBasis.gross_profit:
        gpr = d.gross_profit_rate
        icow_v = np.minimum(icow.amount, icow.turnover_saved_by_it * gpr) * franchise_met if icow else 0.0
        adjusted = L * gpr * (1.0 - prof.savings_rate) + icow_v
        formula = ("Σ_paid hours max(0, standard − actual) × (1 − make_up_rate) × gross_profit_rate × (1 − savings_rate)"
                   " + min(ICOW, turnover_saved_by_ICOW × gross_profit_rate)")
    else:
        adjusted = L * d.net_profit_rate + prof.continuing_expenses_per_hour * paid_hours
        formula = ("Σ_paid hours max(0, standard − actual) × (1 − make_up_rate) × net_profit_rate"
                   " + continuing_expenses_per_hour × paid hours  (extra expense reported separately)")

    # the point-estimate hour table (draw 0 of the point run is the point estimate)
    ts0 = int(fin.revenue_ts[0])
    m0, f0, ok0 = int(m[0]), int(first_paid[0]), bool(franchise_met[0])
    proj = seasonal_trend_projection(rev, S, Hx[:n0])
    table = [[_iso(ts0 + int(h) * HOUR_US), round(float(s_), 2) if not np.isnan(s_) else None,
              round(float(a_), 2) if not np.isnan(a_) else None, round(float(l_), 2),
              bool(ok0 and f0 <= i < m0)]
             for i, (h, s_, a_, l_) in enumerate(zip(Hx[:n0], std[:n0], actual[:n0], lost[:n0]))][:MAX_TABLE_ROWS]
    inputs = {
        "basis": basis.value,
        "outage_first_hour": _iso(ts0 + S * HOUR_US),
        "outage_end_hour": _iso(ts0 + (int(H[-1]) + 1) * HOUR_US),
        "loss_hours": n0,
        "waiting_period_hours": wp.hours if wp else 0.0,
        "waiting_period_mode": wp.mode.value if wp else None,
        "retention_hours": ret_h,
        "franchise_met": ok0,
        "period_of_restoration_hours": P,
        "paid_hours": int(paid_hours[0]),
        "standard_turnover_total": round(float(np.nansum(std[:n0])), 2),
        "actual_turnover_total": round(float(np.nansum(actual[:n0])), 2),
        "lost_turnover_total": round(float(lost[:n0].sum()), 2),
        "lost_turnover_paid_after_make_up": round(float(L[0]), 2),
        "make_up_rate": prof.make_up_rate,
        "gross_profit_rate": float(d.gross_profit_rate[0]),
        "net_profit_rate": float(d.net_profit_rate[0]),
        "savings_rate": prof.savings_rate,
        "continuing_expenses_per_hour": prof.continuing_expenses_per_hour,
        "increased_cost_of_working": icow.model_dump() if icow else None,
        "projection_check_lost_turnover": (round(float(np.nansum(np.maximum(0, proj - np.nan_to_num(actual[:n0])))), 2)
                                           if not np.all(np.isnan(proj)) else None),
        "revenue_granularity": fin.granularity,
        "hourly": {"columns": ["hour", "standard", "actual", "lost", "paid"], "rows": table},
    }
    if basis == BIBasis.net_income and icow:
        inputs["extra_expense_reported_separately"] = icow.amount
    if inferred:
        inputs["outage_end_inferred"] = True
    docs = [doc(fin, "revenue.csv"), doc(fin, "profile.yaml")]
    if sec:
        docs.append(f"policy {policy.policy_number} sections[{policy.sections.index(sec)}] {head.value}")
    ids = sorted(set(cited) | (set(storyline.dependent_provider.cited_event_ids)
                               if head == Head.dependent_business_interruption else set()))
    return HeadLoss(head, np.asarray(adjusted, dtype=float) * np.ones(d.k), formula, inputs, ids, docs,
                    notes + list(fin.notes))
