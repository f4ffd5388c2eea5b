"""The timeline's read model: a case's events with its recorded clock corrections
applied, aggregated and paged in DuckDB.

A chart of a million events is a few hundred bucket counts: the rows never
leave DuckDB. `Source` names what a case's timeline is read from (its Parquet
files and the per-evidence clock offsets); it is the key of the shared DuckDB
connection here and of the page caches in the UI, so new evidence, a new
ingest or a new correction is picked up at the next read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import duckdb
import pandas as pd

from case_store.eventstore import EventQuery, case_parquet_files

NICE_BUCKETS_S = (1, 5, 15, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
FACET_COLUMNS = ("host", "user", "src_ip", "dst_ip", "data_type", "severity")


@dataclass(frozen=True)
class Source:
    """What one case's timeline is read from."""

    files: tuple[str, ...]
    offsets: tuple[tuple[str, int], ...] = ()  # (evidence sha256, clock offset µs), non-zero only, sorted


def source(case_id: str) -> Source:
    from forensics.timecorrect import corrections  # the recorded corrections (custody-logged by the case store)

    return Source(tuple(case_parquet_files(case_id)),
                  tuple(sorted((c.evidence_sha256, c.offset_us) for c in corrections(case_id) if c.offset_us)))


@lru_cache(maxsize=8)
def _connection(src: Source) -> duckdb.DuckDBPyConnection:
    # One connection per process and source: Parquet metadata, the compacted copy and the
    # offsets table are set up once; each read then runs on its own cursor (thread-safe).
    from forensics.timecorrect import case_connection

    con = case_connection(None, list(src.files), dict(src.offsets))
    if src.offsets:  # its offsets table is TEMP (per connection): give cursors a copy in the shared catalog
        con.execute("CREATE TABLE main.time_offsets AS SELECT * FROM temp.time_offsets")
    return con


def _cursor(src: Source | str):
    return _connection(source(src) if isinstance(src, str) else src).cursor()


def time_range(src: Source | str, q: EventQuery | None = None) -> tuple[int | None, int | None]:
    con = _cursor(src)
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


def histogram(src: Source | str, q: EventQuery, target_buckets: int = 200,
              by: str | None = "severity") -> tuple[pd.DataFrame, int]:
    """Event counts per (corrected) time bucket and per `by` value: columns bucket_us, series, count; and the bucket width in s."""
    lo, hi = time_range(src, q)
    if lo is None:
        return pd.DataFrame(columns=["bucket_us", "series", "count"]), 0
    if q.start_us is not None:
        lo = max(lo, q.start_us)
    if q.end_us is not None:
        hi = min(hi, q.end_us)
    width = bucket_seconds(max(hi - lo, 1), target_buckets)
    step = width * 1_000_000
    series = f"coalesce(CAST(\"{by}\" AS VARCHAR), '—')" if by else "'events'"
    con = _cursor(src)
    try:
        where, params = q.where()
        df = con.execute(
            f"SELECT (timestamp // {step}) * {step} AS bucket_us, {series} AS series, count(*) AS count "
            f"FROM events{where} GROUP BY 1, 2 ORDER BY 1, 2", params).df()
    finally:
        con.close()
    return df, width


def page(src: Source | str, q: EventQuery) -> tuple[pd.DataFrame, int]:
    """One page of events in corrected time order and the total matching the filter.

    Besides `q.columns` each row carries `original_timestamp` (what the parser derived)
    and `clock_offset_us` (the correction applied; 0 where none is recorded)."""
    con = _cursor(src)
    try:
        where, params = q.where()
        extra = [c for c in ("timestamp", "original_timestamp", "clock_offset_us") if c not in q.columns]
        cols = ", ".join(f'"{c}"' for c in list(q.columns) + extra)
        total = con.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0]
        df = con.execute(f"SELECT {cols} FROM events{where} ORDER BY timestamp, event_id "
                         f"LIMIT {int(q.limit)} OFFSET {int(q.offset)}", params).df()
        return df, int(total)
    finally:
        con.close()


def unpaged(q: EventQuery) -> EventQuery:
    """The filter alone (what the chart depends on): page position and columns dropped."""
    return replace(q, limit=0, offset=0, columns=[])


def top_values(src: Source | str, column: str, n: int = 200) -> list[str]:
    """The `n` most frequent non-empty values of a facet column (for filter pick-lists)."""
    if column not in FACET_COLUMNS:
        raise ValueError(f"not a facet column: {column}")
    con = _cursor(src)
    try:
        rows = con.execute(f'SELECT "{column}" FROM events WHERE "{column}" IS NOT NULL AND "{column}" <> \'\' '
                           f'GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {int(n)}').fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def top_tags(src: Source | str, n: int = 200) -> list[str]:
    con = _cursor(src)
    try:
        rows = con.execute(f"SELECT t FROM (SELECT unnest(tags) AS t FROM events) GROUP BY 1 "
                           f"ORDER BY count(*) DESC, 1 LIMIT {int(n)}").fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()
