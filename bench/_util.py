"""Shared bits for benchmarks: peak RSS of this process and its children, timing."""
from __future__ import annotations

import resource
import time
from contextlib import contextmanager


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


@contextmanager
def timed(result: dict, key: str):
    t = time.perf_counter()
    yield
    result[key] = time.perf_counter() - t
