"""What-if: re-run the pure `adjust` with a few inputs changed, without touching
the case (the outage end, the BI waiting period, the gross-profit rate).

Copies are changed, never the originals; the stored case inputs are untouched
until an adjuster saves new ones through `cases.set_inputs`. Also the revenue
baseline around the outage (actual vs standard turnover) for the chart.
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from adjusters.adjust import AdjustmentResult, adjust
from adjusters.baseline import standard_turnover
from adjusters.facts import parse_time
from adjusters.financials import HOUR_US, Financials
from adjusters.heads import Head
from adjusters.policy import Policy, WaitingMode, WaitingPeriod
from forensics.storyline_model import Storyline

WHATIF_DRAWS = 2_000  # enough for a stable P10/P90 preview; the issued figures use the full count
BI = (Head.business_interruption, Head.dependent_business_interruption)


@dataclasses.dataclass(frozen=True)
class WhatIf:
    outage_end: datetime | None = None  # restoration time (UTC) of the outage that stops revenue
    waiting_hours: float | None = None  # BI waiting period, hours (mode as in the policy, else time deductible)
    gross_profit_rate: float | None = None  # 0..1


def revenue_outages(story: Storyline, fin: Financials) -> list[int]:
    """Indexes of the storyline outages the BI calculation uses (the revenue service's, else all)."""
    svc = fin.profile.revenue_service
    return [i for i, o in enumerate(story.outages) if not svc or o.service == svc]


def current(story: Storyline, policy: Policy, fin: Financials) -> WhatIf:
    """The inputs as the case has them (the what-if controls start here)."""
    idx = revenue_outages(story, fin)
    end = None
    if idx:
        last = max(idx, key=lambda i: story.outages[i].start)
        end = parse_time(story.outages[last].end)
    wp = None
    for h in BI:
        sec = policy.section(h)
        if sec is not None and sec.waiting_period is not None:
            wp = sec.waiting_period.hours
            break
    return WhatIf(end, wp, fin.profile.gross_profit_rate)


def apply(story: Storyline, policy: Policy, fin: Financials, w: WhatIf) -> tuple[Storyline, Policy, Financials]:
    """Modified copies of the three inputs."""
    if w.outage_end is not None:
        idx = revenue_outages(story, fin)
        if idx:
            last = max(idx, key=lambda i: story.outages[i].start)
            outs = list(story.outages)
            o = outs[last]
            end = w.outage_end.astimezone(timezone.utc)
            start = parse_time(o.start)
            dur = round((end - start).total_seconds() / 3600, 3) if start else None
            outs[last] = o.model_copy(update={"end": end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "duration_hours": dur})
            story = story.model_copy(update={"outages": outs})
    if w.waiting_hours is not None:
        if w.waiting_hours < 0:
            raise ValueError("the waiting period cannot be negative")
        secs = list(policy.sections)
        for i, s in enumerate(secs):
            if s.name in BI:
                mode = s.waiting_period.mode if s.waiting_period else WaitingMode.time_deductible
                secs[i] = s.model_copy(update={"waiting_period": WaitingPeriod(hours=w.waiting_hours, mode=mode)})
        policy = policy.model_copy(update={"sections": secs})
    if w.gross_profit_rate is not None:
        if not 0 <= w.gross_profit_rate <= 1:
            raise ValueError("the gross-profit rate is between 0 and 1")
        prof = fin.profile.model_copy(update={"gross_profit_rate": float(w.gross_profit_rate)})
        fin = dataclasses.replace(fin, profile=prof)
    return story, policy, fin


def adjust_whatif(story: Storyline, policy: Policy, fin: Financials, w: WhatIf,
                  n_draws: int = WHATIF_DRAWS) -> AdjustmentResult:
    s, p, f = apply(story, policy, fin, w)
    return adjust(s, p, f, n_draws=n_draws)


def baseline(story: Storyline, fin: Financials, days_before: int = 7, days_after: int = 3) -> pd.DataFrame:
    """Hourly actual revenue and standard turnover (mean of the same hour 1–4 weeks before) around the outage.

    Columns: time (UTC datetime), series ('actual' | 'standard'), revenue. Whole history if there is no outage.
    """
    ts, rev = fin.revenue_ts, fin.revenue
    if len(rev) == 0:
        return pd.DataFrame(columns=["time", "series", "revenue"])
    starts = [parse_time(story.outages[i].start) for i in revenue_outages(story, fin)]
    ends = [parse_time(story.outages[i].end) for i in revenue_outages(story, fin)]
    starts = [s for s in starts if s]
    if starts:
        a = int((int(min(starts).timestamp() * 1e6) - int(ts[0])) // HOUR_US) - days_before * 24
        last = max([e for e in ends if e] + starts)
        b = int((int(last.timestamp() * 1e6) - int(ts[0])) // HOUR_US) + days_after * 24
    else:
        a, b = len(rev) - 14 * 24, len(rev)
    idx = np.arange(max(a, 0), min(max(b, a + 1), len(rev)))
    std, _ = standard_turnover(rev, idx)
    t = pd.to_datetime(ts[idx], unit="us", utc=True)
    return pd.concat([
        pd.DataFrame({"time": t, "series": "actual", "revenue": rev[idx]}),
        pd.DataFrame({"time": t, "series": "standard", "revenue": std}),
    ], ignore_index=True)
