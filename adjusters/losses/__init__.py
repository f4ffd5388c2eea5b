"""Heads of loss (定损): one small calculator per head.

Every calculator is a pure function (storyline, policy, financials, draws) →
HeadLoss. `draws` holds the uncertain inputs as arrays: length 1 for the
point estimate, N for the Monte Carlo — the same code computes both, so the
range and the point figure cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adjusters.heads import Head


@dataclass
class Draws:
    gross_profit_rate: np.ndarray
    net_profit_rate: np.ndarray
    outage_end_shift_hours: np.ndarray  # int64
    records_factor: np.ndarray

    @property
    def k(self) -> int:
        return len(self.gross_profit_rate)


@dataclass
class HeadLoss:
    head: Head
    adjusted: np.ndarray  # shape (k,)
    formula: str
    inputs: dict = field(default_factory=dict)
    cited_event_ids: list[str] = field(default_factory=list)
    cited_documents: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def const(x: float, d: Draws) -> np.ndarray:
    return np.full(d.k, float(x))


def doc(fin, name: str) -> str:
    """A financial file as cited: name and the first 12 hex of its SHA-256."""
    sha = fin.documents.get(name, "")
    return f"{name}@sha256:{sha[:12]}" if sha else name
