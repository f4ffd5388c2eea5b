"""Per-evidence time corrections, applied when the case's events are read.

Times are UTC inside. Two corrections exist, both recorded in custody by
`case_store.cases.set_time_correction`:

- a clock offset (seconds the evidence's clock was wrong by; added to every
  time from that item). It is applied here, at query time, so the stored
  events stay exactly what the parser derived; `original_timestamp` is kept
  beside the corrected `timestamp` in every row read through `case_connection`.
- a timezone for evidence that writes naive local times (syslog, IIS, …). The
  pipeline passes it to the ingestor as the `timezone` option, so it takes
  effect at the next `cyberclaim ingest` (the changed option is a new cache key,
  the old parse stays on disk). The original text stays in `message`.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pandas as pd

from case_store import CyberclaimError, cases, cores
from case_store.eventstore import case_parquet_files, connect
from case_store.home import home
from forensics.entities import install_macros


DUCKDB_THREADS = 2
DUCKDB_MEMORY = "2GB"  # per connection; DuckDB spills to CYBERCLAIM_HOME/tmp/duckdb beyond it


@dataclass(frozen=True)
class Correction:
    evidence_sha256: str
    offset_us: int
    timezone: str | None


def parse_offset(value: str) -> float:
    """Seconds, or a signed h:m:s / m:s form (`-1:30:00`)."""
    v = value.strip()
    m = re.fullmatch(r"([+-]?)(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?", v)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        if m.group(4) is None:  # m:s
            secs = int(m.group(2)) * 60 + int(m.group(3))
        else:
            secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        return sign * secs
    try:
        return float(v)
    except ValueError:
        raise CyberclaimError(f"--offset: {value!r} is not seconds or [-]h:mm:ss") from None


def check_zone(tz: str) -> str:
    if tz.upper() in ("UTC", "Z"):
        return "UTC"
    if re.fullmatch(r"[+-]\d{2}:\d{2}", tz):
        return tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise CyberclaimError(f"--tz: {tz!r} is not an IANA zone (e.g. Asia/Shanghai) or ±hh:mm offset") from None
    return tz


def set_correction(case_id: str, sha256_prefix: str, offset_s: float | None, tz: str | None) -> Correction:
    """Record a correction for one evidence item (custody-logged by the case store)."""
    items = [e for e in cases.list_evidence(case_id) if e.sha256.startswith(sha256_prefix.lower())]
    if not items:
        raise CyberclaimError(f"case {case_id} has no evidence whose sha256 starts with {sha256_prefix!r}")
    if len(items) > 1:
        raise CyberclaimError(f"{sha256_prefix!r} matches {len(items)} evidence items; give more of the sha256")
    ev = items[0]
    tz = check_zone(tz) if tz else ev.timezone
    offset = offset_s if offset_s is not None else ev.clock_offset_s
    cases.set_time_correction(case_id, ev.sha256, offset, tz)
    return Correction(ev.sha256, int(round((offset or 0) * 1_000_000)), tz)


def corrections(case_id: str) -> list[Correction]:
    return [Correction(e.sha256, int(round((e.clock_offset_s or 0) * 1_000_000)), e.timezone)
            for e in cases.list_evidence(case_id) if e.clock_offset_s or e.timezone]


def case_connection(case_id: str | None, files: list[str] | None = None,
                    offsets: dict[str, int] | None = None) -> duckdb.DuckDBPyConnection:
    """DuckDB connection whose `events` view has clock offsets applied.

    `events.timestamp` is corrected; `events.original_timestamp` is what the
    parser derived. Entity-resolution macros are installed. `offsets` (evidence
    sha256 -> microseconds) overrides the case's recorded corrections (tests,
    benchmarks without a case database).
    """
    if files is None:
        files = case_parquet_files(case_id) if case_id else []
    if offsets is None:
        offsets = {c.evidence_sha256: c.offset_us for c in corrections(case_id) if c.offset_us} if case_id else {}
    con = connect(files)
    # a bounded footprint on a shared 2-core machine: big aggregations spill instead of growing
    con.execute(f"SET threads TO {cores.duckdb_threads(DUCKDB_THREADS)}")  # 1 inside a batch task
    con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
    spill = home() / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET parquet_metadata_cache = true")  # event files are immutable; footers are read once
    con.execute("ALTER VIEW events RENAME TO events_raw")
    if offsets:
        con.register("_offsets_df", pd.DataFrame({"sha": list(offsets), "off": list(offsets.values())}))
        # a plain (not TEMP) table: cursors of a shared connection must see it
        con.execute("CREATE TABLE time_offsets AS SELECT sha, CAST(off AS BIGINT) AS off FROM _offsets_df")
        con.unregister("_offsets_df")
        con.execute("""
            CREATE VIEW events AS
            SELECT r.* REPLACE (
                       r.timestamp + coalesce(o.off, 0) AS timestamp,
                       CASE WHEN o.off IS NULL THEN r.datetime
                            ELSE strftime(make_timestamp(r.timestamp + o.off), '%Y-%m-%dT%H:%M:%S.%fZ') END AS datetime),
                   r.timestamp AS original_timestamp,
                   coalesce(o.off, 0) AS clock_offset_us
            FROM events_raw r LEFT JOIN time_offsets o ON o.sha = r.evidence_sha256""")
    else:
        con.execute("CREATE VIEW events AS SELECT *, timestamp AS original_timestamp, CAST(0 AS BIGINT) AS clock_offset_us FROM events_raw")
    install_macros(con)
    return con


@lru_cache(maxsize=8)
def _shared(files: tuple[str, ...], offsets: tuple[tuple[str, int], ...]) -> duckdb.DuckDBPyConnection:
    # Opened once per process, file set and corrections: the Parquet metadata, the
    # compacted copy's lookup and the views are set up once, not per page. Each
    # query runs on its own cursor (safe across the UI's threads). Evidence files
    # are immutable and a re-ingest is a new file set, so the key never goes stale.
    return case_connection(None, list(files), dict(offsets))


@lru_cache(maxsize=8)
def _host_spellings(files: tuple[str, ...], offsets: tuple[tuple[str, int], ...]) -> dict[str, list[str]]:
    """host entity id -> every spelling of it in the case (one DISTINCT scan per file set)."""
    from forensics.entities import host_id

    cur = _shared(files, offsets).cursor()
    try:
        out: dict[str, list[str]] = {}
        for (h,) in cur.execute("SELECT DISTINCT host FROM events WHERE host IS NOT NULL ORDER BY host").fetchall():
            out.setdefault(host_id(h), []).append(h)
        return out
    finally:
        cur.close()


PAGE_KEYS_MAX = 10_000  # above this, one plain query (exports) beats the two-step page


def _original_time_bounds(clauses: list[str], start_us: int | None, end_us: int | None,
                          offsets: dict[str, int]) -> list:
    """With clock offsets the corrected time is computed, so the Parquet scan cannot prune row
    groups on it; bound the stored (original) time too, which it can: original = corrected - offset."""
    if not offsets:
        return []
    offs = list(offsets.values()) + [0]  # evidence without a correction has offset 0
    params = []
    if start_us is not None:
        clauses.append("original_timestamp >= ?"); params.append(start_us - max(offs))
    if end_us is not None:
        clauses.append("original_timestamp <= ?"); params.append(end_us - min(offs))
    return params


def _page(con, cols: str, where: str, params: list, q, offsets: dict[str, int], span: tuple[int, int],
          total: int, ends_by: int | None = None) -> pd.DataFrame:
    """One page in (time, event id) order, in two steps.

    A top-N over every column decodes all columns of every matching row; the
    page needs them for 100. So find the page's keys on the two narrow sort
    columns first, then read the full rows in the keys' time span only (the
    compacted copy is time-sorted: a row group or two).
    """
    if q.limit > PAGE_KEYS_MAX:
        sql = f"FROM events{where} ORDER BY timestamp, event_id LIMIT {int(q.limit)} OFFSET {int(q.offset)}"
        return con.execute(f"SELECT {cols} {sql}", params).df()
    keys = _page_keys(con, where, params, q, offsets, span, total, ends_by) if total > q.offset else []
    if not keys:
        return con.execute(f"SELECT {cols} FROM events WHERE false").df()
    # the keys' own times as a semi-join too: DuckDB turns it into a filter on the sorted time column,
    # so only the row groups holding a key are read in full (the count check below still guards)
    rows = ["timestamp BETWEEN ? AND ?", "timestamp IN (SELECT unnest(?::BIGINT[]))", "list_contains(?, event_id)"]
    rows_params = [keys[0][0], keys[-1][0], [k[0] for k in keys], [k[1] for k in keys]] + _original_time_bounds(rows, keys[0][0], keys[-1][0], offsets)
    page = con.execute(f"SELECT {cols} FROM events WHERE {' AND '.join(rows)} ORDER BY timestamp, event_id", rows_params).df()
    if len(page) != len(keys):  # the same event id twice in the case: fall back to the plain query
        sql = f"FROM events{where} ORDER BY timestamp, event_id LIMIT {int(q.limit)} OFFSET {int(q.offset)}"
        page = con.execute(f"SELECT {cols} {sql}", params).df()
    return page


def _page_keys(con, where: str, params: list, q, offsets: dict[str, int], span: tuple[int, int],
               total: int, ends_by: int | None = None) -> list[tuple]:
    """(timestamp, event_id) of the page's rows, looked for in growing time windows from the start.

    If a window [lo, lo + w) already holds offset + limit matching rows, they are
    the first ones of the whole range (every other match is later), so a filter
    that matches often is answered from the first slice of the timeline
    instead of a scan of all of it. The first window is sized from the total
    (twice the share of the range the page needs, were matches spread evenly);
    windows then grow 8x, so the scans add up to at most ~1.15 of the last one.
    """
    need = int(q.offset) + int(q.limit)
    lo = q.start_us if q.start_us is not None else span[0]
    hi = q.end_us if q.end_us is not None else span[1]
    width = max(1, int((hi - lo + 1) * min(1.0, 2 * need / max(total, 1))))
    if ends_by is not None:  # known from the day counts: the page ends by then
        width = max(1, ends_by - lo + 1)
    while True:
        last = lo + width > hi
        clauses = [] if last else ["timestamp < ?"]
        extra = [] if last else [lo + width]
        extra += _original_time_bounds(clauses, None, None if last else lo + width, offsets)
        w = (where + (" AND " if where else " WHERE ") + " AND ".join(clauses)) if clauses else where
        keys = con.execute(f"SELECT timestamp, event_id FROM events{w} ORDER BY timestamp, event_id LIMIT {need}",
                           params + extra).fetchall()
        if len(keys) >= min(need, total) or last:  # the total is exact: a window holding all matches is enough
            return keys[int(q.offset):]
        width *= 8


DAY_US = 86_400_000_000
DAY_COUNTS_MAX = 1_000_000  # rows; a case this fragmented counts by scanning instead


def _day_counts(files: tuple[str, ...], offsets: tuple[tuple[str, int], ...]) -> bool:
    """Per (UTC day, host, data type, tags) event counts as the table `tl_day_counts`, built once per file set.

    A page's total over a wide window would otherwise scan every event in it.
    With this table, the whole days of the window are summed here and only the
    partial days at its two ends are counted from the events. False if the
    case is too fragmented for the table to be small. The table lives in the
    shared connection (rebuilt if that connection was evicted and reopened).
    """
    cur = _shared(files, offsets).cursor()
    try:
        have = {t for (t,) in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name IN ('tl_day_counts', 'tl_day_counts_too_big')").fetchall()}
        if have:
            return "tl_day_counts" in have
        # floor division also for times before 1970 (DuckDB's // truncates toward zero)
        cur.execute(f"""CREATE TABLE IF NOT EXISTS tl_day_counts AS
            SELECT timestamp // {DAY_US} - CASE WHEN timestamp % {DAY_US} < 0 THEN 1 ELSE 0 END AS day,
                   host, data_type, tags, count(*)::BIGINT AS n
            FROM events GROUP BY ALL""")
        if cur.execute("SELECT count(*) FROM tl_day_counts").fetchone()[0] > DAY_COUNTS_MAX:
            cur.execute("CREATE TABLE IF NOT EXISTS tl_day_counts_too_big AS SELECT 1 AS x")
            cur.execute("DROP TABLE IF EXISTS tl_day_counts")
            return False
        return True
    finally:
        cur.close()


def _count(con, q, key, extra: list[str], extra_params: list, offsets: dict[str, int],
           span: tuple[int, int]) -> tuple[int, int | None]:
    """Events matching the page filter: whole days from `tl_day_counts` when the filter only
    reads time, host, data type and tags, the partial days at the ends (or everything) exactly.

    Also the end of the first day by which offset + limit matches have been seen (None if
    unknown): where the page's rows can end, so the key search need not look further.
    """
    def scan(start: int | None, end: int | None) -> int:
        w, p = dataclasses.replace(q, start_us=start, end_us=end).where()
        clauses = ([w[len(" WHERE "):]] if w else []) + extra
        p = p + extra_params + _original_time_bounds(clauses, start, end, offsets)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return con.execute(f"SELECT count(*) FROM events{where}", p).fetchone()[0]

    lo = q.start_us if q.start_us is not None else span[0]
    hi = q.end_us if q.end_us is not None else span[1]
    first_day = -(-lo // DAY_US)           # first day starting at or after lo
    last_day = (hi + 1) // DAY_US - 1      # last day ending at or before hi
    cube_safe = not (q.user or q.ip or q.text or q.event_ids is not None)
    if not cube_safe or last_day < first_day or hi - lo < 2 * DAY_US or not _day_counts(*key):
        return scan(q.start_us, q.end_us), None
    w, p = dataclasses.replace(q, start_us=None, end_us=None).where()  # host / data type / tag clauses only
    clauses = ([w[len(" WHERE "):]] if w else []) + extra + ["day BETWEEN ? AND ?"]
    days = con.execute(f"SELECT day, sum(n) FROM tl_day_counts WHERE {' AND '.join(clauses)} GROUP BY day ORDER BY day",
                       p + extra_params + [first_day, last_day]).fetchall()
    head = scan(q.start_us, first_day * DAY_US - 1) if lo < first_day * DAY_US else 0
    tail = scan((last_day + 1) * DAY_US, q.end_us) if hi >= (last_day + 1) * DAY_US else 0
    need, seen, ends_by = int(q.offset) + int(q.limit), head, None
    for day, n in ([] if head >= need else days):
        seen += n
        if seen >= need:
            ends_by = (day + 1) * DAY_US - 1
            break
    if head >= need:
        ends_by = first_day * DAY_US - 1
    elif ends_by is None and not tail:  # fewer matches than the page asks: none after the last matching day
        ends_by = (days[-1][0] + 1) * DAY_US - 1 if days else first_day * DAY_US - 1
    return head + sum(int(n) for _, n in days) + tail, ends_by


@lru_cache(maxsize=8)
def _time_span(files: tuple[str, ...], offsets: tuple[tuple[str, int], ...]) -> tuple[int, int]:
    cur = _shared(files, offsets).cursor()
    try:
        lo, hi = cur.execute("SELECT min(timestamp), max(timestamp) FROM events").fetchone()
        return (lo or 0, hi or 0)
    finally:
        cur.close()


def query(case_id: str | None, q, files: list[str] | None = None, offsets: dict[str, int] | None = None,
          host_entity: str | None = None):
    """`case_store.eventstore.query` over corrected times: (page DataFrame with `original_timestamp`, total).

    `host_entity` filters on the resolved host: `ws01` matches `WS01`, `ws01.corp.local` and `WS01$`.
    """
    from forensics.entities import host_id

    if files is None:
        files = case_parquet_files(case_id) if case_id else []
    if offsets is None:
        offsets = {c.evidence_sha256: c.offset_us for c in corrections(case_id) if c.offset_us} if case_id else {}
    key = (tuple(sorted(files)), tuple(sorted(offsets.items())))
    where, params = q.where()
    clauses = [where[len(" WHERE "):]] if where else []
    params += _original_time_bounds(clauses, q.start_us, q.end_us, offsets)
    extra, extra_params = [], []  # filters EventQuery does not spell
    if host_entity:
        extra.append("list_contains(?, host)")
        extra_params.append(_host_spellings(*key).get(host_id(host_entity), []))
    clauses += extra
    params += extra_params
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    cols = ", ".join(f'"{c}"' for c in list(q.columns) + ["original_timestamp"])
    con = _shared(*key).cursor()
    try:
        total, ends_by = _count(con, q, key, extra, extra_params, offsets, _time_span(*key))
        page = _page(con, cols, where, params, q, offsets, _time_span(*key), total, ends_by)
        return page, int(total)
    finally:
        con.close()
