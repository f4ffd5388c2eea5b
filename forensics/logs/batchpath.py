"""The text-log ingest for the event store: bulk lines as columns, the rest line by line.

The file is cut into blocks of whole lines. Each block is parsed by
forensics.logs.fastpath (in worker processes for large files on machines of
PARALLEL_MIN_CORES cores or more; on fewer, this process's main thread and the
event store's writer thread already keep two cores busy), which returns event
columns for the bulk lines and hands back every
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

from forensics.events import EVENT_SCHEMA, Event, EventBatch
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
# Parse workers pay only from three cores. One process already keeps ~1.7 cores busy (the parse and
# merge on the main thread, the Parquet write on the store's writer thread), and the workers add
# ~1.3 µs a line of their own (the block's Arrow file written and mapped back, two more processes
# to schedule): on this 2-core machine one process won 9 of 10 paired bench.logs --mb 1024 runs
# (2026-11-22; e.g. 433k against 340k lines/s), though 1 of 3 at 256 MB as the VM slowed.
PARALLEL_MIN_CORES = 3
MEMO_MAX = 200_000


class LazyPeers(BoundedMap):
    """sshd's connection memory, with the vector rows' updates applied only when someone looks.

    `todo` holds (host, pid, ip, port) columns of vector sshd lines in file order; applying
    the last update per key, in order of last update, gives the map a sequence of
    `__setitem__` calls would (BoundedMap keeps the newest `limit` keys). The same rows
    pop `pending`'s entries, all of which are older than any row in `todo`. A few rows passed
    since the last look are set one by one instead (`_apply_few`), as the calls would.
    """

    def __init__(self, limit: int = 65536):
        super().__init__(limit)
        self.todo: list[pa.Table] = []
        self.todo_rows = 0
        self.pending: BoundedMap | None = None
        self.upto = 0  # rows of the watched block the line-by-line reading has passed
        self._t: pa.Table | None = None
        self._rows = np.zeros(0, dtype=np.int64)
        self._done = 0
        self._near: list[tuple] = []  # (host, pid, ip, port) of the watched rows [_near_at, _near_at + len)
        self._near_at = 0

    def watch(self, t: pa.Table, rows: np.ndarray) -> None:
        """A block's sshd rows (ascending); those below `upto` count as added (taken in one go when
        someone looks, not per segment of the block)."""
        self._take()
        self._t, self._rows, self._done, self.upto = t, rows, 0, 0
        self._near, self._near_at = [], 0

    def _passed(self) -> int:
        return int(np.searchsorted(self._rows, self.upto)) if self._t is not None else 0

    def _take(self) -> None:
        k = self._passed()
        if k > self._done:
            self.add(self._t.select(_PEER_COLUMNS).take(pa.array(self._rows[self._done:k])))
            self._done = k

    def _apply_few(self, k: int) -> None:
        """The watched rows [_done, k), a few only, set one by one: sshd lines the line parser reads
        between bulk sshd lines (a connection's closing line after each failure) sync every time,
        and the set-wise way costs ~0.1 ms of Arrow calls each. Their values come a stretch at a time."""
        lo = self._done
        if not self._near_at <= lo <= k <= self._near_at + len(self._near):
            end = min(len(self._rows), max(k, lo + _NEAR))
            t = self._t.select(_PEER_COLUMNS).take(pa.array(self._rows[lo:end]))
            self._near = list(zip(*(t.column(i).to_pylist() for i in range(4))))
            self._near_at = lo
        rows = self._near[lo - self._near_at:k - self._near_at]
        self._done = k  # first: the map's own length check syncs again
        setitem = BoundedMap.__setitem__
        pend = self.pending
        for host, pid, ip, port in rows:
            key = (host, pid)
            setitem(self, key, (ip, None, port))
            if pend:
                OrderedPop(pend, key)

    def add(self, t: pa.Table) -> None:
        if t.num_rows:
            self.todo.append(t)
            self.todo_rows += t.num_rows
            if self.todo_rows > 4 * self.limit:
                self.todo = [_last_per_key(pa.concat_tables(self.todo), self.limit)]
                self.todo_rows = self.todo[0].num_rows

    def sync(self) -> None:
        k = self._passed()
        if k - self._done > _NEAR:
            self._take()
        if self.todo:
            self._apply_todo()
        if k > self._done:
            self._apply_few(k)

    def _apply_todo(self) -> None:
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


_PEER_COLUMNS = ["host", "process_pid", "src_ip", "src_port"]
_NEAR = 1024


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
    path, off, length, first_line, final, cfg, owner = args
    with open(path, "rb") as f:
        f.seek(off)
        data = f.read(length)
    for v in _MEMO.values():
        if len(v) > MEMO_MAX:
            v.clear()
    blk = parse_block(data, first_line, off, cfg, final, _MEMO)
    if blk.table is not None:
        # the columns go back through a memory file the parent maps (no pickling of ~50 MB per block)
        fd, name = tempfile.mkstemp(prefix=f"{_BLOCK_FILE}{owner}-", suffix=".arrow", dir=_SHM)
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
_BLOCK_FILE = "cyberclaim-block-"  # + the ingesting process's pid + "-": whose block it is


def _sweep_orphans(shm: str | None) -> None:
    """Memory files of ingests that were killed (kill -9, power cut of the driver) before they
    mapped them: /dev/shm is memory and nothing else would ever free them."""
    if shm is None:
        return
    try:
        names = [n for n in os.listdir(shm) if n.startswith(_BLOCK_FILE)]
    except OSError:
        return
    for n in names:
        owner = n[len(_BLOCK_FILE):].split("-", 1)[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        try:
            os.unlink(os.path.join(shm, n))
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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


def _blocks(path: str, size: int, block: int, counted: list[int] | None = None) -> Iterator[tuple]:
    """(offset, length, first line, final, data) of whole-line blocks; ("rest", offset, line) when a
    line longer than a block makes the line reader take over. `counted`: a caller that parses each
    block before asking for the next appends its line count there (the parse counts them anyway),
    which spares counting the newlines here."""
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
            line += counted.pop() if counted else int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))
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
        counted: list[int] = []
        for b in _blocks(path, size, block, counted):
            if b[0] == "rest":
                yield b
                return
            off, length, first, final, data = b
            for v in memo.values():
                if len(v) > MEMO_MAX:
                    v.clear()
            blk = parse_block(data, first, off, cfg, final, memo)
            counted.append(blk.lines)
            yield blk
        return
    _sweep_orphans(_SHM)
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
                window.append(pool.apply_async(_work, ((path, off, length, first, final, cfg, os.getpid()),)))
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
    parallel = size >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) >= PARALLEL_MIN_CORES and \
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
    yield from merger.detections([ingestor.stamp(ctx, d) for d in det.finish()])


class _Merger:
    """Merges a block's vector rows with the line parser's records, in file order.

    The work per block is a fixed number of Arrow/numpy passes, whatever the number of
    alternations between bulk lines and lines the line parser reads: the rows between two
    handed-back lines (a *segment*) only set the sequential state the line parser reads
    (clock, sshd memory) cheaply, and `emit` runs the detections and builds the stored
    table once for everything a block released (its rows, the line parser's events and the
    detections, in order), so the event store gets one batch per block.
    """

    def __init__(self, ingestor, ctx, clock, lp, peers, det, fixed):
        self.ingestor, self.ctx, self.clock, self.lp, self.peers, self.det = ingestor, ctx, clock, lp, peers, det
        self.fixed = fixed
        sha, parser = ctx.evidence_sha256, ingestor.parser_id()
        self.vb = VectorBursts(det, lambda kept, srcs: _kept_rows(kept, srcs, sha, parser))
        self.schema: pa.Schema | None = None  # the stored columns of the blocks' tables

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
        bounds = np.searchsorted(t.column("_line").to_numpy(), fb_lines)
        clock, fixed = self.clock, self.fixed
        delta = None
        offsets: list[int] = []  # (fixed years) per segment with system rows: its year offset, and its row count
        counts: list[int] = []
        if fixed:
            sys_pos = np.flatnonzero(kind != KIND_ACCESS)
            cr = np.cumsum(t.column("_roll").to_numpy(zero_copy_only=False)[sys_pos])
            sys_month = t.column("_month").to_numpy().astype(np.int16)[sys_pos]
            # where each segment's system rows start in sys_pos (the last entry: the block's end)
            sys_at = np.searchsorted(sys_pos, np.append(bounds, n)).tolist()
            year0 = clock.fixed_year
            delta = np.zeros(n, dtype=np.int64)
        ssh_rows = (kind == KIND_SSHD) & t.column("process_pid").is_valid().to_numpy(zero_copy_only=False)
        peers = self.peers
        peers.watch(t, np.flatnonzero(ssh_rows))
        # the data type of each segment's last row, which the line parser reads while holding it back
        ends = np.unique(np.append(bounds[bounds > 0], n))
        held_type = dict(zip(ends.tolist(), t.column("data_type").take(pa.array(ends - 1)).to_pylist()))
        items: list = []
        slices: list[RowSlice] = []

        def segment(a: int, b: int, i0: int, i1: int) -> None:
            if i1 > i0:  # (fixed years only) the year rollover over the segment's system rows
                year = clock._year
                if clock._last_month and sys_month[i0] < clock._last_month - 5:
                    year += 1
                off = year - int(cr[i0]) - year0
                offsets.append(off)
                counts.append(i1 - i0)
                if sys_pos[i1 - 1] == b - 1:  # the held-back row may be materialized before the block ends
                    delta[b - 1] = int(cr[i1 - 1]) + off
                clock._year = year + int(cr[i1 - 1]) - int(cr[i0])
                clock._last_month = int(sys_month[i1 - 1])
            peers.upto = b
            lp.event_arrives()
            if lp.out:
                items.extend(lp.out)
                lp.out.clear()
            # the last row is held back as the line parser's pending event: it is released (as its
            # own one-row slice) where the line-by-line reading would release it
            body, last = RowSlice(t, a, b - 1), RowSlice(t, b - 1, b)
            slices.append(body)
            slices.append(last)
            items.append(body)
            lp.pending = _row_ref(t, b - 1, last, delta, clock, held_type[b])
            lp.continuation = 0

        cur = scur = 0
        feed = lp.feed
        for k, (f, pos) in enumerate(zip(blk.fallback, bounds.tolist())):
            if pos > cur:
                s1 = sys_at[k] if fixed else 0
                segment(cur, pos, scur, s1)
                cur, scur = pos, s1
            feed(*f)
            if lp.out:
                items.extend(lp.out)
                lp.out.clear()
        if n > cur:
            segment(cur, n, scur, sys_at[-1] if fixed else 0)
        if offsets:
            delta[sys_pos] = cr + np.repeat(np.array(offsets, dtype=np.int64), counts)
        if delta is not None and delta.any():
            t2 = _apply_years(t, delta, clock)
            for sl in slices:
                sl.t = t2
        yield from self.emit(items)

    def emit(self, items: list) -> Iterator:
        """The records of `items` (row slices, events, errors, in file order), a batch per block table
        their rows come from (the previous block's held-back row, then the block's own)."""
        part: list = []
        src = None
        for it in items:
            if type(it) is RowSlice and it.b > it.a:
                if src is not None and it.t is not src:
                    yield from self._emit(part)
                    part = []
                src = it.t
            part.append(it)
        if part:
            yield from self._emit(part)

    def _emit(self, items: list) -> Iterator:
        """The records of `items` (rows of one table, events, errors, in file order): the errors, then
        one batch of the rows and events with each detection right after the row or event that raised it.

        The errors go to the unit's error list, not to the event store, so their place among the
        events is not kept. Rows and events are settled in one pass: the events are fed to the
        detector where they stand, the rows of sources no event of the batch has (nearly all)
        set-wise before them, which changes nothing, as the rules keep state per source only
        (but the log gap rule, whose result does not depend on the order either).
        """
        runs: list[RowSlice] = []
        events: list[Event] = []
        ev_at: list[int] = []  # the rows before each event
        nrows = 0
        for it in items:
            ti = type(it)
            if ti is RowSlice:
                if it.b > it.a:
                    runs.append(it)
                    nrows += it.b - it.a
            elif ti is Event:
                events.append(it)
                ev_at.append(nrows)
            else:
                yield it
        if not nrows and not events:
            return
        r = self._rows_table(runs) if nrows else None
        raised, ev_raised = self._detect(r, events, ev_at)
        stamp, ctx = self.ingestor.stamp, self.ctx
        objs: list[Event] = []  # events and detections, in their order
        pieces: list[list[int]] = []  # [start, length] of the stored rows: rows of r, then of objs (from nrows)
        cur = 0

        def rows_to(k: int) -> None:
            nonlocal cur
            if k > cur:
                pieces.append([cur, k - cur])
                cur = k

        def add(ev: Event) -> None:
            at = nrows + len(objs)
            if pieces and pieces[-1][0] + pieces[-1][1] == at and pieces[-1][0] >= nrows:
                pieces[-1][1] += 1
            else:
                pieces.append([at, 1])
            objs.append(ev)

        ri, ej = 0, 0
        while ri < len(raised) or ej < len(events):
            if ej == len(events) or (ri < len(raised) and raised[ri][0] + 1 <= ev_at[ej]):
                k, dets = raised[ri]
                ri += 1
                rows_to(k + 1)
                for d in dets:
                    add(stamp(ctx, d))
            else:
                ev = events[ej]
                rows_to(ev_at[ej])
                if not ev.parser:
                    stamp(ctx, ev)
                add(ev)
                for d in ev_raised[ej]:
                    add(stamp(ctx, d))
                ej += 1
        rows_to(nrows)
        yield EventBatch(self._stored(r, objs, pieces))

    def detections(self, dets: list[Event]) -> Iterator:
        """The detections of the file's end, as batches cut where the event store cuts events handed
        to it one by one (BATCH_ROWS): their columns built here, while the collector is off. Handed
        over as events, the store's commit built them with it back on, and the ~100,000 lists it
        made woke it to walk everything the ingest had allocated (~0.5 s of GC a file)."""
        from case_store.eventstore import BATCH_ROWS

        for a in range(0, len(dets), BATCH_ROWS):
            yield EventBatch(self._stored(None, dets[a:a + BATCH_ROWS], []))

    def _rows_table(self, runs: list[RowSlice]) -> pa.Table:
        """The rows of the slices (of one table, in order) as one table: a zero-copy slice when they
        follow each other (a row the line parser took over as an event leaves a hole), else a take."""
        if self.schema is None:
            self.schema = pa.schema([f for f in runs[0].t.schema if f.name not in _BATCH_DROP])
        src = runs[0].t.select(self.schema.names + ["_det"])
        a = np.fromiter((sl.a for sl in runs), dtype=np.int64, count=len(runs))
        b = np.fromiter((sl.b for sl in runs), dtype=np.int64, count=len(runs))
        if (a[1:] == b[:-1]).all():
            return src.slice(int(a[0]), int(b[-1] - a[0]))
        return src.take(pa.array(_expand(a, b - a)))

    def _stored(self, r: pa.Table | None, objs: list[Event], pieces: list[list[int]]) -> pa.Table:
        """The stored columns of rows `r` and events `objs`, in the order of `pieces`."""
        schema = self.schema if self.schema is not None else _EVENTS_SCHEMA
        rows = r.select(schema.names) if r is not None else None
        if not objs:
            return rows
        from case_store.eventstore import EventWriter, _as_array

        cols = EventWriter._columns(objs)  # the values the store derives for events it is handed one by one
        cols["discriminator"] = [e.discriminator for e in objs]
        evt = pa.Table.from_arrays([_as_array(cols[f.name], f.type) for f in schema], schema=schema)
        if rows is None:
            return evt
        n = rows.num_rows
        if len(pieces) <= _SLICES_MAX:
            return pa.concat_tables([rows.slice(a, m) if a < n else evt.slice(a - n, m) for a, m in pieces])
        both = pa.concat_tables([rows, evt])
        a = np.array([p[0] for p in pieces], dtype=np.int64)
        m = np.array([p[1] for p in pieces], dtype=np.int64)
        return both.take(pa.array(_expand(a, m)))

    def _detect(self, r: pa.Table | None, events: list[Event], ev_at: list[int]) -> tuple[list, list]:
        """The rules over rows `r` and `events` (event j stands before row ev_at[j]): the detections
        raised by rows, as (row, detections) in row order, and those of each event."""
        det, vb = self.det, self.vb
        n = r.num_rows if r is not None else 0
        ts = r.column("timestamp").to_numpy() if n else np.zeros(0, dtype=np.int64)
        sha, parser = self.ctx.evidence_sha256, self.ingestor.parser_id()
        prev0 = det.prev
        # the entry before each row that follows an event: that event (the last one there)
        ev_before_row = {k: j for j, k in enumerate(ev_at) if k < n}
        lite_need: set[int] = {k - 1 for k in ev_at if k > 0}
        if n:
            lite_need.add(n - 1)
        cand = self._gap_candidates(ts, prev0, ev_before_row, events) if n else []
        lite_need.update(cand)
        lite_need.update(k - 1 for k in cand if k > 0 and k not in ev_before_row)
        lite: dict[int, Lite] = {}
        if lite_need:
            need = sorted(lite_need)
            lite = dict(zip(need, _lite_rows(r, np.array(need, dtype=np.int64), ts, None, sha, parser)))
        for k in cand:
            j = ev_before_row.get(k)
            det.prev = events[j] if j is not None else lite[k - 1] if k > 0 else prev0
            det._gap(lite[k])

        raised: list[tuple[int, list[Event]]] = []
        rows, codes, positions = [], np.zeros(0, dtype=np.int8), []
        if n:
            dcode = r.column("_det").to_numpy()
            idx = np.flatnonzero(dcode)
            if len(idx) and events:
                self._hand_over(r, idx, events)
            if len(idx):  # the rows of sources held set-wise are taken in there; the others go one by one
                idx = idx[vb.update(r, idx, dcode[idx], ts)]
            if len(idx):
                rows = _lite_rows(r, idx, ts, dcode, sha, parser)
                codes = dcode[idx]
                positions = idx.tolist()
        # the rows the reference code sees and the events, in file order
        cuts = np.searchsorted(np.array(positions, dtype=np.int64), np.array(ev_at, dtype=np.int64)).tolist()
        ev_raised: list[list[Event]] = []
        p = 0
        for j, ev in enumerate(events):
            q = cuts[j]
            if q > p:
                raised += self._reference(rows[p:q], codes[p:q], positions[p:q])
                p = q
            k = ev_at[j]
            det.prev = events[j - 1] if j and ev_at[j - 1] == k else lite[k - 1] if k else prev0
            vb.take_over_src(ev.src_ip or ev.domain)
            ev_raised.append(det.feed(ev))
        if len(positions) > p:
            raised += self._reference(rows[p:], codes[p:], positions[p:])
        if events and ev_at[-1] == n:
            det.prev = events[-1]
        elif n:
            det.prev = lite[n - 1]
        return raised, ev_raised

    def _hand_over(self, r: pa.Table, idx: np.ndarray, events: list[Event]) -> None:
        """Sources both an event and a row of the batch have go to the Detector for good: their rows
        then meet the events there in file order."""
        srcs = {s for ev in events if (s := ev.src_ip or ev.domain)}
        if not srcs:
            return
        col = r.column("src_ip").take(pa.array(idx))
        hit = pc.is_in(col, value_set=pa.array(sorted(srcs), pa.string()))
        if pc.any(hit).as_py():
            self.vb.hand_over(pc.unique(col.filter(hit)).to_pylist())

    def _reference(self, rows: list, codes: np.ndarray, positions: list[int]) -> list[tuple[int, list[Event]]]:
        """Rows the Detector's own code handles, in file order: (row, detections) for those that raise some."""
        det = self.det
        raised: list[tuple[int, list[Event]]] = []
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
        return raised

    def _gap_candidates(self, ts: np.ndarray, prev0, ev_before_row: dict, events: list[Event]) -> list[int]:
        """Rows whose gap to the entry before them can be among the largest (Detector._gap keeps the
        `max_reports` largest (gap, start, locators) keys, whatever the order they come in)."""
        det = self.det
        n = len(ts)
        pred = np.empty(n, dtype=np.int64)
        pred[1:] = ts[:-1]
        pred[0] = prev0.timestamp if prev0 is not None else ts[0]
        if ev_before_row:
            ks = np.fromiter(ev_before_row.keys(), dtype=np.int64, count=len(ev_before_row))
            pred[ks] = np.fromiter((events[j].timestamp for j in ev_before_row.values()), dtype=np.int64,
                                   count=len(ev_before_row))
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
        return cand.tolist()


_SLICES_MAX = 32  # up to this many pieces a batch is assembled from zero-copy slices, beyond by one take
_EVENTS_SCHEMA = pa.schema([f for f in EVENT_SCHEMA if f.name != "datetime"] + [pa.field("discriminator", pa.string())])


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions of the ranges [start, start + length), concatenated."""
    total = int(lengths.sum())
    shift = starts - (np.cumsum(lengths) - lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(shift, lengths)


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


def _row_ref(t: pa.Table, i: int, item: RowSlice, delta, clock: Clock, data_type: str):
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

    return RowRef(data_type, materialize, item)


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
