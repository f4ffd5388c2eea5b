"""Batches of classic-pcap records for a worker of a split capture, vectorised.

`fields` reads the header bytes of every record of a batch with two numpy
gathers and derives routing (owner per host pair) and bulk masks. A bulk TCP
segment (plain Ethernet/IPv4, no SYN/FIN/RST, a valid header) of a flow that
already exists can be deferred: `Run` collects such segments of one flow from
`first` on, and at the flush (before any other packet of that flow, a sweep, a
packet that could belong to any flow, or the end of the batch) their counts,
bytes and flags are added at once (`apply`, or `apply_few` for short runs) and
the in-order bytes an active session only keeps are handed to it in one go
(`Session.absorb`). Nothing else reads a flow in between, so every flow ends up
exactly as packet-by-packet analysis leaves it.
"""
from __future__ import annotations

import numpy as np

from forensics.net.flows import Flow

SMALL_RUN = 16  # deferred segments added one by one below this (numpy's per-call cost dominates)
GOLDEN = 2654435761  # Knuth's multiplicative hash: spreads nearby addresses over the workers
AIM_PORT = 5190


_HDR = np.arange(16, dtype=np.int64)
# frame bytes read: ethertype, IPv4 version/length/flags/protocol/addresses, ports, sequence, TCP offset/flags
_USED = np.array([12, 13, 14, 16, 17, 20, 21, 23, *range(26, 42), 46, 47], dtype=np.int64)


def fields(b, nparts: int) -> dict:
    """Header fields of every record of a batch at once (two numpy gathers), plus routing and bulk masks."""
    buf = np.frombuffer(b.buf, dtype=np.uint8)
    top = len(buf) - 1
    o = np.asarray(b.offs, dtype=np.int64)
    rec = buf[o[:, None] + _HDR].view(b.order + "u4").astype(np.int64)  # sec, frac, caplen, wirelen
    sec, frac, cap, wire = rec[:, 0], rec[:, 1], rec[:, 2], rec[:, 3]
    # one row per header byte used (rows are contiguous); bytes past a short frame are masked below
    g = buf[np.minimum(o[None, :] + 16 + _USED[:, None], top)].astype(np.int64)
    h = {k: g[j] for j, k in enumerate(_USED.tolist())}

    def be(at, size):
        x = h[at]
        for k in range(1, size):
            x = (x << 8) | h[at + k]
        return x

    proto = h[23]
    sport, dport = be(34, 2), be(36, 2)
    src, dst = be(26, 4), be(30, 4)
    fast = ((cap >= 38) & (h[12] == 0x08) & (h[13] == 0x00) & (h[14] == 0x45)
            & ((h[20] & 0x3F) == 0) & (h[21] == 0)
            & ((proto == 6) | ((proto == 17) & (sport != 1701) & (dport != 1701) & (dport != 4789))))
    if b.linktype != 1:
        fast[:] = False
    own = ((((src ^ dst) * GOLDEN) & 0xFFFFFFFF) >> 16) % nparts
    own[(proto == 6) & ((sport == AIM_PORT) | (dport == AIM_PORT))] = 0
    doff = h[46]
    hl = (doff >> 4) * 4
    flags = h[47] | ((doff & 1) << 8)
    total = be(16, 2)
    lim = np.minimum(np.where(total >= 20, 14 + total, cap), cap)
    bulk = fast & (proto == 6) & (hl >= 20) & (lim - 34 >= hl) & ((flags & 0x07) == 0)
    return {"ts": sec * 1_000_000 + frac // b.ns_div, "cap": cap, "wire": wire, "fast": fast, "own": own,
            "bulk": bulk, "src": src, "dst": dst, "sport": sport, "dport": dport, "flags": flags,
            "plen": lim - 34 - hl, "seq": be(38, 4), "hl": hl}


def flow_ids(v: dict, sel: np.ndarray) -> np.ndarray:
    """One id per TCP/UDP conversation (either direction) among the packets `sel`, exact (no hashing)."""
    ea = (v["src"][sel] << 16) | v["sport"][sel]
    eb = (v["dst"][sel] << 16) | v["dport"][sel]
    lo = np.unique(np.minimum(ea, eb), return_inverse=True)[1].reshape(-1)
    hi = np.unique(np.maximum(ea, eb), return_inverse=True)[1].reshape(-1)
    return np.unique(lo * len(sel) + hi, return_inverse=True)[1].reshape(-1)


class Members:
    """Bulk candidates of each flow id, in packet order."""

    def __init__(self, fl_ids: np.ndarray, cand: np.ndarray):
        idx = np.flatnonzero(cand)
        ids = fl_ids[idx]
        order = np.argsort(ids, kind="stable")
        idx, ids = idx[order], ids[order]
        cuts = np.flatnonzero(np.diff(ids)) + 1
        self.arr = {int(g[0]): x for g, x in zip(np.split(ids, cuts), np.split(idx, cuts))} if len(idx) else {}

    def upto(self, c: int, first: int, end: int) -> np.ndarray:
        """Candidates of `c` with first <= index < end: a deferred run (all of them were deferred)."""
        a = self.arr[c]
        return a[int(np.searchsorted(a, first)):int(np.searchsorted(a, end))]


class Run:
    """Segments of one flow deferred since `first`: all of them (`settled`: no session wants bytes), or
    payload-free ones plus the in-order bytes the active session can keep without producing
    anything (`room` per direction, 1 = from the initiator), which it takes at the flush."""

    __slots__ = ("fl", "first", "settled", "a", "ap", "room", "nxt", "pieces")

    @classmethod
    def start(cls, fl: Flow, i: int, plen: int, seq: int, src: int, sport: int) -> "Run | None":
        """A run starting with segment i, or None when that segment must be analysed now."""
        if fl.keys[0] == fl.keys[1]:
            return None  # a flow talking to itself: both directions share one table entry
        app = fl.app
        if app is None:
            return None  # the first payload picks the session
        r = cls()
        r.fl, r.first, r.pieces = fl, i, []
        r.a, r.ap = int.from_bytes(fl.a, "big"), fl.ap
        r.settled = not (app and app.active)
        if r.settled:
            return r
        r.room, r.nxt = [0, 0], [None, None]
        for f, st in ((1, fl.sa), (0, fl.sb)):
            if not st.pending and st.next_seq is not None:
                r.room[f], r.nxt[f] = app.capacity(bool(f)), st.next_seq
        if plen:
            f = 1 if src == r.a and sport == r.ap else 0
            if r.room[f] < plen or seq != r.nxt[f]:
                return None
            r.room[f] -= plen
            r.nxt[f] = (seq + plen) & 0xFFFFFFFF
            r.pieces.append(i)
        return r


def apply_few(fl: Flow, idx: list, a: int, ap: int, lists: dict) -> None:
    """`apply` for a short run, packet by packet as the analyzer would (numpy costs more than it saves)."""
    src, sport, wire, plen, flags, seq, ts = (lists[k] for k in ("src", "sport", "wire", "plen", "flags", "seq", "ts"))
    for i in idx:
        if src[i] == a and sport[i] == ap:
            fl.pa += 1
            fl.ba += wire[i]
            fl.la += plen[i]
            fl.fa |= flags[i]
            if fl.seq_a is None:
                fl.seq_a = (seq[i] - 1) & 0xFFFFFFFF
        else:
            fl.pb += 1
            fl.bb += wire[i]
            fl.lb += plen[i]
            fl.fb |= flags[i]
            if fl.seq_b is None:
                fl.seq_b = (seq[i] - 1) & 0xFFFFFFFF
            if plen[i] and fl.served_at is None:
                fl.served_at = ts[i]
    if idx:
        fl.last = ts[idx[-1]]


def apply(fl: Flow, idx: np.ndarray, v: dict) -> None:
    """Add deferred bulk segments (indices into the batch, in order) to their flow."""
    if not len(idx):
        return
    a_ip = int.from_bytes(fl.a, "big")
    fwd = (v["src"][idx] == a_ip) & (v["sport"][idx] == fl.ap)
    wl, plen, flags, seq, ts = v["wire"][idx], v["plen"][idx], v["flags"][idx], v["seq"][idx], v["ts"][idx]
    for side, sel in ((True, fwd), (False, ~fwd)):
        k = int(sel.sum())
        if not k:
            continue
        w = wl[sel]
        p = plen[sel]
        f = int(np.bitwise_or.reduce(flags[sel]))
        first_seq = (int(seq[sel][0]) - 1) & 0xFFFFFFFF  # no SYN among bulk segments
        if side:
            fl.pa += k
            fl.ba += int(w.sum())
            fl.la += int(p.sum())
            fl.fa |= f
            if fl.seq_a is None:
                fl.seq_a = first_seq
        else:
            fl.pb += k
            fl.bb += int(w.sum())
            fl.lb += int(p.sum())
            fl.fb |= f
            if fl.seq_b is None:
                fl.seq_b = first_seq
            if fl.served_at is None:
                served = np.flatnonzero(p > 0)
                if len(served):
                    fl.served_at = int(ts[sel][served[0]])
    fl.last = int(ts[-1])
