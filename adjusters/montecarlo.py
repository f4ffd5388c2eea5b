"""Seeded, vectorised Monte Carlo over the inputs known only as a range.

Each uncertain input is drawn from a triangular distribution with its mode
at the point estimate (clipped into the range): adjusters state ranges as
"most likely X, between A and B", which is what a triangular encodes.
"""
from __future__ import annotations

import numpy as np

from adjusters.losses import Draws

SEED = 20240601
N_DRAWS = 100_000


def point_draws(fin) -> Draws:
    p = fin.profile
    return Draws(np.array([p.gross_profit_rate]), np.array([p.net_profit_rate]), np.zeros(1, np.int64), np.ones(1))


def _tri(rng: np.random.Generator, lo: float, mode: float, hi: float, n: int) -> np.ndarray:
    if hi <= lo:
        return np.full(n, float(lo))
    return rng.triangular(lo, min(max(mode, lo), hi), hi, n)


def mc_draws(fin, n: int = N_DRAWS, seed: int = SEED, default_shift: tuple[float, float] | None = None) -> Draws | None:
    """None when nothing is uncertain (then P10 = P50 = P90 = the point figure)."""
    p = fin.profile
    r = p.ranges
    shift = (r.outage_end_shift_hours if r and r.outage_end_shift_hours else None) or default_shift
    if not ((r and (r.gross_profit_rate or r.net_profit_rate or r.records_factor)) or shift):
        return None
    rng = np.random.default_rng(seed)
    # the draw order is fixed so one input's range never changes another input's draws
    gpr = _tri(rng, r.gross_profit_rate[0], p.gross_profit_rate, r.gross_profit_rate[1], n) \
        if r and r.gross_profit_rate else np.full(n, p.gross_profit_rate)
    npr = _tri(rng, r.net_profit_rate[0], p.net_profit_rate, r.net_profit_rate[1], n) \
        if r and r.net_profit_rate else np.full(n, p.net_profit_rate)
    sh = np.rint(_tri(rng, shift[0], 0.0, shift[1], n)).astype(np.int64) if shift else np.zeros(n, np.int64)
    rf = _tri(rng, r.records_factor[0], 1.0, r.records_factor[1], n) if r and r.records_factor else np.ones(n)
    return Draws(gpr, npr, sh, rf)
