"""The per-packet loop: decode, account flows, feed sessions and detectors.

Memory is bounded by the flow table (idle-timeout eviction plus a hard cap),
the fragment table, the TCP reassembly buffers and the carve limit; nothing
grows with the capture's length. `run(packets)` is a generator of records.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from forensics.events import Event, IngestError
from forensics.net import dns, sessions
from forensics.net.detections import Detectors
from forensics.net.decode import Decoder, ip_str
from forensics.net.flows import Flow
from forensics.net.l2 import Notables
from forensics.net.tcpstream import Stream

DNS_PORTS = (53, 5353, 5355)
MAX_TS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the last instant ISO 8601 can spell


class Analyzer:
    def __init__(self, cfg: dict, display_name: str):
        self.cfg = cfg
        self.name = display_name
        self.decoder = Decoder()
        self.table: dict[tuple, tuple[Flow, bool]] = {}
        self.out: list = []
        self.det = Detectors(cfg)
        self.notables = Notables(cfg, self.out, self.det)
        ft = cfg["flow_table"]
        self.max_flows = int(ft["max_flows"])
        self.idle = {6: ft["tcp_idle_s"] * 1_000_000, 17: ft["udp_idle_s"] * 1_000_000}
        self.other_idle = ft["other_idle_s"] * 1_000_000
        self.closed_idle = ft["tcp_closed_idle_s"] * 1_000_000
        self.sweep_mask = max(1, int(ft["sweep_every_packets"]))
        self.carve_limit = int(cfg["carving"]["max_file_bytes"])
        self.problems: dict[str, list] = {}  # reason -> [first frame, first offset, count]
        self.stats = {"packets": 0, "flows": 0, "evicted": 0, "undecoded": 0}
        self.last_ts = 0
        self.dns_n = 0
        self.shared: dict = {}  # cross-flow state of sessions (e.g. IM cookies)

    # -- the loop -------------------------------------------------------------
    def run(self, pkts: Iterable[tuple[int, int, int, int, int, bytes]]) -> Iterator:
        decode = self.decoder.decode
        handle = self._ip
        out = self.out
        mask = self.sweep_mask
        n = 0
        try:
            for frame, off, ts, lt, wl, data in pkts:
                n += 1
                if not 0 <= ts <= MAX_TS:  # a damaged timestamp: keep the packet, pin its time
                    self._problem("timestamp out of range", frame, off)
                    ts = self.last_ts
                try:
                    r = decode(lt, data, ts)
                    if r.__class__ is tuple:
                        if r[0] == "arp":
                            self.notables.arp(r[1], ts, frame, off)
                        else:
                            handle(r, frame, off, ts, wl)
                    elif r is not None:
                        self._problem(r, frame, off)
                    else:
                        self.stats["undecoded"] += 1
                except Exception as e:  # a decoder bug on one packet must not end the capture
                    self._problem(f"could not analyse packet: {type(e).__name__}: {e}", frame, off)
                if out:
                    yield from out
                    out.clear()
                if n % mask == 0:
                    self._sweep(ts)
                    if out:
                        yield from out
                        out.clear()
                self.last_ts = ts
        finally:  # also when damage ends the walk: the summary counts what was read
            self.stats["packets"] = n

    def finish(self) -> Iterator:
        """End of capture (or of the readable part): close flows, run detections, report problems."""
        flows = sorted({id(f): f for f, _ in self.table.values()}.values(), key=lambda f: (f.frame, f.proto))
        for fl in flows:
            self._close(fl)
        self.table.clear()
        yield from self.out
        self.out.clear()
        yield from self.det.finish()
        for reason, (frame, off, count) in self.problems.items():
            more = f" (same problem in {count - 1} more packets)" if count > 1 else ""
            yield IngestError(file=self.name, offset=off, reason=f"packet {frame}: {reason}{more}")

    def _problem(self, reason: str, frame: int, off: int) -> None:
        p = self.problems.get(reason)
        if p is None:
            self.problems[reason] = [frame, off, 1]
        else:
            p[2] += 1

    # -- per packet -----------------------------------------------------------
    def _ip(self, r, frame, off, ts, wl, depth=0):
        ver, src, dst, proto, sport, dport, flags, seq, ack, payload, inner = r
        if proto == 1 or proto == 58:
            self.notables.icmp(r, ts, frame, off)
            sport = dport = 0
        table = self.table
        k = (src, sport, dst, dport, proto)
        e = table.get(k)
        if e is not None and proto == 6 and flags & 0x12 == 0x02:
            fl, fwd = e
            base = fl.seq_a if fwd else fl.seq_b
            if base is not None and base != seq:  # a new connection reusing the 5-tuple
                self._close(fl)
                e = None
        if e is None:
            if proto == 6 and flags & 0x12 == 0x12:  # first seen is the SYN-ACK: the receiver initiated
                fl = Flow(proto, ver, dst, dport, src, sport, ts, frame, off)
                fwd = False
            else:
                fl = Flow(proto, ver, src, sport, dst, dport, ts, frame, off)
                fwd = True
            kr = (dst, dport, src, sport, proto)
            fl.keys = (k, kr)
            table[k] = (fl, fwd)
            table[kr] = (fl, not fwd)
            self.stats["flows"] += 1
            if len(table) > 2 * self.max_flows:
                self._evict_oldest(ts)
        else:
            fl, fwd = e
        fl.last = ts
        plen = len(payload)
        if fwd:
            fl.pa += 1
            fl.ba += wl
            fl.la += plen
            if proto == 6:
                fl.fa |= flags
                if fl.seq_a is None:
                    fl.seq_a = seq if flags & 2 else (seq - 1) & 0xFFFFFFFF
        else:
            fl.pb += 1
            fl.bb += wl
            fl.lb += plen
            if proto == 6:
                fl.fb |= flags
                if fl.seq_b is None:
                    fl.seq_b = seq if flags & 2 else (seq - 1) & 0xFFFFFFFF
            if plen and fl.served_at is None:
                fl.served_at = ts
        if plen:
            if proto == 6:
                app = fl.app
                if app is None:
                    app = fl.app = sessions.pick(fl, fwd, payload, self.carve_limit, self.shared) or False
                    if app:
                        fl.sa, fl.sb = Stream(), Stream()
                        if fl.fa & 2:
                            fl.sa.syn(fl.seq_a)
                        if fl.fb & 2:
                            fl.sb.syn(fl.seq_b)
                if app and app.active:
                    st = fl.sa if fwd else fl.sb
                    for chunk in st.add(seq, payload):
                        app.data(fwd, chunk, ts, frame, off, self.out)
            elif proto == 17 and (sport in DNS_PORTS or dport in DNS_PORTS):
                self._dns(fl, fwd, payload, ts, frame, off)
        if inner is not None and depth < 3:
            self._ip(inner, frame, off, ts, wl, depth + 1)

    def _dns(self, fl: Flow, fwd: bool, payload: bytes, ts: int, frame: int, off: int) -> None:
        m = dns.parse(payload)
        if m is None:
            return
        self.dns_n += 1
        # orient client -> server whatever the packet direction
        if m["response"] and not fwd:
            client, cport, server, sport = fl.a, fl.ap, fl.b, fl.bp
        elif m["response"] and fwd:
            client, cport, server, sport = fl.b, fl.bp, fl.a, fl.ap
        else:
            client, cport, server, sport = (fl.a, fl.ap, fl.b, fl.bp) if fwd else (fl.b, fl.bp, fl.a, fl.ap)
        what = "response" if m["response"] else "query"
        ans = ", ".join(f"{a['type']} {a['value']}" for a in m["answers"][:4])
        msg = f"DNS {what} {m['qtype']} {m['qname']}" + (f" -> {m['rcode']} {ans}".rstrip() if m["response"] else "")
        ev = Event(timestamp=ts, data_type="network:dns", message=msg, locator=f"pkt={frame};off={off}",
                   src_ip=ip_str(client), src_port=cport, dst_ip=ip_str(server), dst_port=sport, proto="udp",
                   domain=m["qname"], attributes=m, discriminator=f"dns-{what}")
        self.out.append(ev)
        if not m["response"]:
            self.det.dns_query(m["qname"], m["qtype"], ev)

    # -- flow lifecycle -------------------------------------------------------
    def _close(self, fl: Flow) -> None:
        for k in fl.keys:
            e = self.table.get(k)
            if e is not None and e[0] is fl:
                del self.table[k]
        if fl.app:
            for st, fwd in ((fl.sa, True), (fl.sb, False)):
                for chunk in st.flush():
                    fl.app.data(fwd, chunk, fl.last, fl.frame, fl.off, self.out)
            fl.app.close(self.out)
        self.out.append(fl.event())
        self.det.flow(fl)

    def _idle_limit(self, fl: Flow) -> int:
        if fl.proto == 6:
            return self.closed_idle if (fl.fa | fl.fb) & 0x05 else self.idle[6]
        return self.idle.get(fl.proto, self.other_idle)

    def _sweep(self, now: int) -> None:
        seen = {}
        for fl, _ in self.table.values():
            seen[id(fl)] = fl
        idle = [f for f in seen.values() if now - f.last > self._idle_limit(f)]
        for fl in sorted(idle, key=lambda f: f.frame):
            self._close(fl)
            self.stats["evicted"] += 1

    def _evict_oldest(self, now: int) -> None:
        flows = list({id(f): f for f, _ in self.table.values()}.values())
        flows.sort(key=lambda f: (f.last, f.frame))
        for fl in flows[: max(1, len(flows) // 10)]:
            self._close(fl)
            self.stats["evicted"] += 1
