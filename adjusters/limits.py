"""Policy terms on the adjusted amounts: retention (once per retention group),
coinsurance, sublimit, limit, then the aggregate, in the policy's order.

Works on a (draws × sections) matrix so the Monte Carlo applies the very same
terms to every draw; the point estimate is the 1-row case.
"""
from __future__ import annotations

import numpy as np

from adjusters.policy import Policy, Step


def retention_groups(policy: Policy) -> list[tuple[float, list[int]]]:
    """(retention amount, section indexes in policy order) — a group's retention is stated identically by its members."""
    groups: dict[str, tuple[float, list[int]]] = {}
    for i, s in enumerate(policy.sections):
        amt = s.retention.amount if (s.retention and s.retention.amount is not None) else None
        key = s.retention_group or f"__section_{i}"
        if key not in groups:
            groups[key] = (amt or 0.0, [i])
        else:
            a, members = groups[key]
            groups[key] = (max(a, amt or 0.0), members + [i])
    return list(groups.values())


def apply_terms(policy: Policy, amounts: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """amounts: (k, n_sections) adjusted loss per section; covered: (n_sections,) bool → payable (k, n_sections)."""
    x = np.where(covered[None, :], np.asarray(amounts, dtype=float), 0.0)
    secs = policy.sections
    for step in policy.application_order:
        if step == Step.retention:
            for amount, members in retention_groups(policy):
                remaining = np.full(x.shape[0], amount)
                for i in members:  # eroded in policy section order, once for the whole group
                    ded = np.minimum(x[:, i], remaining)
                    x[:, i] -= ded
                    remaining -= ded
        elif step == Step.coinsurance:
            x *= 1.0 - np.array([s.coinsurance for s in secs])[None, :]
        elif step == Step.sublimit:
            x = np.minimum(x, np.array([s.sublimit if s.sublimit is not None else np.inf for s in secs])[None, :])
        elif step == Step.limit:
            x = np.minimum(x, np.array([s.limit for s in secs])[None, :])
        elif step == Step.aggregate:
            before = np.cumsum(x, axis=1) - x  # paid to earlier sections
            x = np.minimum(x, np.clip(policy.aggregate_limit - before, 0.0, None))
    return x
