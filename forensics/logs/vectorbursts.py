"""The SSH brute-force, login-after-failures and HTTP brute-force rules over vector rows, set-wise.

`Detector` keeps its state per source address as Python objects (a burst of events, a deque
of recent failures) and is fed one event at a time. For the bulk rows of a large log that was
most of the parent's work, though almost nothing happens per row: a failure extends its
source's burst and joins its recent failures, an HTTP login attempt extends its burst. While
nothing else happens to a source, its rule state is exactly "the list of its failure rows"
and "the list of its HTTP attempt rows" (the burst is every failure since the first, the
recent failures are the same rows, nothing has been cleared or closed). So for a source seen
first on a vector row, this module keeps just those two lists of row references (rows kept
column-wise from the blocks they came in) and, per source, the time of the last row; a
block's rows extend them after a numpy check that none of them does more.

A source's state lives in exactly one place. When a row would do more than extend (a gap
that closes the burst, a login while failures are recent), or an event the line parser made
for the same source arrives, the source's lists become the Detector's own objects
(`take_over`) and the reference code handles it from then on; at the end of the file every
remaining source is handed over for `Detector.finish`. The rules keep one definition and the
detections equal the reference's.
"""
from __future__ import annotations

import os
from collections import deque
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forensics.logs.detections import _S, Detector, _Burst
from forensics.logs.fastpath import DET_FAILURE, DET_HTTP, DET_SUCCESS

try:  # the compiled numbering of sources and user names (_textcodes.c); _Codes and _append are its twin
    from forensics.logs import _textcodes
except ImportError as e:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise ImportError(f"forensics.logs._textcodes is not built ({e}); run `pip install -e .` with a C compiler") from e
    _textcodes = None
KEPT = ("timestamp", "user", "host", "process_pid", "locator", "data_type", "event_id", "_det")
_ROW_BITS = 32


class _Codes:
    """Distinct text values numbered in order of first sight, looked up a column's rows at a time
    (Arrow's index_in against the values seen so far). The twin of _textcodes.TextCodes."""

    def __init__(self):
        self.values: list[str] = []
        self.ids: dict[str, int] = {}
        self._known = pa.array([], pa.string())
        self._pending: list[str] = []

    def lookup(self, arr: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
        """The numbers of rows `rows` of `arr` (-1 for null); new values numbered in row order."""
        out = np.full(len(rows), -1, dtype=np.int64)
        if not len(rows):
            return out
        enc = pc.dictionary_encode(arr.take(pa.array(rows, pa.int64())))
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        values = enc.dictionary
        if self._pending:
            self._known = pa.concat_arrays([self._known, pa.array(self._pending, pa.string())])
            self._pending = []
        at = pc.index_in(values, value_set=self._known).fill_null(-1).to_numpy().astype(np.int64)
        new = np.flatnonzero(at < 0)
        if len(new):
            for k, v in zip(new.tolist(), values.take(pa.array(new)).to_pylist()):
                at[k] = self.ids[v] = len(self.values)
                self.values.append(v)
                self._pending.append(v)
        ix = enc.indices
        valid = ix.is_valid().to_numpy(zero_copy_only=False)
        out[valid] = at[ix.fill_null(0).to_numpy()[valid]] if len(at) else -1
        return out

    def get(self, value: str | None) -> int | None:
        return self.ids.get(value)


class _CompiledCodes:
    """_Codes in a hash table kept across blocks (_textcodes.TextCodes): a row's value is looked up
    from the column's buffers where Arrow would encode the block's values and match them against
    every value seen so far, block after block."""

    def __init__(self):
        self.table = _textcodes.TextCodes()
        self.values: list[str] = self.table.values

    def lookup(self, arr: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
        validity, offsets, data = arr.buffers()
        at, _ = self.table.lookup(validity if arr.null_count else None, arr.offset, offsets,
                                  pa.types.is_large_string(arr.type), data, np.ascontiguousarray(rows, np.int64))
        return np.frombuffer(at, dtype=np.int64)

    def get(self, value: str | None) -> int | None:
        return self.table.get(value)


def _append(lists: list[list[int]], at: np.ndarray, items: np.ndarray, counts: np.ndarray, last: np.ndarray,
            times: np.ndarray) -> None:
    """Row `items` of sources `at` in order: each joins its source's list, counts there, and its time
    is the source's last (the twin of _textcodes.append)."""
    for i, r in zip(at.tolist(), items.tolist()):
        lists[i].append(r)
    u, first, cnt = np.unique(at[::-1], return_index=True, return_counts=True)
    counts[u] += cnt
    last[u] = times[::-1][first]


def _add(sets: list[set], at: np.ndarray, values: list[str], numbers: np.ndarray) -> None:
    """sets[at[i]].add(values[numbers[i]]) for each i whose number is not -1 (a null; the twin of
    _textcodes.add)."""
    for i, k in zip(at.tolist(), numbers.tolist()):
        if k >= 0:
            sets[i].add(values[k])


def codes(compiled: bool = True) -> _Codes | _CompiledCodes:
    """A numbering of text values: the compiled one where _textcodes is built."""
    return _CompiledCodes() if compiled and _textcodes is not None else _Codes()


class VectorBursts:
    """Rule state of the sources only vector rows have touched; `det` holds everyone else's."""

    def __init__(self, det: Detector, make_rows: Callable[[pa.Table, list[str]], list], compiled: bool = True):
        """`make_rows(kept, src_ips)`: the detector's stand-in rows for the rows of a kept table;
        compiled=False: the sources are numbered by the twin (_Codes) even where _textcodes is built."""
        self.det = det
        self.make_rows = make_rows
        self.src_codes = codes(compiled)
        self.srcs = self.src_codes.values
        self.users: list[set] = []  # distinct user names of the source's failures
        self.user_codes = codes(compiled)
        compiled = compiled and _textcodes is not None
        self._append, self._add = (_textcodes.append, _textcodes.add) if compiled else (_append, _add)
        self.unames = self.user_codes.values  # user names by code
        self.owned = np.zeros(0, dtype=bool)  # the source's state is here (else in `det`)
        self.f_n = np.zeros(0, dtype=np.int64)  # failures held, and the last one's time
        self.f_last = np.zeros(0, dtype=np.int64)
        self.h_n = np.zeros(0, dtype=np.int64)  # HTTP attempts held, and the last one's time
        self.h_last = np.zeros(0, dtype=np.int64)
        self.fails: list[list[int] | None] = []  # row references: store << 32 | row
        self.https: list[list[int] | None] = []
        self.stores: list[pa.Table] = []
        self.ssh_gap = det.t["ssh_brute_force"]["max_gap_s"] * _S
        self.http_gap = det.t["http_brute_force"]["max_gap_s"] * _S

    # ---- sources ----
    def _sids(self, values: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> np.ndarray:
        """The source ids of rows `rows` of `values` (-1 for null; new ones numbered here)."""
        first = len(self.srcs)
        at = self.src_codes.lookup(values, rows)
        n = len(self.srcs)
        if n > first:
            added = n - first
            self.fails += [[] for _ in range(added)]
            self.https += [[] for _ in range(added)]
            self.users += [set() for _ in range(added)]
            while n > len(self.owned):
                self._grow(max(1024, 2 * len(self.owned)))
            self.owned[first:n] = True
            # a source the line parser's events touched first stays with the reference code
            new, det = self.srcs[first:], self.det
            touched = (det.ssh.keys() & new) | (det.http.keys() & new) | (det.recent_fail.keys() & new)
            for i in (first + k for k, v in enumerate(new) if v in touched) if touched else ():
                self.owned[i] = False
                self.fails[i] = self.https[i] = None
        return at

    def _grow(self, size: int) -> None:
        for name in ("owned", "f_n", "f_last", "h_n", "h_last"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    # ---- a block's rows ----
    def update(self, s: pa.Table, idx: np.ndarray, codes: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Rows `idx` of `s` (their _det `codes`, in file order): the rows of sources held here
        are taken in; returns the mask of the rows the reference code must still see, in order."""
        sid = self._sids(s.column("src_ip"), idx)
        valid = sid >= 0
        if not len(self.srcs):
            return np.ones(len(idx), dtype=bool)
        own = valid & self.owned[sid]
        t = ts[idx]
        trig: list[np.ndarray] = []
        fail, http = own & (codes == DET_FAILURE), own & (codes == DET_HTTP)
        fi = np.flatnonzero(fail)
        trig.append(self._breaks(sid[fi], t[fi], self.f_n, self.f_last, self.ssh_gap))
        trig.append(self._breaks(sid[own & http], t[own & http], self.h_n, self.h_last, self.http_gap))
        si = np.flatnonzero(own & (codes == DET_SUCCESS))
        if len(si):
            # a login matters once its source has a failure before it (held, or earlier here)
            first_f = np.full(len(self.srcs), len(idx), dtype=np.int64)
            if len(fi):
                u, at = np.unique(sid[fi], return_index=True)
                first_f[u] = fi[at]
            ss = sid[si]
            trig.append(ss[(self.f_n[ss] > 0) | (first_f[ss] < si)])
        hit = np.unique(np.concatenate(trig))
        if len(hit):
            self.take_over(hit.tolist())
            own = valid & self.owned[sid]
            fail, http = own & (codes == DET_FAILURE), own & (codes == DET_HTTP)
        keep = np.flatnonzero(fail | http)
        if len(keep):
            store = len(self.stores)
            self.stores.append(s.select(list(KEPT)).take(pa.array(idx[keep])))
            refs = (store << _ROW_BITS) + np.arange(len(keep), dtype=np.int64)
            is_fail = fail[keep]
            for lists, n, last, m in ((self.fails, self.f_n, self.f_last, is_fail),
                                      (self.https, self.h_n, self.h_last, ~is_fail)):
                if not m.any():
                    continue
                ks, kr, kt = sid[keep[m]], refs[m], t[keep[m]]
                self._append(lists, ks, kr, n, last, kt)
            if is_fail.any():
                self._add_users(sid[keep[is_fail]], self.stores[-1].column("user"), np.flatnonzero(is_fail))
        return ~own

    def _add_users(self, sid: np.ndarray, names: pa.ChunkedArray, rows: np.ndarray) -> None:
        """Rows `rows` of `names` are failures of sources `sid`: their user names join the sources'."""
        self._add(self.users, sid, self.unames, self.user_codes.lookup(names, rows))

    @staticmethod
    def _breaks(sid: np.ndarray, t: np.ndarray, n: np.ndarray, last: np.ndarray, gap: int) -> np.ndarray:
        """Sources among rows (sid, t) where a row comes more than `gap` after the source's previous one."""
        if not len(sid):
            return sid
        order = np.argsort(sid, kind="stable")
        gs, gt = sid[order], t[order]
        head = np.ones(len(gs), dtype=bool)
        head[1:] = gs[1:] != gs[:-1]
        prev = np.empty_like(gt)
        prev[1:] = gt[:-1]
        prev[head] = last[gs[head]]
        seen = ~head | (n[gs] > 0)
        return gs[seen & (gt - prev > gap)]

    # ---- hand-over to the Detector ----
    def take_over_src(self, src: str | None) -> None:
        """Before an event of the line parser's reaches the detector: its source's state goes there."""
        i = self.src_codes.get(src)
        if i is not None and self.owned[i]:
            self.take_over([i])

    def hand_over(self, srcs: list[str]) -> None:
        """Sources whose rows must meet the line parser's events in file order: their state goes to
        the Detector for good (a source not seen yet starts there)."""
        sids = self._sids(pa.array(srcs, pa.string()), np.arange(len(srcs))).tolist()
        held = [i for i in sids if i >= 0 and self.owned[i]]  # -1: a null address, no source
        if held:
            self.take_over(held)

    def take_over(self, sids: list[int], final: bool = False) -> None:
        """The sources' lists as the Detector's bursts and recent failures (exactly what feeding
        their rows one by one would have built). `final`: at the end of the file, when only the
        bursts are read (no recent failures; no PAM counts can follow, so none are kept)."""
        det = self.det
        want = []
        for i in sids:
            f, h = self.fails[i], self.https[i]
            if final:
                want.append(f[:10] + f[-1:] + h[:10] + h[-1:])
            else:
                want.append(f + h)
        rows = self._materialize([r for w in want for r in w], [self.srcs[i] for i, w in zip(sids, want)
                                                                 for _ in w])
        at = 0
        for k, i in enumerate(sids):
            src, f, h = self.srcs[i], self.fails[i], self.https[i]
            got = rows[at:at + len(want[k])]
            at += len(want[k])
            if final:
                nf = min(len(f), 10) + (1 if f else 0)
                fr, hr = got[:nf], got[nf:]
                if f:
                    b = det.ssh[src] = _Burst(fr[0], fr[-1], len(f))
                    b.users = self.users[i]
                    b.samples = fr[:-1]
                if h:
                    b = det.http[src] = _Burst(hr[0], hr[-1], len(h))
                    b.samples = hr[:-1]
            else:
                fr, hr = got[:len(f)], got[len(f):]
                if fr:
                    b = det.ssh[src] = _Burst(fr[0], fr[-1], len(fr))
                    b.users = self.users[i]
                    for e in fr:
                        if e.process_pid is not None:
                            pp = b.per_pid.setdefault((e.host, e.process_pid), [0, 0])
                            pp[1] += 1
                    b.samples = fr[:10]
                    det.recent_fail[src] = deque(fr[-1000:], maxlen=1000)
                if hr:
                    b = det.http[src] = _Burst(hr[0], hr[-1], len(hr))
                    b.samples = hr[:10]
            self.owned[i] = False
            self.fails[i] = self.https[i] = None
            self.users[i] = set()
            self.f_n[i] = self.h_n[i] = 0

    def finish(self) -> None:
        """Every source still held goes to the Detector, for its `finish`."""
        sids = np.flatnonzero(self.owned[:len(self.srcs)] & ((self.f_n > 0) | (self.h_n > 0))[:len(self.srcs)])
        self.take_over(sids.tolist(), final=True)
        self.stores.clear()

    def _materialize(self, refs: list[int], srcs: list[str]) -> list:
        """The detector's stand-in rows for row references, in their order."""
        if not refs:
            return []
        r = np.array(refs, dtype=np.int64)
        store, row = r >> _ROW_BITS, r & 0xFFFFFFFF
        out: list = [None] * len(refs)
        for st in np.unique(store).tolist():
            pos = np.flatnonzero(store == st)
            made = self.make_rows(self.stores[st].take(pa.array(row[pos])), [srcs[p] for p in pos.tolist()])
            for p, m in zip(pos.tolist(), made):
                out[p] = m
        return out
