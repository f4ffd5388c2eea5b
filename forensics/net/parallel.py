"""One capture analysed by several processes, split by host pair, merged back exactly.

The per-packet Python work (flow accounting, TCP reassembly, sessions,
carving) is what bounds the ingestor, and it is independent between flows. So
each of `nparts` workers walks the whole file (record headers plus the few
header bytes needed to route a packet) and fully analyses only the packets it
owns; everything cross-flow happens once, in the parent:

- Routing is by unordered IP pair (a symmetric hash of the two addresses), so a
  flow, its IP fragments, and every flow between the same two hosts (SMB's
  admin-share write then service creation, keyed by client and server) are
  seen whole by one worker. ARP, ICMP (global notable bounds), tunnels (GRE,
  IP-in-IP, L2TP, VXLAN: their inner flows stay with the outer one), AIM on
  port 5190 (cookies shared between the OSCAR and OFT connections), other IP
  protocols, and every packet that cannot be decoded belong to worker 0.
  Packets that need more than a glance to route (VLAN tags, IPv6, fragments,
  other link types) are decoded by every worker, so the fragment table and the
  decoder's counters are identical everywhere; only the owner acts on them.
- Every record a worker produces is keyed by where the single-process loop
  would have produced it: (packet number, 0) during a packet, (packet number,
  1, first frame of the flow) for an idle-sweep close, (END, 2, first frame,
  proto) for the closes at the end. Workers send the keys with batches of
  records and a watermark; the parent merges the streams by key, which gives
  exactly the single-process order (ties cannot happen: a flow has one owner).
- AIM file transfers name their peer from an offer seen in another (OSCAR)
  connection, which may belong to another worker: workers forward offers and
  lookups as markers and the parent redoes the lookup in merged order.
- Detectors (scan, beaconing, brute force, exfiltration per destination, DNS
  tunnelling, outages, floods) see the union: workers forward each closed
  flow's counters and each DNS query as markers in the stream, and the parent
  feeds one `Detectors` in merged order, as the single process would.

The one difference from the single-process path: when more than
`flow_table.max_flows` flows are live at once, each worker evicts from its own
table (bounded at max_flows / nparts), so which flows are cut early can differ.
A flow seen both inside a tunnel and outside it is split between the tunnel's
owner and the pair's owner.
"""
from __future__ import annotations

import multiprocessing
import operator
import pickle
import resource
import struct
import time
from dataclasses import fields
from typing import Callable, Iterator

import numpy as np

from forensics.events import Event
from forensics.net import aim, capture
from forensics.net.analyzer import MAX_TS, Analyzer
from forensics.net.decode import SUPPORTED_LINKTYPES
from forensics.net.detections import Detectors
from forensics.net.flows import Flow

END = 1 << 62  # sorts after every packet number
BATCH_PACKETS = 16384  # a worker reports progress (a watermark) at least this often
BATCH_GROUPS = 512  # ... and sends as soon as this many record groups are waiting
SMALL_RUN = 16  # deferred segments added one by one below this (numpy's per-call cost dominates)
_FIELDS = operator.attrgetter(*(f.name for f in fields(Event)))
_pair = struct.Struct("!II").unpack_from
_ports = struct.Struct("!HH").unpack_from
_GOLDEN = 2654435761  # Knuth's multiplicative hash: spreads nearby addresses over the workers
AIM_PORT = 5190


def owner_of(r, nparts: int) -> int:
    """The worker that owns a decoded packet (see the module docstring)."""
    proto = r[3]
    if proto == 6:
        if r[4] == AIM_PORT or r[5] == AIM_PORT:
            return 0
    elif proto == 17:
        if r[4] == 1701 or r[5] == 1701 or r[5] == 4789:
            return 0
    else:
        return 0
    x = int.from_bytes(r[1], "big") ^ int.from_bytes(r[2], "big")
    if r[0] == 6:
        x ^= x >> 64
        x = (x ^ (x >> 32)) & 0xFFFFFFFF
    return (((x * _GOLDEN) & 0xFFFFFFFF) >> 16) % nparts


class PartAnalyzer(Analyzer):
    """The analyzer of one worker: same per-flow code, keyed output, detector calls forwarded."""

    def __init__(self, cfg: dict, display_name: str, part: int, nparts: int):
        cfg = dict(cfg, flow_table=dict(cfg["flow_table"]))
        cfg["flow_table"]["max_flows"] = max(1, int(cfg["flow_table"]["max_flows"]) // nparts)
        super().__init__(cfg, display_name)
        self.part, self.nparts = part, nparts
        self.det = _DetectorFeed(self.out)
        self.shared = {"split": True}  # sessions tell the parent about cross-flow state
        self.groups: list = []  # (key, [records]) waiting to be sent

    def run_part(self, items) -> Iterator[tuple]:
        """Yield (groups, watermark) batches; the watermark is below every key still to come.

        `items` are `capture.batches` output: `Batch`es of classic-pcap records, routed and
        (for bulk TCP) accounted vectorised, or per-packet tuples (pcapng, damaged tails)."""
        groups = self.groups
        out = self.out
        mask = self.sweep_mask
        n = 0
        try:
            for item in items:
                if item.__class__ is capture.Batch:
                    n = self._batch(item)
                    yield groups[:], (n, 2)
                    groups.clear()
                    continue
                frame, off, ts, lt, wl, data = item
                n += 1
                if not 0 <= ts <= MAX_TS:
                    if self.part == 0:
                        self._problem("timestamp out of range", frame, off)
                    ts = self.last_ts
                self._packet(frame, off, ts, lt, wl, data, self._route(lt, data))
                if out:
                    groups.append(((n, 0), out[:]))
                    out.clear()
                if n % mask == 0:
                    self._sweep_keyed(ts, n)
                self.last_ts = ts
                if n % BATCH_PACKETS == 0 or len(groups) >= BATCH_GROUPS:
                    yield groups[:], (n, 2)
                    groups.clear()
        finally:  # also when damage ends the walk: the summary counts what was read
            self.stats["packets"] = n
        if groups:
            yield groups[:], (n, 2)
            groups.clear()

    def _route(self, lt: int, data: bytes) -> int:
        """The owner from a glance at plain Ethernet/IPv4 TCP or UDP without options or fragments; -1 otherwise."""
        if lt == 1 and len(data) >= 38 and data[14] == 0x45 and data[12:14] == b"\x08\x00" \
                and not (data[20] & 0x3F or data[21]):
            p = data[23]
            if p == 6:
                sp, dp = _ports(data, 34)
                if sp == AIM_PORT or dp == AIM_PORT:
                    return 0
                s, d = _pair(data, 26)
                return (((s ^ d) * _GOLDEN & 0xFFFFFFFF) >> 16) % self.nparts
            if p == 17:
                sp, dp = _ports(data, 34)
                if not (sp == 1701 or dp == 1701 or dp == 4789):
                    s, d = _pair(data, 26)
                    return (((s ^ d) * _GOLDEN & 0xFFFFFFFF) >> 16) % self.nparts
        return -1

    def _packet(self, frame, off, ts, lt, wl, data, own) -> None:
        """One packet, as the single-process loop would treat it, if this worker is responsible for it."""
        part = self.part
        if own == part:
            try:
                r = self.decoder.decode(lt, data, ts)
                if r.__class__ is tuple:
                    self._ip(r, frame, off, ts, wl)
                elif r is not None:
                    self._problem(r, frame, off)
                else:
                    self.stats["undecoded"] += 1
            except Exception as e:
                self._problem(f"could not analyse packet: {type(e).__name__}: {e}", frame, off)
        elif own < 0:  # every worker decodes: fragment and tunnel state must match everywhere
            try:
                r = self.decoder.decode(lt, data, ts)
            except Exception as e:
                r = f"could not analyse packet: {type(e).__name__}: {e}"
            if r.__class__ is tuple:
                if r[0] == "arp":
                    if part == 0:
                        try:
                            self.notables.arp(r[1], ts, frame, off)
                        except Exception as e:
                            self._problem(f"could not analyse packet: {type(e).__name__}: {e}", frame, off)
                elif owner_of(r, self.nparts) == part:
                    try:
                        self._ip(r, frame, off, ts, wl)
                    except Exception as e:
                        self._problem(f"could not analyse packet: {type(e).__name__}: {e}", frame, off)
            elif part == 0:
                if r is not None:
                    self._problem(r, frame, off)
                else:
                    self.stats["undecoded"] += 1

    # -- a batch of classic-pcap records ------------------------------------------
    def _batch(self, b) -> int:
        """Route a batch vectorised; analyse this worker's packets in order. Returns the last packet number.

        Bulk TCP segments (no SYN/FIN/RST, of a flow that already exists and whose session,
        if any, wants no more bytes) only add to their flow's counters: those are deferred
        and added with numpy just before anything else can look at the flow (its next
        other packet, a sweep, the end of the batch), so every flow reads as it would
        have packet by packet."""
        v = _fields(b, self.nparts)
        m = len(b.offs)
        frame0 = b.frame0
        ts = v["ts"]
        if int(ts.min()) < 0 or int(ts.max()) > MAX_TS:  # cannot happen with 32-bit seconds; stay exact anyway
            for i in range(m):
                o = b.offs[i]
                cap = v["cap"][i]
                self._one_tuple(frame0 + i + 1, b.base + o, int(ts[i]), b.linktype, int(v["wire"][i]),
                                b.buf[o + 16:o + 16 + int(cap)])
            return frame0 + m
        mine = v["fast"] & (v["own"] == self.part)
        act = mine | ~v["fast"]
        cand = mine & v["bulk"]
        if len(self.table) + 2 * m > 2 * self.max_flows:  # eviction reads every flow: no deferral near the cap
            cand[:] = False
        fl_ids = np.full(m, -1, dtype=np.int64)
        sel = np.flatnonzero(mine)
        if len(sel) and cand.any():
            fl_ids[sel] = _flow_ids(v, sel)
        cid = fl_ids.tolist()
        is_cand = cand.tolist()
        fast = v["fast"].tolist()
        own = v["own"].tolist()
        offs, buf, base, lt = b.offs, b.buf, b.base, b.linktype
        tsl = ts.tolist()
        wire = v["wire"].tolist()
        cap = v["cap"].tolist()
        groups, out, mask = self.groups, self.out, self.sweep_mask
        defer: dict[int, _Run] = {}  # flow id -> the run of its segments being deferred
        known: dict[int, Flow | None] = {}  # flow id -> its Flow while no packet but bulk ones touched it
        members = _Members(fl_ids, cand)
        lists = {k: v[k].tolist() for k in ("plen", "seq", "src", "sport", "hl", "wire", "flags", "ts")}
        plen, seq, src, sport = lists["plen"], lists["seq"], lists["src"], lists["sport"]
        todo = np.flatnonzero(act)
        sweeps = list(range((-frame0 - 1) % mask, m, mask))  # indices after which the table is swept
        stops = sweeps if sweeps and sweeps[-1] == m - 1 else sweeps + [m - 1]
        sweeps = set(sweeps)
        a = 0
        for stop in stops:
            hi = int(np.searchsorted(todo, stop, side="right"))
            for i in todo[a:hi].tolist():
                if is_cand[i]:
                    c = cid[i]
                    run = defer.get(c)
                    if run is not None:
                        p = plen[i]
                        if run.settled or not p:
                            continue
                        f = 1 if src[i] == run.a and sport[i] == run.ap else 0
                        if run.room[f] >= p and seq[i] == run.nxt[f]:  # the next in-order bytes a session just keeps
                            run.room[f] -= p
                            run.nxt[f] = (seq[i] + p) & 0xFFFFFFFF
                            run.pieces.append(i)
                            continue
                        del defer[c]
                        self._flush(run, members.upto(c, run.first, i), v, b, lists)
                    fl = known.get(c)
                    if fl is None:
                        fl = known[c] = self._flow_at(buf, offs[i] + 16)
                    if fl is not None:
                        run = _Run.start(fl, i, plen[i], seq[i], src[i], sport[i])
                        if run is not None:
                            defer[c] = run
                            continue
                    else:
                        del known[c]  # this packet creates the flow
                elif not fast[i]:  # could be any flow (tunnel, fragment, VLAN...)
                    for c in list(defer):
                        run = defer.pop(c)
                        self._flush(run, members.upto(c, run.first, i), v, b, lists)
                    known.clear()
                else:
                    c = cid[i]
                    if c in defer:
                        run = defer.pop(c)
                        self._flush(run, members.upto(c, run.first, i), v, b, lists)
                    known.pop(c, None)  # a SYN, FIN or RST may replace or close the flow
                o = offs[i]
                t = tsl[i]
                self._packet(frame0 + i + 1, base + o, t, lt, wire[i], buf[o + 16:o + 16 + cap[i]],
                             own[i] if fast[i] else -1)
                if out:
                    groups.append(((frame0 + i + 1, 0), out[:]))
                    out.clear()
            a = hi
            known.clear()  # a sweep may close flows
            for c in list(defer):
                run = defer.pop(c)
                self._flush(run, members.upto(c, run.first, stop + 1), v, b, lists)
            if stop in sweeps:
                self._sweep_keyed(tsl[stop], frame0 + stop + 1)
        self.last_ts = tsl[-1]
        return frame0 + m

    def _flush(self, run: "_Run", idx: np.ndarray, v: dict, b, lists: dict) -> None:
        """A run ends: add its segments to the flow's counters, its kept bytes to the session."""
        fl = run.fl
        if len(idx) <= SMALL_RUN:
            _apply_few(fl, idx.tolist(), run.a, run.ap, lists)
        else:
            _apply(fl, idx, v)
        if not run.pieces:
            return
        hl, plen = lists["hl"], lists["plen"]
        buf, offs = b.buf, b.offs
        sides: dict[int, list] = {1: [], 0: []}
        for i in run.pieces:
            o = offs[i]
            at = o + 50 + hl[i]  # record header, Ethernet, IPv4 (no options), TCP header
            f = 1 if lists["src"][i] == run.a and lists["sport"][i] == run.ap else 0
            sides[f].append((buf[at:at + plen[i]], int(v["ts"][i]), b.frame0 + i + 1, b.base + o))
        for f, pieces in sides.items():
            if pieces:
                (fl.sa if f else fl.sb).next_seq = run.nxt[f]
                fl.app.absorb(bool(f), pieces)

    def _one_tuple(self, frame, off, ts, lt, wl, data) -> None:
        n = frame
        if not 0 <= ts <= MAX_TS:
            if self.part == 0:
                self._problem("timestamp out of range", frame, off)
            ts = self.last_ts
        self._packet(frame, off, ts, lt, wl, data, self._route(lt, data))
        if self.out:
            self.groups.append(((n, 0), self.out[:]))
            self.out.clear()
        if n % self.sweep_mask == 0:
            self._sweep_keyed(ts, n)
        self.last_ts = ts

    def _flow_at(self, buf: bytes, d: int) -> Flow | None:
        """The live flow of the TCP segment whose frame starts at `d`."""
        e = self.table.get((buf[d + 26:d + 30], (buf[d + 34] << 8) | buf[d + 35], buf[d + 30:d + 34],
                            (buf[d + 36] << 8) | buf[d + 37], 6))
        return None if e is None else e[0]


    def _sweep_keyed(self, now: int, n: int) -> None:
        seen = {}
        for fl, _ in self.table.values():
            seen[id(fl)] = fl
        idle = [f for f in seen.values() if now - f.last > self._idle_limit(f)]
        for fl in sorted(idle, key=lambda f: f.frame):
            self._close(fl)
            self.stats["evicted"] += 1
            self.groups.append(((n, 1, fl.frame), self.out[:]))
            self.out.clear()

    def finish_part(self) -> list:
        """Close the open flows (keyed like the single-process end of capture); detectors run in the parent."""
        flows = sorted({id(f): f for f, _ in self.table.values()}.values(), key=lambda f: (f.frame, f.proto))
        groups = []
        for fl in flows:
            self._close(fl)
            groups.append(((END, 2, fl.frame, fl.proto), self.out[:]))
            self.out.clear()
        self.table.clear()
        return groups


class _DetectorFeed:
    """Stands in for `Detectors` in a worker: each call becomes a marker (a list) in the output."""

    def __init__(self, out: list):
        self.out = out

    def flow(self, fl: Flow) -> None:
        self.out.append(["flow", fl.proto, fl.ver, fl.a, fl.ap, fl.b, fl.bp, fl.first, fl.last, fl.frame, fl.off,
                         fl.pa, fl.pb, fl.ba, fl.bb, fl.la, fl.lb, fl.fa, fl.fb, fl.continued])

    def dns_query(self, qname: str, qtype: str, ev: Event) -> None:
        self.out.append(["dns", qname, qtype])  # the query's event is the record just before


def _apply_few(fl: Flow, idx: list, a: int, ap: int, lists: dict) -> None:
    """`_apply` for a short run, packet by packet as the analyzer would (numpy costs more than it saves)."""
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


def _apply(fl: Flow, idx: np.ndarray, v: dict) -> None:
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


class _Run:
    """Segments of one flow deferred since `first`: all of them (`settled`: no session wants bytes), or
    payload-free ones plus the in-order bytes the active session can keep without producing
    anything (`room` per direction, 1 = from the initiator), which it takes at the flush."""

    __slots__ = ("fl", "first", "settled", "a", "ap", "room", "nxt", "pieces")

    @classmethod
    def start(cls, fl: Flow, i: int, plen: int, seq: int, src: int, sport: int) -> "_Run | None":
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


_HDR = np.arange(16, dtype=np.int64)
# frame bytes read: ethertype, IPv4 version/length/flags/protocol/addresses, ports, sequence, TCP offset/flags
_USED = np.array([12, 13, 14, 16, 17, 20, 21, 23, *range(26, 42), 46, 47], dtype=np.int64)


def _fields(b, nparts: int) -> dict:
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
    own = ((((src ^ dst) * _GOLDEN) & 0xFFFFFFFF) >> 16) % nparts
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


def _flow_ids(v: dict, sel: np.ndarray) -> np.ndarray:
    """One id per TCP/UDP conversation (either direction) among the packets `sel`, exact (no hashing)."""
    ea = (v["src"][sel] << 16) | v["sport"][sel]
    eb = (v["dst"][sel] << 16) | v["dport"][sel]
    lo = np.unique(np.minimum(ea, eb), return_inverse=True)[1].reshape(-1)
    hi = np.unique(np.maximum(ea, eb), return_inverse=True)[1].reshape(-1)
    return np.unique(lo * len(sel) + hi, return_inverse=True)[1].reshape(-1)


class _Members:
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


def _flow_from(m: list) -> Flow:
    (_, proto, ver, a, ap, b, bp, first, last, frame, off, pa, pb, ba, bb, la, lb, fa, fb, cont) = m
    fl = Flow(proto, ver, a, ap, b, bp, first, frame, off)
    fl.last, fl.pa, fl.pb, fl.ba, fl.bb, fl.la, fl.lb, fl.fa, fl.fb, fl.continued = (
        last, pa, pb, ba, bb, la, lb, fa, fb, cont)
    return fl


# -- a worker -----------------------------------------------------------------
def worker_messages(path, part: int, nparts: int, cfg: dict, name: str) -> Iterator[tuple]:
    """Everything one worker tells the parent: ("recs", groups, watermark)... then ("end", summary)."""
    an = PartAnalyzer(cfg, name, part, nparts)
    info: dict = {}
    damage = None
    with open(path, "rb") as f:
        try:
            for groups, wm in an.run_part(capture.batches(f, info, SUPPORTED_LINKTYPES)):
                yield "recs", groups, wm
        except capture.CaptureDamage as e:
            damage = ("damage", e.offset, e.reason)
        except Exception as e:
            damage = ("internal", None, f"internal error while decoding: {type(e).__name__}: {e}")
    groups = an.groups[:]  # what the walk produced before damage stopped it
    finish_error = None
    try:
        groups += an.finish_part()
    except Exception as e:
        finish_error = f"internal error while finishing: {type(e).__name__}: {e}"
    if groups:
        yield "recs", groups, (END, 3)
    yield "end", {"info": info, "stats": an.stats, "problems": an.problems, "last_ts": an.last_ts,
                  "fragments": an.decoder.fragments, "reassembled": an.decoder.reassembled,
                  "damage": damage, "finish_error": finish_error,
                  # diagnostics for the benchmark, not in any record
                  "cpu_s": time.process_time(), "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# -- the parent -----------------------------------------------------------------
class Merged:
    """Merge worker message streams by key; after iteration, the combined end-of-capture state."""

    def __init__(self, sources: list[Callable[[], tuple]], cfg: dict, name: str):
        self.sources = sources  # each returns the worker's next message
        self.det = Detectors(cfg)
        self.name = name
        self.summaries: list[dict | None] = [None] * len(sources)
        self.shared: dict = {}  # cross-flow session state (AIM offers), replayed in single-process order
        self.oft_peers: dict[str, str | None] = {}  # OFT2 file event locator -> peer as of its header

    def records(self) -> Iterator:
        n = len(self.sources)
        heads: list[list] = [[] for _ in range(n)]  # pending groups per worker (consumed from index pos[i])
        pos = [0] * n
        wm: list[tuple] = [(-1,)] * n
        ended = [False] * n
        det = self.det
        while True:
            best, bkey, bhead = -1, None, False
            for i in range(n):
                if pos[i] < len(heads[i]):
                    k, head = heads[i][pos[i]][0], True
                elif ended[i]:
                    continue
                else:
                    k, head = wm[i], False
                if bkey is None or k < bkey:
                    best, bkey, bhead = i, k, head
            if best < 0:
                return
            if not bhead:  # the lowest bound is a worker's watermark: hear more from it
                msg = self.sources[best]()
                if msg[0] == "recs":
                    heads[best] = heads[best][pos[best]:] + msg[1]
                    pos[best] = 0
                    wm[best] = msg[2]
                else:
                    ended[best] = True
                    self.summaries[best] = msg[1]
                continue
            recs = heads[best][pos[best]][1]
            heads[best][pos[best]] = None
            pos[best] += 1
            prev = None
            for r in recs:
                t = r.__class__
                if t is tuple or t is Event:
                    prev = Event(*r) if t is tuple else r
                    if prev.discriminator == "oft-file" and prev.locator in self.oft_peers:
                        aim.with_peer(prev, self.oft_peers.pop(prev.locator))
                    yield prev
                elif t is list:
                    kind = r[0]
                    if kind == "flow":
                        det.flow(_flow_from(r))
                    elif kind == "dns":
                        det.dns_query(r[1], r[2], prev)
                    elif kind == "aim_offer":
                        aim.register_offer(self.shared, *r[1:])
                    else:  # "aim_lookup": as of this packet, with every worker's offers so far
                        self.oft_peers[r[4]] = aim.offer_peer(self.shared, r[1], r[2], r[3])
                else:
                    yield r

    def problems(self) -> list[tuple[str, list]]:
        """Per-packet problems of all workers, in the order the single process first met them."""
        merged: dict[str, list] = {}
        for s in self.summaries:
            for reason, (frame, off, count) in s["problems"].items():
                m = merged.get(reason)
                if m is None:
                    merged[reason] = [frame, off, count]
                else:
                    if frame < m[0]:
                        m[0], m[1] = frame, off
                    m[2] += count
        # within one packet the timestamp check comes before decoding
        return sorted(merged.items(), key=lambda kv: (kv[1][0], kv[0] != "timestamp out of range"))

    def stats(self) -> dict:
        first = self.summaries[0]["stats"]
        out = dict(first)
        for s in self.summaries[1:]:
            for k in ("flows", "evicted", "undecoded"):
                out[k] += s["stats"][k]
        return out


def encode(msg: tuple) -> bytes:
    """Pickle a message with events as plain field tuples (a fraction of the cost of the dataclass)."""
    if msg[0] == "recs":
        groups = [(k, [_FIELDS(r) if r.__class__ is Event else r for r in recs]) for k, recs in msg[1]]
        msg = ("recs", groups, msg[2])
    return pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)


def in_process_sources(path, nparts: int, cfg: dict, name: str) -> list[Callable[[], tuple]]:
    """The workers as generators in this process (tests, and where no process can be started)."""
    sources = []
    for part in range(nparts):
        gen = worker_messages(path, part, nparts, cfg, name)
        sources.append(lambda g=gen: pickle.loads(encode(next(g))))  # through the same encoding as a pipe
    return sources


def _child(conn, path, part, nparts, cfg, name) -> None:
    try:
        for msg in worker_messages(path, part, nparts, cfg, name):
            conn.send_bytes(encode(msg))
    except BaseException as e:  # noqa: BLE001 - the parent must hear why, whatever it was
        try:
            conn.send_bytes(pickle.dumps(("fail", f"{type(e).__name__}: {e}")))
        except OSError:
            pass
    finally:
        conn.close()


class Workers:
    """`nparts` forked worker processes over one capture; None from `start` when none can be started."""

    def __init__(self, procs, conns):
        self.procs, self.conns = procs, conns

    @classmethod
    def start(cls, path, nparts: int, cfg: dict, name: str) -> "Workers | None":
        if "fork" not in multiprocessing.get_all_start_methods():
            return None
        mp = multiprocessing.get_context("fork")  # nothing to re-import or pickle; the workers only read the file
        procs, conns = [], []
        try:
            for part in range(nparts):
                receiver, sender = mp.Pipe(duplex=False)
                p = mp.Process(target=_child, args=(sender, str(path), part, nparts, cfg, name),
                               name=f"cyberclaim-pcap-{part}", daemon=True)
                p.start()
                sender.close()
                procs.append(p)
                conns.append(receiver)
        except (OSError, AssertionError):  # no process to spare, or a daemonic parent (a pool worker)
            cls(procs, conns).stop()
            return None
        return cls(procs, conns)

    def sources(self) -> list[Callable[[], tuple]]:
        return [lambda i=i: self._recv(i) for i in range(len(self.conns))]

    def _recv(self, i: int) -> tuple:
        try:
            msg = pickle.loads(self.conns[i].recv_bytes())
        except EOFError:
            raise RuntimeError(f"pcap worker {i} ended without finishing (exit code {self.procs[i].exitcode})") from None
        if msg[0] == "fail":
            raise RuntimeError(f"pcap worker {i} failed: {msg[1]}")
        return msg

    def stop(self) -> None:
        for c in self.conns:
            c.close()
        for p in self.procs:
            if p.is_alive():  # the consumer stopped early: the rest is not wanted
                p.terminate()
            p.join()

