"""The text-log ingest for the event store: bulk lines as columns, the rest line by line.

The file is cut into blocks of whole lines. Each block is parsed by
forensics.logs.fastpath (in worker processes for large files, so both cores
work), which returns event columns for the bulk lines and hands back every
other line. Here, in file order, the two are merged exactly as the
line-by-line reading would see them:

- the handed-back lines go through the same `LineParser` (continuation lines,
  runs of unrecognised lines, damage errors), interleaved with the vector rows;
- the two pieces of sequential state are settled in order: the year rollover
  of a fixed year (`Clock._year/_last_month`) and sshd's per-connection address
  memory (`FileState.ssh_peer/ssh_pending`, updated lazily: only a handed-back
  sshd line ever reads it);
- the detections see every event in file order: handed-back lines as events,
  vector rows as compact stand-ins for the rows the rules look at (SSH
  failures and logins, HTTP login attempts) and numpy for the log-gap rule.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from collections import deque
from functools import partial
from itertools import repeat
from typing import Iterator, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forensics.events import Event, EventBatch, IngestError
from forensics.ingestors.base import IngestContext
from forensics.logs.common import BoundedMap, FileState
from forensics.logs.detections import Detector
from forensics.logs.fastpath import (DET_FAILURE, DET_HTTP, DET_SUCCESS, KIND_ACCESS, KIND_SSHD, Block, BlockConfig,
                                     parse_block)
from forensics.logs.lines import iter_lines
from forensics.logs.timeparse import Clock, _seconds_fields
from forensics.logs.vectorbursts import VectorBursts

BLOCK = 8 << 20  # bytes per block: big enough for the vector kernels, small enough to keep memory flat
PARALLEL_MIN_BYTES = 32 << 20  # below this one process parses the blocks itself
MEMO_MAX = 200_000


class LazyPeers(BoundedMap):
    """sshd's connection memory, with the vector rows' updates applied only when someone looks.

    `todo` holds (host, pid, ip, port) columns of vector sshd lines in file order; applying
    the last update per key, in order of last update, gives the map a sequence of
    `__setitem__` calls would (BoundedMap keeps the newest `limit` keys). The same rows
    pop `pending`'s entries, all of which are older than any row in `todo`.
    """

    def __init__(self, limit: int = 65536):
        super().__init__(limit)
        self.todo: list[pa.Table] = []
        self.todo_rows = 0
        self.pending: BoundedMap | None = None

    def add(self, t: pa.Table) -> None:
        if t.num_rows:
            self.todo.append(t)
            self.todo_rows += t.num_rows
            if self.todo_rows > 4 * self.limit:
                self.todo = [_last_per_key(pa.concat_tables(self.todo), self.limit)]
                self.todo_rows = self.todo[0].num_rows

    def sync(self) -> None:
        if not self.todo:
            return
        t = _last_per_key(pa.concat_tables(self.todo), self.limit)
        self.todo, self.todo_rows = [], 0
        setitem = BoundedMap.__setitem__
        pend = self.pending
        for host, pid, ip, port in zip(*(t.column(i).to_pylist() for i in range(4))):
            key = (host, pid)
            setitem(self, key, (ip, None, port))
            if pend:
                OrderedPop(pend, key)

    def __setitem__(self, key, value):
        self.sync()
        super().__setitem__(key, value)

    def __getitem__(self, key):
        self.sync()
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.sync()
        return super().get(key, default)

    def pop(self, key, *default):
        self.sync()
        return super().pop(key, *default)

    def __contains__(self, key):
        self.sync()
        return super().__contains__(key)

    def __len__(self):
        self.sync()
        return super().__len__()


class LazyPending(BoundedMap):
    """`ssh_pending`, synced with the peer memory before any use."""

    def __init__(self, peers: LazyPeers, limit: int = 65536):
        super().__init__(limit)
        self.peers = peers

    def __setitem__(self, key, value):
        self.peers.sync()
        super().__setitem__(key, value)

    def get(self, key, default=None):
        self.peers.sync()
        return super().get(key, default)

    def pop(self, key, *default):
        self.peers.sync()
        return super().pop(key, *default)

    def __contains__(self, key):
        self.peers.sync()
        return super().__contains__(key)


def OrderedPop(d: BoundedMap, key) -> None:
    if dict.__contains__(d, key):
        del d[key]


def _last_per_key(t: pa.Table, limit: int) -> pa.Table:
    """The rows that are the last for their (host, pid), in file order, at most the newest `limit`."""
    key = pc.binary_join_element_wise(pc.fill_null(t.column(0), "\x00"), pc.cast(t.column(1), pa.string()), "\x01")
    codes = pc.dictionary_encode(key).combine_chunks().indices.to_numpy() if isinstance(key, pa.ChunkedArray) else \
        pc.dictionary_encode(key).indices.to_numpy()
    rev = codes[::-1]
    _, first = np.unique(rev, return_index=True)
    last = np.sort(len(codes) - 1 - first)[-limit:]
    return t.take(pa.array(last))


class RowSlice:
    """Rows [a, b) of a block's table, emitted as one batch."""

    __slots__ = ("t", "a", "b")

    def __init__(self, t: pa.Table, a: int, b: int):
        self.t, self.a, self.b = t, a, b


class Lite(NamedTuple):
    """What the detection rules read of an event, for a vector row (Detector._auth, http_attempt, _gap);
    a tuple, so that a block's rows are built in C."""

    timestamp: int
    user: str | None
    host: str | None
    process_pid: int | None
    locator: str
    src_ip: str | None
    data_type: str
    attributes: dict
    evidence_sha256: str
    parser: str
    event_id: str  # make_event_id of the row, as the parse computed it
    domain: None = None
    discriminator: str = ""
    url: None = None


_new_lite = partial(tuple.__new__, Lite)


_FAILURE = {"outcome": "failure", "kind": "failed"}
_SUCCESS = {"outcome": "success", "kind": "accepted"}
_HTTP: dict = {}
_ATTRS = {DET_FAILURE: _FAILURE, DET_SUCCESS: _SUCCESS, DET_HTTP: _HTTP, 0: _HTTP}
_BATCH_DROP = ("_line", "_kind", "_det", "_month", "_yb", "_roll")

# per worker process: values seen in earlier blocks (dates, requests, seconds)
_MEMO: dict = {}


# CPU seconds the worker processes spent on the last file parsed with them (they are the fork
# server's children, so the caller's own rusage does not see them); for benchmarks
WORKER_CPU = {"seconds": 0.0}


def _work(args) -> Block:
    t0 = time.process_time()
    path, off, length, first_line, final, cfg = args
    with open(path, "rb") as f:
        f.seek(off)
        data = f.read(length)
    for v in _MEMO.values():
        if len(v) > MEMO_MAX:
            v.clear()
    blk = parse_block(data, first_line, off, cfg, final, _MEMO)
    if blk.table is not None:
        # the columns go back through a memory file the parent maps (no pickling of ~50 MB per block)
        fd, name = tempfile.mkstemp(prefix="cyberclaim-block-", suffix=".arrow", dir=_SHM)
        os.close(fd)
        try:  # Arrow's own file, not a Python file object: its ~100 buffers go straight to write(2)
            with pa.OSFile(name, "wb") as f, pa.ipc.new_file(f, blk.table.schema) as w:
                w.write_table(blk.table)
        except BaseException:  # (a full /dev/shm): no half file left behind
            os.unlink(name)
            raise
        blk.table, blk.ipc_path = None, name
    blk.cpu = time.process_time() - t0
    return blk


_SHM = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _received(blk: Block) -> Block:
    """A worker's block with its columns mapped back in (the file is gone once the table is)."""
    WORKER_CPU["seconds"] += blk.cpu
    if blk.ipc_path:
        try:
            with pa.memory_map(blk.ipc_path) as src:
                blk.table = pa.ipc.open_file(src).read_all()
        finally:
            os.unlink(blk.ipc_path)
        blk.ipc_path = None
    return blk


def _discard(pending) -> None:
    """Memory files of blocks parsed but never used (the ingest stopped early)."""
    for r in pending:
        try:
            blk = r.get(timeout=60)
        except Exception:  # a failed worker left nothing behind
            continue
        if blk.ipc_path:
            try:
                os.unlink(blk.ipc_path)
            except OSError:
                pass


def _blocks(path: str, size: int, block: int) -> Iterator[tuple]:
    """(offset, length, first line, final, data) of whole-line blocks; ("rest", offset, line) when a
    line longer than a block makes the line reader take over."""
    with open(path, "rb") as f:
        off, line = 0, 1
        while off < size:
            f.seek(off)
            chunk = f.read(block)
            if not chunk:
                return
            if off + len(chunk) >= size:
                yield off, len(chunk), line, True, chunk
                return
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                yield "rest", off, line
                return
            data = chunk[:cut]
            yield off, cut, line, False, data
            # numpy counts newlines ~4x faster than bytes.count (0.1 µs a line in the parent, per block)
            line += int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))
            off += cut


def _pool_context():
    """Workers forked from a fork server that has imported the parser, not from this process: this
    one may hold Arrow/DuckDB threads, whose locks a fork would copy in whatever state they were (a
    child blocked forever on a lock no thread will release); a spawned worker would import
    numpy/pyarrow/duckdb afresh for every ingest."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["forensics.logs.batchpath"])
        return ctx
    return multiprocessing.get_context("spawn")


def _parsed_blocks(path: str, size: int, cfg: BlockConfig, parallel: bool, block: int) -> Iterator:
    """Blocks parsed in file order: Block objects, or ("rest", offset, line)."""
    if not parallel:
        memo: dict = {}
        for b in _blocks(path, size, block):
            if b[0] == "rest":
                yield b
                return
            off, length, first, final, data = b
            for v in memo.values():
                if len(v) > MEMO_MAX:
                    v.clear()
            yield parse_block(data, first, off, cfg, final, memo)
        return
    ctx = _pool_context()
    workers = max(1, os.cpu_count() or 1)
    WORKER_CPU["seconds"] = 0.0
    with ctx.Pool(workers) as pool:
        window: deque = deque()
        rest = None
        try:
            for b in _blocks(path, size, block):
                if b[0] == "rest":
                    rest = b
                    break
                off, length, first, final, _ = b
                window.append(pool.apply_async(_work, ((path, off, length, first, final, cfg),)))
                if len(window) > workers + 1:  # bounded read-ahead: memory stays at a few blocks
                    yield _received(window.popleft().get())
            while window:
                yield _received(window.popleft().get())
        finally:
            _discard(window)
        if rest is not None:
            yield rest


def ingest_batches(ingestor, ctx: IngestContext) -> Iterator:
    try:
        st = os.stat(ctx.path)
        clock = Clock.from_options(ctx.options, st.st_mtime)
    except (OSError, ValueError, KeyError) as e:  # unknown zone name, bad date, unreadable file
        yield ctx.error(f"cannot start: {e}", offset=0)
        return
    from forensics.ingestors.textlog import LineParser

    parser_id = ingestor.parser_id()
    peers = LazyPeers()
    pending_map = LazyPending(peers)
    peers.pending = pending_map
    state = FileState(clock, dict(ctx.options), ssh_peer=peers, ssh_pending=pending_map)
    lp = LineParser(ctx, state, parser_id)
    det = Detector(ctx.options.get("thresholds"))
    fixed = clock.fixed_year is not None
    if fixed and not 1000 <= clock.fixed_year <= 9999:  # year_inferred is patched as 4 digits
        yield from ingestor.detect_over(ctx, ingestor.parse_records(ctx))
        return
    cfg = BlockConfig(ctx.evidence_sha256, parser_id, clock.zone, clock.fixed_year, clock.reference_us)
    size = st.st_size
    # a daemonic process (a multiprocessing.Pool worker) may not start processes of its own
    parallel = size >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1 and \
        not multiprocessing.current_process().daemon
    merger = _Merger(ingestor, ctx, clock, lp, peers, det, fixed)
    try:
        for blk in _parsed_blocks(str(ctx.path), size, cfg, parallel, BLOCK):
            if type(blk) is tuple:  # a line longer than a block: the line reader takes the rest
                _, off, line = blk
                with open(ctx.path, "rb") as f:
                    f.seek(off)
                    for number, offset, data, complete, too_long in iter_lines(f):
                        lp.feed(number + line - 1, offset + off, data, complete, too_long)
                        if len(lp.out) > 1000:
                            yield from merger.emit(lp.out)
                            lp.out.clear()
                break
            yield from merger.block(blk)
    except OSError as e:
        lp.out.append(ctx.error(f"read error: {e}", offset=None))
    lp.finish()
    yield from merger.emit(lp.out)
    lp.out.clear()
    merger.vb.finish()
    for d in det.finish():
        yield ingestor.stamp(ctx, d)


class _Merger:
    def __init__(self, ingestor, ctx, clock, lp, peers, det, fixed):
        self.ingestor, self.ctx, self.clock, self.lp, self.peers, self.det = ingestor, ctx, clock, lp, peers, det
        self.fixed = fixed
        sha, parser = ctx.evidence_sha256, ingestor.parser_id()
        self.vb = VectorBursts(det, lambda kept, srcs: _kept_rows(kept, srcs, sha, parser))

    def block(self, blk: Block) -> Iterator:
        lp, t = self.lp, blk.table
        if t is None:
            for f in blk.fallback:
                lp.feed(*f)
            items, lp.out = lp.out, []
            yield from self.emit(items)
            return
        n = t.num_rows
        kind = t.column("_kind").to_numpy()
        fb_lines = np.fromiter((f[0] for f in blk.fallback), dtype=np.int64, count=len(blk.fallback))
        bounds = np.searchsorted(t.column("_line").to_numpy(), fb_lines).tolist()
        clock = self.clock
        delta = None
        if self.fixed:
            month = t.column("_month").to_numpy().astype(np.int16)
            is_sys = kind != KIND_ACCESS
            sys_pos = np.flatnonzero(is_sys)
            cr = np.cumsum(t.column("_roll").to_numpy(zero_copy_only=False)[sys_pos])
            year0 = clock.fixed_year
            delta = np.zeros(n, dtype=np.int64)
        ssh_rows = (kind == KIND_SSHD) & t.column("process_pid").is_valid().to_numpy(zero_copy_only=False)
        items: list = []
        slices: list[RowSlice] = []

        def segment(a: int, b: int) -> None:
            if self.fixed:
                i0, i1 = np.searchsorted(sys_pos, a), np.searchsorted(sys_pos, b)
                if i1 > i0:
                    f, last = sys_pos[i0], sys_pos[i1 - 1]
                    year = clock._year
                    if clock._last_month and month[f] < clock._last_month - 5:
                        year += 1
                    rows = sys_pos[i0:i1]
                    delta[rows] = year + cr[i0:i1] - cr[i0] - year0
                    clock._year = int(year + cr[i1 - 1] - cr[i0])
                    clock._last_month = int(month[last])
            sel = np.flatnonzero(ssh_rows[a:b])
            if len(sel):
                self.peers.add(t.select(["host", "process_pid", "src_ip", "src_port"]).take(pa.array(sel + a)))
            lp.event_arrives()
            items.extend(lp.out)
            lp.out.clear()
            # the last row is held back as the line parser's pending event: it is released (as its
            # own one-row slice) where the line-by-line reading would release it
            body, last = RowSlice(t, a, b - 1), RowSlice(t, b - 1, b)
            slices.extend((body, last))
            items.append(body)
            lp.pending = _row_ref(t, b - 1, last, delta, clock)
            lp.continuation = 0

        cur = 0
        for f, pos in zip(blk.fallback, bounds):
            if pos > cur:
                segment(cur, pos)
                cur = pos
            lp.feed(*f)
            if lp.out:
                items.extend(lp.out)
                lp.out.clear()
        if n > cur:
            segment(cur, n)
        if delta is not None and delta.any():
            t2 = _apply_years(t, delta, clock)
            for sl in slices:
                sl.t = t2
        yield from self.emit(items)

    def emit(self, items: list) -> Iterator:
        det, stamp, ctx, vb = self.det, self.ingestor.stamp, self.ctx, self.vb
        for it in items:
            if type(it) is RowSlice:
                if it.b > it.a:
                    yield from self._rows(it.t, it.a, it.b)
            elif type(it) is Event:
                vb.take_over_src(it.src_ip or it.domain)
                dets = det.feed(it)
                yield it
                for d in dets:
                    yield stamp(ctx, d)
            else:
                yield it

    def _rows(self, t: pa.Table, a: int, b: int) -> Iterator:
        """Rows [a, b) as batches, each detection they raise right after the row that raised it."""
        det, stamp, ctx = self.det, self.ingestor.stamp, self.ctx
        s = t.slice(a, b - a)
        n = s.num_rows
        ts = s.column("timestamp").to_numpy()
        self._gaps(s, ts)
        raised: list[tuple[int, list[Event]]] = []
        dcode = s.column("_det").to_numpy()
        idx = np.flatnonzero(dcode)
        if len(idx):  # the rows of sources held set-wise are taken in there; the others go one by one
            idx = idx[self.vb.update(s, idx, dcode[idx], ts)]
        if len(idx):
            rows = _lite_rows(s, idx, ts, dcode, ctx.evidence_sha256, self.ingestor.parser_id())
            codes = dcode[idx]
            positions = idx.tolist()
            # runs of sshd failures go through the rule's batch loop, the other rows one by one
            fail = codes == DET_FAILURE
            cuts = np.flatnonzero(np.diff(fail.astype(np.int8))) + 1
            bounds = [0, *cuts.tolist(), len(codes)]
            auth, http = det._auth, det.http_attempt
            recent = det.recent_fail
            for a0, b0 in zip(bounds[:-1], bounds[1:]):
                if fail[a0]:
                    raised += det.ssh_failures(rows[a0:b0], positions[a0:b0])
                    continue
                for i, code, row in zip(positions[a0:b0], codes[a0:b0].tolist(), rows[a0:b0]):
                    if code == DET_HTTP:
                        out = http(row, row.src_ip)
                    elif recent.get(row.src_ip):  # a login with no recent failures from its source changes nothing
                        out = auth(row)
                    else:
                        continue
                    if out:
                        raised.append((i, out))
        start = 0
        cols = [c for c in s.column_names if c not in _BATCH_DROP]
        for i, out in raised:
            yield EventBatch(s.slice(start, i + 1 - start).select(cols))
            start = i + 1
            for d in out:
                yield stamp(ctx, d)
        if start < n:
            yield EventBatch(s.slice(start).select(cols))

    def _gaps(self, s: pa.Table, ts: np.ndarray) -> None:
        """Detector._gap over the rows: only the pairs that can be among the largest gaps are offered
        (the rule keeps the `max_reports` largest (gap, start, locators) keys, whatever the order)."""
        det = self.det
        prev = det.prev
        n = len(ts)
        sha, parser = self.ctx.evidence_sha256, self.ingestor.parser_id()
        pred = np.empty(n, dtype=np.int64)
        pred[1:] = ts[:-1]
        pred[0] = prev.timestamp if prev is not None else ts[0]
        gap = ts - pred
        cand = np.flatnonzero(gap > det._min_gap)
        if len(cand):
            g = gap[cand]
            keep = det._max_gaps
            if len(cand) > keep:
                floor = np.partition(g, len(g) - keep)[len(g) - keep]
                cand = cand[g >= floor]
            if len(det.gaps) >= keep:
                cand = cand[gap[cand] >= det.gaps[0][0]]
        if len(cand):
            need = sorted(set(cand.tolist()) | set((cand[cand > 0] - 1).tolist()))
            rows = dict(zip(need, _lite_rows(s, np.array(need, dtype=np.int64), ts, None, sha, parser)))
            for i in cand.tolist():
                det.prev = prev if i == 0 else rows[i - 1]
                det._gap(rows[i])
        det.prev = _lite_rows(s, np.array([n - 1], dtype=np.int64), ts, None, sha, parser)[0]


def _lite_rows(s: pa.Table, idx: np.ndarray, ts: np.ndarray, dcode: np.ndarray | None, sha: str,
               parser: str) -> list:
    take = pa.array(idx)
    cols = [s.column(c).take(take).to_pylist() for c in ("user", "host", "process_pid", "locator", "src_ip",
                                                            "data_type")]
    attrs = [_ATTRS[c] for c in dcode[idx].tolist()] if dcode is not None else repeat(_HTTP, len(idx))
    ids = s.column("event_id").take(take).to_pylist()
    return list(map(_new_lite, zip(ts[idx].tolist(), *cols, attrs, repeat(sha), repeat(parser), ids,
                                   repeat(None), repeat(""), repeat(None))))


def _kept_rows(kept: pa.Table, srcs: list[str], sha: str, parser: str) -> list:
    """_lite_rows for rows kept by VectorBursts (their columns vectorbursts.KEPT; sources given)."""
    cols = [kept.column(c).to_pylist() for c in ("timestamp", "user", "host", "process_pid", "locator")]
    attrs = [_ATTRS[c] for c in kept.column("_det").to_pylist()]
    return list(map(_new_lite, zip(*cols, srcs, kept.column("data_type").to_pylist(), attrs, repeat(sha),
                                   repeat(parser), kept.column("event_id").to_pylist(), repeat(None), repeat(""),
                                   repeat(None))))


def _row_ref(t: pa.Table, i: int, item: RowSlice, delta, clock: Clock):
    from forensics.ingestors.textlog import RowRef

    def materialize() -> Event:
        item.b = item.a  # the row leaves its batch; the line parser releases it as an event
        row = {c: t.column(c)[i].as_py() for c in t.column_names}
        attrs = json.loads(row["attributes"])
        ts = row["timestamp"]
        if delta is not None and delta[i]:
            year = attrs["year_inferred"] + int(delta[i])
            attrs["year_inferred"] = year
            ts = clock.local(year, *_seconds_fields(attrs["time_text"]))
        ev = Event(timestamp=ts, data_type=row["data_type"], message=row["message"], locator=row["locator"],
                   timestamp_desc=row["timestamp_desc"], parser=row["parser"],
                   evidence_sha256=row["evidence_sha256"], host=row["host"], user=row["user"],
                   process_pid=row["process_pid"], process_name=row["process_name"],
                   process_cmdline=row["process_cmdline"], src_ip=row["src_ip"], src_port=row["src_port"],
                   dst_ip=row["dst_ip"], dst_port=row["dst_port"], proto=row["proto"], bytes_out=row["bytes_out"],
                   bytes_in=row["bytes_in"], domain=row["domain"], url=row["url"], file_path=row["file_path"],
                   file_sha256=row["file_sha256"], tags=list(row["tags"] or []), attack=list(row["attack"] or []),
                   gbt_category=row["gbt_category"], severity=row["severity"], attributes=attrs)
        return ev

    return RowRef(t.column("data_type")[i].as_py(), materialize, item)


def _apply_years(t: pa.Table, delta: np.ndarray, clock: Clock) -> pa.Table:
    """Rows whose fixed-year inference rolled over (a December/January turn): timestamp and year_inferred."""
    rows = np.flatnonzero(delta)
    idx = pa.array(rows)
    attrs = t.column("attributes").take(idx).to_pylist()
    ts = t.column("timestamp").to_numpy().copy()
    new_attrs = t.column("attributes").to_pylist()
    for r, a in zip(rows.tolist(), attrs):
        d = json.loads(a)
        year = d["year_inferred"] + int(delta[r])
        ts[r] = clock.local(year, *_seconds_fields(d["time_text"]))
        new_attrs[r] = a[:-5] + str(year) + "}"
    t = t.set_column(t.schema.get_field_index("timestamp"), "timestamp", pa.array(ts, pa.int64()))
    return t.set_column(t.schema.get_field_index("attributes"), "attributes", pa.array(new_attrs, pa.string()))
