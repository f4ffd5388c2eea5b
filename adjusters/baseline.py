"""Hourly baselines of what the insured would have earned.

`standard_turnover` is the figure the loss rests on (the contract's "adjusted
standard turnover": mean of the same hour in each of the 4 weeks before).
`seasonal_trend_projection` (weekday × hour-of-day seasonality + linear trend,
least squares) is a cross-check reported beside it: when the two disagree
much, the history is unusual and the adjuster should look.
"""
from __future__ import annotations

import numpy as np

WEEK_H = 168


def standard_turnover(rev: np.ndarray, idx: np.ndarray, weeks: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Mean of rev[idx − 168·k], k = 1..weeks, over the weeks that exist; returns (standard, weeks used)."""
    lag = idx[:, None] - WEEK_H * np.arange(1, weeks + 1)[None, :]
    valid = (lag >= 0) & (lag < len(rev))
    vals = np.where(valid, rev[np.clip(lag, 0, max(len(rev) - 1, 0))], 0.0)
    used = valid.sum(axis=1)
    std = np.where(used > 0, vals.sum(axis=1) / np.maximum(used, 1), np.nan)
    return std, used


def seasonal_trend_projection(rev: np.ndarray, fit_end: int, at: np.ndarray, weeks: int = 26) -> np.ndarray:
    """Project rev at hour indexes `at` from the `weeks` weeks before `fit_end` (exclusive).

    Hour index modulo 168 is the weekday×hour slot (the series starts on a fixed
    instant, so slots are consistent); a linear trend in time rides on top.
    """
    fit_end = min(max(fit_end, 0), len(rev))  # an outage past the end of the history fits on all of it
    lo = max(0, fit_end - weeks * WEEK_H)
    t = np.arange(lo, fit_end)
    if len(t) < 2 * WEEK_H:
        return np.full(len(at), np.nan)
    # least squares of y = alpha[slot] + beta·x in closed form (within-slot regression):
    # beta from the slot-demeaned series, alpha = slot mean − beta·slot mean of x; O(n), no matrix
    slot, x, y = t % WEEK_H, (t - fit_end) / WEEK_H, rev[t]
    cnt = np.bincount(slot, minlength=WEEK_H)
    xm = np.bincount(slot, x, WEEK_H) / np.maximum(cnt, 1)
    ym = np.bincount(slot, y, WEEK_H) / np.maximum(cnt, 1)
    dx = x - xm[slot]
    denom = float(dx @ dx)
    beta = float(dx @ (y - ym[slot])) / denom if denom > 0 else 0.0
    alpha = ym - beta * xm
    return alpha[at % WEEK_H] + beta * (at - fit_end) / WEEK_H
