"""Aggregates over a case's events for the timeline view, computed in DuckDB.

A chart of a million events is a few hundred bucket counts: the rows never
leave DuckDB. Uses the event store's shared per-file-set connection.
"""
from __future__ import annotations

import pandas as pd

from case_store.eventstore import EventQuery, _shared_connection, case_parquet_files

NICE_BUCKETS_S = (1, 5, 15, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
FACET_COLUMNS = ("host", "user", "src_ip", "dst_ip", "data_type", "severity")


def _cursor(case_id: str, files: list[str] | None):
    return _shared_connection(tuple(case_parquet_files(case_id) if files is None else files)).cursor()


def time_range(case_id: str, q: EventQuery | None = None, files: list[str] | None = None) -> tuple[int | None, int | None]:
    con = _cursor(case_id, files)
    try:
        where, params = (q or EventQuery()).where()
        lo, hi = con.execute(f"SELECT min(timestamp), max(timestamp) FROM events{where}", params).fetchone()
        return (None if lo is None else int(lo)), (None if hi is None else int(hi))
    finally:
        con.close()


def bucket_seconds(span_us: int, target: int = 200) -> int:
    """A round bucket width giving at most about `target` buckets over the span."""
    for b in NICE_BUCKETS_S:
        if span_us / (b * 1_000_000) <= target:
            return b
    return NICE_BUCKETS_S[-1]


def histogram(case_id: str, q: EventQuery, target_buckets: int = 200, files: list[str] | None = None,
              by: str | None = "severity") -> tuple[pd.DataFrame, int]:
    """Event counts per time bucket (and per `by` value): columns bucket_us, series, count; and the bucket width in s."""
    lo, hi = time_range(case_id, q, files)
    if lo is None:
        return pd.DataFrame(columns=["bucket_us", "series", "count"]), 0
    if q.start_us is not None:
        lo = max(lo, q.start_us)
    if q.end_us is not None:
        hi = min(hi, q.end_us)
    width = bucket_seconds(max(hi - lo, 1), target_buckets)
    step = width * 1_000_000
    series = f"coalesce(CAST(\"{by}\" AS VARCHAR), '—')" if by else "'events'"
    con = _cursor(case_id, files)
    try:
        where, params = q.where()
        df = con.execute(
            f"SELECT (timestamp // {step}) * {step} AS bucket_us, {series} AS series, count(*) AS count "
            f"FROM events{where} GROUP BY 1, 2 ORDER BY 1, 2", params).df()
    finally:
        con.close()
    return df, width


def top_values(case_id: str, column: str, n: int = 200, files: list[str] | None = None) -> list[str]:
    """The `n` most frequent non-empty values of a facet column (for filter pick-lists)."""
    if column not in FACET_COLUMNS:
        raise ValueError(f"not a facet column: {column}")
    con = _cursor(case_id, files)
    try:
        rows = con.execute(f'SELECT "{column}" FROM events WHERE "{column}" IS NOT NULL AND "{column}" <> \'\' '
                           f'GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {int(n)}').fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def top_tags(case_id: str, n: int = 200, files: list[str] | None = None) -> list[str]:
    con = _cursor(case_id, files)
    try:
        rows = con.execute(f"SELECT t FROM (SELECT unnest(tags) AS t FROM events) GROUP BY 1 "
                           f"ORDER BY count(*) DESC, 1 LIMIT {int(n)}").fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()
