"""The analyzer of one worker of a split capture (forensics.net.parallel).

A `PartAnalyzer` runs the single-process per-flow code on the packets its
worker owns, keys every record by where the single-process loop would have
produced it, and forwards detector feeds and cross-flow session state to the
parent as markers (lists) in its output.
"""
from __future__ import annotations

import struct
from typing import Iterator

import numpy as np

from forensics.events import Event
from forensics.net import bulk, capture
from forensics.net.analyzer import MAX_TS, Analyzer
from forensics.net.bulk import AIM_PORT, GOLDEN
from forensics.net.flows import Flow

END = 1 << 62  # sorts after every packet number
BATCH_PACKETS = 16384  # a worker reports progress (a watermark) at least this often
BATCH_GROUPS = 512  # ... and sends as soon as this many record groups are waiting
_pair = struct.Struct("!II").unpack_from
_ports = struct.Struct("!HH").unpack_from


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
    return (((x * GOLDEN) & 0xFFFFFFFF) >> 16) % nparts


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
                return (((s ^ d) * GOLDEN & 0xFFFFFFFF) >> 16) % self.nparts
            if p == 17:
                sp, dp = _ports(data, 34)
                if not (sp == 1701 or dp == 1701 or dp == 4789):
                    s, d = _pair(data, 26)
                    return (((s ^ d) * GOLDEN & 0xFFFFFFFF) >> 16) % self.nparts
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
        """Route a batch vectorised; analyse this worker's packets in order, deferring bulk
        segments (forensics.net.bulk). Returns the last packet number."""
        v = bulk.fields(b, self.nparts)
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
            fl_ids[sel] = bulk.flow_ids(v, sel)
        cid = fl_ids.tolist()
        is_cand = cand.tolist()
        fast = v["fast"].tolist()
        own = v["own"].tolist()
        offs, buf, base, lt = b.offs, b.buf, b.base, b.linktype
        tsl = ts.tolist()
        wire = v["wire"].tolist()
        cap = v["cap"].tolist()
        groups, out, mask = self.groups, self.out, self.sweep_mask
        defer: dict[int, bulk.Run] = {}  # flow id -> the run of its segments being deferred
        known: dict[int, Flow | None] = {}  # flow id -> its Flow while no packet but bulk ones touched it
        members = bulk.Members(fl_ids, cand)
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
                        run = bulk.Run.start(fl, i, plen[i], seq[i], src[i], sport[i])
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

    def _flush(self, run: bulk.Run, idx: np.ndarray, v: dict, b, lists: dict) -> None:
        """A run ends: add its segments to the flow's counters, its kept bytes to the session."""
        fl = run.fl
        if len(idx) <= bulk.SMALL_RUN:
            bulk.apply_few(fl, idx.tolist(), run.a, run.ap, lists)
        else:
            bulk.apply(fl, idx, v)
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


def flow_from(m: list) -> Flow:
    (_, proto, ver, a, ap, b, bp, first, last, frame, off, pa, pb, ba, bb, la, lb, fa, fb, cont) = m
    fl = Flow(proto, ver, a, ap, b, bp, first, frame, off)
    fl.last, fl.pa, fl.pb, fl.ba, fl.bb, fl.la, fl.lb, fl.fa, fl.fb, fl.continued = (
        last, pa, pb, ba, bb, la, lb, fa, fb, cont)
    return fl
