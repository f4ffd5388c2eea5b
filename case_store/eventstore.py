"""Event store: Parquet per (evidence sha256, ingestor@version[, config]), queried with DuckDB.

Files are immutable: written to a temporary name and renamed when complete, so
a killed ingest never leaves a half file that a query would read. A case's
events are the union of the files of its evidence items' recorded ingests.
"""
from __future__ import annotations

import hashlib
import operator
import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from functools import lru_cache
from typing import Iterable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from case_store import cores
from case_store.home import events_dir
from case_store.isotime import iso_column
from forensics.events import EVENT_COLUMNS, EVENT_SCHEMA, PLAIN_FIELDS, Event, canonical_json

BATCH_ROWS = 50_000
# Dictionary pages and min/max statistics pay only on columns with few distinct values or that queries
# filter on; on per-row-unique text (ids, messages, locators, attributes) they cost a third of the write
# and make the file bigger, so those columns are written plain and without statistics. Source addresses
# too are plain: a web or sshd log has tens of thousands per row group (45,070 in 200,000 bench lines:
# 0.17 µs/row and 1.57 MB with a dictionary, 0.11 µs/row and 1.25 MB plain), and where there are few,
# zstd shrinks the plain pages as well.
_DICTIONARY = ["timestamp_desc", "data_type", "parser", "evidence_sha256", "host", "user", "process_name",
               "dst_ip", "proto", "dst_port", "domain", "gbt_category", "severity", "tags", "attack"]
_STATISTICS = ["timestamp", "datetime", "data_type", "parser", "evidence_sha256", "host", "user", "src_ip", "dst_ip",
               "severity"]
# Values reach each column's encoder WRITE_BATCH_ROWS at a time (pyarrow's default 1,024): every batch
# repeats the column writer's level, statistics and page-size bookkeeping, ~5-9 % of a large file's
# write (a 2,261-row EVTX file 1.73 -> 1.57 µs/row, 52,890 rows 0.97 -> 0.89) and the same or fewer
# bytes. A page is cut at the first batch that takes it past 1 MB, so a page of long text can reach ~3 MB.
WRITE_BATCH_ROWS = 4096
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": _DICTIONARY, "write_statistics": _STATISTICS,
                   "write_batch_size": WRITE_BATCH_ROWS}
# A file of a few hundred rows is mostly fixed cost: a zstd context per column chunk alone is ~0.5 ms,
# more than a small EVTX file's whole parse, and saves a few KB. Whether a file is small is known from
# its rows (the writer holds the first SMALL_FILE_ROWS before choosing), so the bytes stay deterministic.
SMALL_FILE_ROWS = 1024
ROW_GROUP_MIN_ROWS = 8192  # smaller tables in a row share a row group (_RowGroups)
# A small file keeps min/max statistics on its time only: they let a time filter skip the file, and
# writing the others' cost ~50 µs a file (~10 % of a 3-row file's write); a filter on host, user, address,
# type or severity reads the file's one row group of < SMALL_FILE_ROWS uncompressed rows instead.
SMALL_FILE_STATISTICS = ["timestamp", "datetime"]
SMALL_FILE_OPTIONS = {"compression": "none", "use_dictionary": False, "write_statistics": SMALL_FILE_STATISTICS}
_PLAIN_GETTER = operator.attrgetter(*PLAIN_FIELDS)
# Directories of event files this process made or found: each makes its mkdir(parents=True) once, not
# per file (two syscalls on a directory that exists). One removed since is made again when the file is
# created in it (EventWriter._created).
_KNOWN_DIRS: set[str] = set()


def parquet_path(evidence_sha256: str, parser_id: str, config_hash: str = "") -> Path:
    suffix = f"+{config_hash[:12]}" if config_hash else ""
    return events_dir() / evidence_sha256[:2] / evidence_sha256 / f"{parser_id}{suffix}.parquet"


class EventWriter:
    """Streams events into one Parquet file in row groups; memory stays at one batch.

    Rows are buffered column by column and the derived columns (ISO datetime)
    are computed per batch with numpy, which is what makes the write path fast.

    threaded=True: once the file is known not to be small, the row groups of `add_batch` are
    built (ISO datetime) and written by one writer thread, in the order they came: pyarrow
    encodes and compresses with the GIL released, so a caller with work of its own (a text
    log's merge and detections) overlaps it. Same bytes; an error of the thread is raised by
    the next add_batch or by commit.
    """

    def __init__(self, dest: Path, threaded: bool = False):
        self.dest = dest
        self.threaded = threaded
        self._queue: queue.Queue | None = None  # the writer thread's tables (None: no thread)
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        if str(dest.parent) not in _KNOWN_DIRS:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _KNOWN_DIRS.add(str(dest.parent))
        self.tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        self._writer: pq.ParquetWriter | None = None  # opened once the file is known not to be small
        self._held: list[pa.Table] = []
        self._held_rows = 0
        self._reset()
        self.count = 0

    def _reset(self) -> None:
        self._events: list[Event] = []
        self._rows: list[dict] = []

    def add(self, ev: Event) -> None:
        self._events.append(ev)
        if len(self._events) >= BATCH_ROWS:
            self._flush()

    def add_rows(self, rows: Iterable[dict]) -> None:
        """Rows already in the schema's shape (e.g. from another store)."""
        for r in rows:
            self._rows.append(r)
            if len(self._rows) >= BATCH_ROWS:
                self._flush()

    def add_batch(self, batch: "EventBatch") -> None:
        """Events already in columns (forensics.events.EventBatch), stored after what came before.

        `event_id` and `datetime` are derived here, the same bytes `Event.event_id` and
        `_write` give one by one, so a batch stores exactly what its events would.
        """
        self._flush()  # keep arrival order: pending single events go first
        t = batch.table
        if t.num_rows == 0:
            return
        if t.schema.get_field_index("event_id") >= 0:  # computed by the ingestor with make_event_id (see EventBatch)
            if self._queue is not None:
                self._raise_thread_error()
                self.count += t.num_rows
                self._queue.put((t, True))
                return
            self._write_table(t)
            return
        con = _batch_connection()
        con.register("b", t)
        # make_event_id: sha256("sha|locator|parser|discriminator or data_type")[:32]
        ids = con.sql(
            "SELECT substr(sha256(coalesce(evidence_sha256, 'None') || '|' || coalesce(locator, 'None') || '|' "
            "|| coalesce(parser, 'None') || '|' || coalesce(nullif(discriminator, ''), data_type, 'None')), 1, 32) FROM b"
        ).to_arrow_table().column(0)
        con.unregister("b")
        cols = {f.name: t[f.name] for f in EVENT_SCHEMA if f.name not in ("event_id", "datetime")}
        cols["event_id"] = ids
        self._write(cols)

    def _flush(self) -> None:
        if self._events:
            self._write(self._columns(self._events))
        if self._rows:
            self._write({name: [r.get(name) for r in self._rows] for name in EVENT_COLUMNS if name != "datetime"})
        self._reset()

    @staticmethod
    def _columns(evs: list[Event]) -> dict[str, list]:
        # attrgetter + zip transpose the batch in C; only the derived columns loop in Python
        cols = dict(zip(PLAIN_FIELDS, map(list, zip(*map(_PLAIN_GETTER, evs)))))
        cols["event_id"] = [e.event_id for e in evs]
        cols["tags"] = [sorted(set(e.tags)) if e.tags else [] for e in evs]
        cols["attack"] = [sorted(set(e.attack)) if e.attack else [] for e in evs]
        cols["attributes"] = [canonical_json(e.attributes) if e.attributes else "{}" for e in evs]
        return cols

    def _write(self, cols: dict[str, list]) -> None:
        ts = np.asarray(cols["timestamp"], dtype=np.int64)
        iso = iso_column(ts)
        arrays = [iso if f.name == "datetime" else _as_array(cols[f.name], f.type)
                  for f in EVENT_SCHEMA]
        self._emit(pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA))
        self.count += len(ts)

    def _write_table(self, t: pa.Table) -> None:
        self._emit(_batch_table(t))
        self.count += t.num_rows

    def _emit(self, table: pa.Table) -> None:
        """One row group, as before; the first ones are held until the file has SMALL_FILE_ROWS rows."""
        if self._writer is None:
            self._held.append(table)
            self._held_rows += table.num_rows
            if self._held_rows >= SMALL_FILE_ROWS:
                self._open()
                if self.threaded:
                    self._start_thread()
            return
        if self._queue is not None:
            self._raise_thread_error()
            self._queue.put((table, False))
            return
        self._groups.add(table)

    def _open(self) -> None:
        """The large-file writer (small files never open one: _write_small), held row groups first."""
        self._writer = self._created(lambda: pq.ParquetWriter(self.tmp, EVENT_SCHEMA, **PARQUET_OPTIONS))
        self._groups = _RowGroups(self._writer)
        for t in self._held:
            self._groups.add(t)
        self._held, self._held_rows = [], 0

    def _start_thread(self) -> None:
        # two tables queued at most: memory stays at a few batches when the writer is the slower side
        self._queue = queue.Queue(maxsize=2)
        self._thread = threading.Thread(target=self._write_loop, name="eventstore-writer", daemon=True)
        self._thread.start()

    def _write_loop(self) -> None:
        """The writer thread: tables in arrival order (an EventBatch's table still needs its datetime);
        after an error it only drains the queue, so the caller never blocks on it."""
        q, groups = self._queue, self._groups
        while True:
            item = q.get()
            try:
                if item is None:
                    if self._thread_error is None:
                        groups.drain()
                    return
                if self._thread_error is not None:
                    continue
                t, batch = item
                groups.add(_batch_table(t) if batch else t)
            except BaseException as e:  # surfaced in the caller's thread
                self._thread_error = e

    def _stop_thread(self) -> None:
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = self._thread = None

    def _raise_thread_error(self) -> None:
        if self._thread_error is not None:
            e, self._thread_error = self._thread_error, None
            raise e

    def _write_small(self) -> None:
        """A small file is one row group, encoded in memory and written with one call: each row
        group costs every column's writer set-up again, and Arrow's file sink costs more than
        the encoding of a few hundred rows."""
        sink = pa.BufferOutputStream()
        w = pq.ParquetWriter(sink, EVENT_SCHEMA, **SMALL_FILE_OPTIONS)
        if self._held:
            w.write_table(self._held[0] if len(self._held) == 1 else pa.concat_tables(self._held))
        w.close()
        self._held, self._held_rows = [], 0
        with self._created(lambda: open(self.tmp, "wb")) as f:
            f.write(sink.getvalue())

    def _created(self, create):
        """create(), the temporary file's creation; when its directory is gone (removed since this
        process made or saw it: _KNOWN_DIRS), made again first."""
        try:
            return create()
        except FileNotFoundError:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            return create()

    def commit(self, durable: bool = True) -> Path:
        """Completes the file under its final name. durable=False leaves the flush to disk to the
        caller, who must call make_durable() before recording the file anywhere (see there)."""
        self._flush()
        if self._writer is None:
            self._write_small()
        else:
            if self._queue is not None:
                self._stop_thread()  # the thread writes what its row groups hold before it ends
            else:
                self._groups.drain()
            self._raise_thread_error()
            self._writer.close()
        if durable:
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(self.tmp, self.dest)
        return self.dest

    def abort(self) -> None:
        try:
            self._stop_thread()
            self._thread_error = None
            if self._writer is not None:
                self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class _RowGroups:
    """Row groups of at least ROW_GROUP_MIN_ROWS rows (but the last): smaller tables in a row are
    written together. A text log whose bulk lines alternate with lines the line parser takes hands
    the store a one-row table per alternation; written one row group each, thousands of them cost
    ~0.7 ms apiece and the writer kept every one's metadata in memory (a GB for a few MB of log).
    Whichever thread writes the file owns it; tables of that size or more pass straight through."""

    def __init__(self, writer: pq.ParquetWriter):
        self._writer = writer
        self._pending: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> None:
        if not self._pending and table.num_rows >= ROW_GROUP_MIN_ROWS:
            self._writer.write_table(table)
            return
        self._pending.append(table)
        self._rows += table.num_rows
        if self._rows >= ROW_GROUP_MIN_ROWS:
            self.drain()

    def drain(self) -> None:
        if self._pending:
            t = self._pending[0] if len(self._pending) == 1 else pa.concat_tables(self._pending)
            self._pending, self._rows = [], 0
            self._writer.write_table(t)


def make_durable(paths: Iterable[str | Path]) -> None:
    """Everything written to the filesystems of `paths` reaches the disk: one syncfs(2) per filesystem.

    An fsync costs one journal commit (~4 ms here) whatever the file's size, which is more than a
    small evidence file's whole parse. Workers of one machine write their files with
    commit(durable=False) and the parent, which has to wait for them anyway, flushes them all with
    one call before it records them, so a recorded file is always on disk. Without syncfs (not
    Linux), each file and its directory are fsynced.
    """
    devices: dict[int, str] = {}
    for p in paths:
        if p:
            try:
                devices.setdefault(os.stat(p).st_dev, str(p))
            except FileNotFoundError:
                continue
    for p in devices.values():
        if not _syncfs(p):
            for q in paths:
                _fsync_file(q)
            return


def _syncfs(path: str) -> bool:
    libc = _libc()
    if libc is None or not hasattr(libc, "syncfs"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return libc.syncfs(fd) == 0
    finally:
        os.close(fd)


def _fsync_file(path) -> None:
    if not path or not os.path.exists(path):
        return
    for target, flags in ((path, os.O_RDONLY), (os.path.dirname(path) or ".", os.O_RDONLY)):
        fd = os.open(target, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _batch_table(t: pa.Table) -> pa.Table:
    """An EventBatch's Arrow columns as the file's table: only the ISO datetime is derived (as
    _write derives it) and a column of another type is cast."""
    iso = iso_column(np.asarray(t["timestamp"], dtype=np.int64))
    picks = _stored_columns(t.schema)
    if picks is not None:  # every stored column there with its type: picked by position, no per-column lookups
        return t.select(picks).add_column(_DATETIME, EVENT_SCHEMA.field(_DATETIME), iso)
    arrays = []
    for f in EVENT_SCHEMA:
        if f.name == "datetime":
            arrays.append(iso)
        else:
            a = t[f.name]
            arrays.append(a if a.type == f.type else a.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


_DATETIME = EVENT_SCHEMA.get_field_index("datetime")


_PICKS: list[tuple[pa.Schema, tuple[int, ...] | None]] = []


def _stored_columns(schema: pa.Schema) -> tuple[int, ...] | None:
    """Positions in `schema` of the stored columns but `datetime`, in EVENT_SCHEMA's order, when
    each is there exactly as stored (an ingestor's batch schema is one of a few).

    Remembered per schema by equality: hashing a pyarrow Schema (an lru_cache key) walks all its
    fields every call, ~30 µs, as much as the rest of a small file's batch."""
    for known, picks in _PICKS:
        if schema.equals(known):
            return picks
    picks = []
    for f in EVENT_SCHEMA:
        if f.name == "datetime":
            continue
        i = schema.get_field_index(f.name)
        if i < 0 or not schema.field(i).equals(f):  # name, type and nullability as stored
            picks = None
            break
        picks.append(i)
    found = tuple(picks) if picks is not None else None
    if len(_PICKS) < 32:
        _PICKS.append((schema, found))
    return found


@lru_cache(maxsize=1)
def _libc():
    import ctypes
    import ctypes.util
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


_BATCH_CON: dict[int, duckdb.DuckDBPyConnection] = {}


def _batch_connection() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB per process for add_batch (never shared across a fork)."""
    con = _BATCH_CON.get(os.getpid())
    if con is None:
        _BATCH_CON.clear()
        con = _BATCH_CON[os.getpid()] = duckdb.connect()
        con.execute("SET threads = 1")
    return con


def _as_array(v, typ: pa.DataType):
    """A column as an Arrow array of the schema's type (lists, or columns of an EventBatch)."""
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    if isinstance(v, pa.Array):
        return v if v.type == typ else v.cast(typ)
    return pa.array(v, typ)


def case_parquet_files(case_id: str) -> list[str]:
    """The Parquet files that make up a case's timeline (latest ingest per evidence and parser)."""
    from case_store.db import session
    from case_store.models import Evidence, IngestResult

    with session() as s:
        shas = [r for r in s.execute(select(Evidence.sha256).where(Evidence.case_id == case_id)).scalars()]
        if not shas:
            return []
        rows = s.execute(
            select(IngestResult.parquet_path, IngestResult.id, IngestResult.evidence_sha256, IngestResult.parser)
            .where(IngestResult.evidence_sha256.in_(shas), IngestResult.status != "failed")
            .order_by(IngestResult.id)
        ).all()
    return sorted(p for p in latest_paths(rows) if Path(p).exists())


def latest_paths(rows) -> list[str]:
    """Parquet paths of the newest result per (evidence, ingestor, zip member), from
    (parquet_path, id, evidence_sha256, parser) rows in id order: a newer version of
    an ingestor replaces the older one's events."""
    latest: dict[tuple[str, str, str], str] = {}
    for path, _id, sha, parser in rows:
        if path:
            name, _, rest = parser.partition("@")
            latest[(sha, name, rest.partition("#")[2])] = path
    return list(latest.values())


# Characters lower-casing changes for no character: no code point lower-cases to an ASCII digit,
# space or punctuation mark but itself. LIKE's wildcards and its escape character excluded.
_CASE_INVARIANT = frozenset("0123456789 !\"#$&'()*+,-./:;<=>?@[]^`{|}~")


def text_anchor(text: str) -> str | None:
    """The longest run of case-invariant characters in a free-text filter, if it is worth testing first.

    `x ILIKE '%text%'` implies `x` contains that run as it is: the run stands
    between wildcards in the pattern and lower-casing maps no other character
    onto it. `contains` is a plain byte search, far cheaper than ILIKE, which
    lower-cases every row it tests.
    """
    runs, cur = [], []
    for c in text:
        if c in _CASE_INVARIANT:
            cur.append(c)
        else:
            runs.append("".join(cur))
            cur = []
    runs.append("".join(cur))
    best = max(runs, key=len)
    return best if len(best) >= 2 else None


@dataclass
class EventQuery:
    start_us: int | None = None
    end_us: int | None = None
    host: str | None = None
    user: str | None = None
    ip: str | None = None
    tag: str | None = None
    data_type: str | None = None
    text: str | None = None
    event_ids: list[str] | None = None
    limit: int = 100
    offset: int = 0
    columns: list[str] = field(default_factory=lambda: list(EVENT_COLUMNS))

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        if self.start_us is not None:
            clauses.append("timestamp >= ?"); params.append(self.start_us)
        if self.end_us is not None:
            clauses.append("timestamp <= ?"); params.append(self.end_us)
        if self.host:
            clauses.append("lower(host) = lower(?)"); params.append(self.host)
        if self.user:
            clauses.append("lower(\"user\") = lower(?)"); params.append(self.user)
        if self.ip:
            clauses.append("(src_ip = ? OR dst_ip = ?)"); params += [self.ip, self.ip]
        if self.tag:
            clauses.append("list_contains(tags, ?)"); params.append(self.tag)
        if self.data_type:
            if self.data_type.endswith("*"):
                clauses.append("data_type LIKE ?"); params.append(self.data_type[:-1] + "%")
            else:
                clauses.append("data_type = ?"); params.append(self.data_type)
        if self.text:
            pattern, anchor = f"%{self.text}%", text_anchor(self.text)
            if anchor:  # a plain substring test first: ILIKE then runs on the few rows that hold it
                clauses.append("((contains(message, ?) AND message ILIKE ?) OR (contains(attributes, ?) AND attributes ILIKE ?))")
                params += [anchor, pattern, anchor, pattern]
            else:
                clauses.append("(message ILIKE ? OR attributes ILIKE ?)"); params += [pattern] * 2
        if self.event_ids is not None:
            clauses.append("list_contains(?, event_id)"); params.append(list(self.event_ids))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


COMPACT_MIN_ROWS = 250_000  # below this, reading the per-evidence files directly is as fast
COMPACT_MEMORY = "512MB"  # DuckDB memory limit while building the compacted copy


def connect(files: list[str]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with an `events` view over the given Parquet files.

    Large timelines are read from a time-sorted compacted copy (built once per
    set of input files, then reused), so time-window filters skip row groups
    and pages come back quickly however many evidence files feed the case.
    """
    con = cores.apply(duckdb.connect())  # one thread inside a batch task (case_store.cores)
    con.execute("SET enable_progress_bar = false")  # never draw on the user's terminal from a library
    if files:
        compacted = _compacted(files, con)
        if compacted:
            con.execute(f"ATTACH '{_sql_str(compacted)}' AS timeline (READ_ONLY)")
            con.execute("CREATE VIEW events AS SELECT * FROM timeline.main.events")
        else:
            con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({_sql_list(files)})")
    else:
        cols = ", ".join(f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in EVENT_SCHEMA)
        con.execute(f"CREATE VIEW events AS SELECT {cols} WHERE false")
    return con


def _compacted(files: list[str], con: duckdb.DuckDBPyConnection) -> str | None:
    """The case's events sorted by (timestamp, event id) in a read-only DuckDB database file, built once
    per set of input files; None for small cases.

    DuckDB's own storage rather than Parquet: its scans decode strings and skip
    row groups (zone maps on the sorted time) several times faster, which is
    what the timeline's text filters, the graph and the storyline spend their
    time on. The file is keyed by the DuckDB version too (its format follows it).
    """
    stats = [f"duckdb {duckdb.__version__}"]
    rows = 0
    for f in sorted(files):
        st = os.stat(f)
        stats.append(f"{f}|{st.st_size}|{st.st_mtime_ns}")
        rows += pq.ParquetFile(f).metadata.num_rows
    if rows < COMPACT_MIN_ROWS:
        return None
    key = hashlib.sha256("\n".join(stats).encode()).hexdigest()[:24]
    dest = events_dir() / "_timeline" / f"{key}.duckdb"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        # bounded memory: the sort of a 10M-event timeline spills to disk instead of taking ~10 GB
        con.execute(f"SET memory_limit = '{COMPACT_MEMORY}'")
        con.execute(f"SET temp_directory = '{_sql_str(str(dest.parent / '.spill'))}'")
        con.execute(f"ATTACH '{_sql_str(str(tmp))}' AS timeline_build")
        try:
            con.execute(f"CREATE TABLE timeline_build.main.events AS "
                        f"SELECT * FROM read_parquet({_sql_list(files)}) ORDER BY timestamp, event_id")
        finally:
            con.execute("DETACH timeline_build")  # checkpoints: the file is complete, no WAL left beside it
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    return str(dest)


def _sql_str(s: str) -> str:
    return s.replace("'", "''")


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_list(t):
        return "VARCHAR[]"
    return {pa.int64(): "BIGINT", pa.int32(): "INTEGER"}.get(t, "VARCHAR")


@lru_cache(maxsize=8)
def _shared_connection(files: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    # Parquet metadata and the compacted copy are opened once per process and
    # file set; each query then runs on its own cursor (safe across threads).
    return connect(list(files))


def query(case_id: str, q: EventQuery, files: list[str] | None = None) -> tuple["pd.DataFrame", int]:
    """One page of events in time order, and the total count matching the filter."""
    con = _shared_connection(tuple(case_parquet_files(case_id) if files is None else files)).cursor()
    where, params = q.where()
    cols = ", ".join(f'"{c}"' for c in q.columns)
    total = con.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0]
    page = con.execute(
        f"SELECT {cols} FROM events{where} ORDER BY timestamp, event_id LIMIT {int(q.limit)} OFFSET {int(q.offset)}", params
    ).df()
    con.close()
    return page, int(total)
