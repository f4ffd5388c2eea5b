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
import numpy as np
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

    return case_connection(None, list(src.files), dict(src.offsets))


def _where(src: Source, q: EventQuery) -> tuple[str, list]:
    """The filter's WHERE clause; with clock offsets, a time window also bounds the stored (original)
    time, which the Parquet scan can prune on (the corrected time is computed)."""
    where, params = q.where()
    if not src.offsets or (q.start_us is None and q.end_us is None):
        return where, params
    offs = [o for _, o in src.offsets]
    clauses = [where[len(" WHERE "):]] if where else []
    if q.start_us is not None:
        clauses.append("original_timestamp >= ?"); params.append(q.start_us - max(0, max(offs)))
    if q.end_us is not None:
        clauses.append("original_timestamp <= ?"); params.append(q.end_us - min(0, min(offs)))
    return " WHERE " + " AND ".join(clauses), params


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


@lru_cache(maxsize=32)
def _case_span(src: Source) -> tuple[int | None, int | None]:
    return time_range(src)


def bucket_seconds(span_us: int, target: int = 200, multiple_of_us: int = 1) -> int:
    """A round bucket width giving at most about `target` buckets over the span (a multiple of `multiple_of_us`)."""
    fits = [b for b in NICE_BUCKETS_S if (b * 1_000_000) % multiple_of_us == 0] or [NICE_BUCKETS_S[-1]]
    for b in fits:
        if span_us / (b * 1_000_000) <= target:
            return b
    return fits[-1]


FINE_BUCKETS = 4_000  # per filter, one scan counts events at this resolution; chart and paging both read it


@dataclass(frozen=True)
class Counts:
    """Matching events per fine time bucket and series, from one scan of the filter.

    The chart re-buckets it; paging uses its running total as an index: the rows at
    offset k lie in a known time window, so a page reads only the row groups there."""

    fine_us: int
    frame: pd.DataFrame  # bucket_us, series, count — sorted by bucket_us, series

    @property
    def total(self) -> int:
        return int(self.frame["count"].sum()) if len(self.frame) else 0


def counts(src: Source | str, q: EventQuery, by: str | None = "severity") -> Counts:
    src = source(src) if isinstance(src, str) else src
    lo, hi = _case_span(src)
    if lo is None:
        return Counts(1, pd.DataFrame({"bucket_us": pd.Series(dtype="int64"), "series": pd.Series(dtype="object"),
                                       "count": pd.Series(dtype="int64")}))
    lo = lo if q.start_us is None else max(lo, q.start_us)
    hi = hi if q.end_us is None else min(hi, q.end_us)
    fine = bucket_seconds(max(hi - lo, 1), FINE_BUCKETS) * 1_000_000
    c = _count_scan(src, q, fine, by)
    if len(c.frame):
        # matches spread over much less than the case (a narrow filter, or a few outlying times in the
        # case): count again at the resolution their own span allows, within that span only
        first, last = int(c.frame["bucket_us"].iloc[0]), int(c.frame["bucket_us"].iloc[-1]) + fine
        finer = bucket_seconds(last - first, FINE_BUCKETS) * 1_000_000
        if finer < fine:
            inside = replace(q, start_us=first if q.start_us is None else max(first, q.start_us),
                             end_us=last - 1 if q.end_us is None else min(last - 1, q.end_us))
            c = _count_scan(src, inside, finer, by)
    return c


def _count_scan(src: Source, q: EventQuery, fine: int, by: str | None) -> Counts:
    series = f"coalesce(CAST(\"{by}\" AS VARCHAR), '—')" if by else "'events'"
    con = _cursor(src)
    try:
        where, params = _where(src, q)
        df = con.execute(f"SELECT (timestamp // {fine}) * {fine} AS bucket_us, {series} AS series, count(*) AS count "
                         f"FROM events{where} GROUP BY 1, 2 ORDER BY 1, 2", params).df()
    finally:
        con.close()
    return Counts(fine, df)


def chart_buckets(c: Counts, target_buckets: int = 200) -> tuple[pd.DataFrame, int]:
    """Counts re-bucketed for a chart of about `target_buckets` bars: (bucket_us, series, count), bucket width in s."""
    f = c.frame
    if not len(f):
        return f.copy(), 0
    span = int(f["bucket_us"].iloc[-1]) + c.fine_us - int(f["bucket_us"].iloc[0])
    width = bucket_seconds(span, target_buckets, multiple_of_us=c.fine_us)
    step = width * 1_000_000
    out = (f.assign(bucket_us=(f["bucket_us"] // step) * step)
           .groupby(["bucket_us", "series"], as_index=False, sort=True)["count"].sum())
    return out, width


def histogram(src: Source | str, q: EventQuery, target_buckets: int = 200,
              by: str | None = "severity") -> tuple[pd.DataFrame, int]:
    """Event counts per (corrected) time bucket and per `by` value: columns bucket_us, series, count; and the bucket width in s."""
    return chart_buckets(counts(src, q, by), target_buckets)


def page(src: Source | str, q: EventQuery, index: Counts | None = None) -> tuple[pd.DataFrame, int]:
    """One page of events (`q.limit` rows from `q.offset`) in corrected time order, and the total matching the filter.

    Besides `q.columns` each row carries `timestamp`, `original_timestamp` (what the parser
    derived) and `clock_offset_us` (the correction applied; 0 where none is recorded).
    With `index` (the filter's `counts`) the page is read in two narrow steps: the keys of
    the page inside the time window the index places it in, then those rows' columns."""
    src = source(src) if isinstance(src, str) else src
    extra = [c for c in ("timestamp", "original_timestamp", "clock_offset_us", "event_id") if c not in q.columns]
    cols = ", ".join(f'"{c}"' for c in list(q.columns) + extra)
    where, params = _where(src, q)
    con = _cursor(src)
    try:
        if index is None:
            total = int(con.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0])
            df = con.execute(f"SELECT {cols} FROM events{where} ORDER BY timestamp, event_id "
                             f"LIMIT {int(q.limit)} OFFSET {int(q.offset)}", params).df()
            return (df if "event_id" in q.columns else df.drop(columns=["event_id"])), total
        total = index.total
        lo_us, hi_us, skip = _window(index, int(q.offset), int(q.limit))
        if lo_us is None:
            keys = []
        else:
            w = (where + " AND " if where else " WHERE ") + "timestamp >= ? AND timestamp < ?"
            keys = con.execute(f"SELECT timestamp, event_id FROM events{w} ORDER BY timestamp, event_id "
                               f"LIMIT {int(q.limit)} OFFSET {skip}", params + [lo_us, hi_us]).fetchall()
        if not keys:
            df = con.execute(f"SELECT {cols} FROM events WHERE false").df()
        else:
            df = con.execute(f"SELECT {cols} FROM events WHERE timestamp >= ? AND timestamp <= ? "
                             f"AND list_contains(?, event_id) ORDER BY timestamp, event_id LIMIT {len(keys)}",
                             [keys[0][0], keys[-1][0], [k[1] for k in keys]]).df()
        if "event_id" not in q.columns:
            df = df.drop(columns=["event_id"])
        return df, total
    finally:
        con.close()


def _window(index: Counts, offset: int, limit: int) -> tuple[int | None, int | None, int]:
    """The time window [lo, hi) holding matching rows offset..offset+limit-1, and how many matching rows precede lo."""
    per = index.frame.groupby("bucket_us", sort=True)["count"].sum()
    if not len(per) or offset >= int(per.sum()):
        return None, None, 0
    cum = per.cumsum().to_numpy()
    starts = per.index.to_numpy()
    first = int(np.searchsorted(cum, offset, side="right"))  # bucket holding row `offset`
    last = int(np.searchsorted(cum, min(offset + limit, int(cum[-1])) - 1, side="right"))
    before = int(cum[first - 1]) if first else 0
    return int(starts[first]), int(starts[last]) + index.fine_us, offset - before


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
