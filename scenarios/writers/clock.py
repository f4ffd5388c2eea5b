"""Scenario time: int microseconds UTC everywhere, ISO 8601 'Z' strings in truth.json.

No wall clock: every instant is derived from a scenario's fixed start time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

US = 1_000_000
MINUTE = 60 * US
HOUR = 3600 * US
DAY = 24 * HOUR


def at(text: str) -> int:
    """'2026-03-02T01:12:00Z' -> int microseconds UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * US + delta.microseconds


def dt(ts_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=ts_us)


def iso(ts_us: int) -> str:
    """ISO 8601 UTC; seconds precision unless the instant has a fraction."""
    d = dt(ts_us)
    spec = "seconds" if d.microsecond == 0 else "microseconds"
    return d.isoformat(timespec=spec).replace("+00:00", "Z")
