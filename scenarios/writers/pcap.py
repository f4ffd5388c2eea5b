"""Packet captures written with dpkt: real Ethernet/IPv4 frames, TCP sessions
with 3-way handshakes, ACKs and FIN teardown, UDP DNS; IP, TCP and UDP
checksums are computed by dpkt when the frame is packed.

A capture is described as an iterator of sessions in start-time order, each a
generator of (timestamp_us, frame) in time order. `write_capture` merges them
with a small heap holding one pending frame per *open* session, so memory stays
flat however many sessions a large --scale produces."""
from __future__ import annotations

import heapq
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import dpkt
import numpy as np

Frames = Iterator[tuple[int, bytes]]
Session = tuple[int, Frames]  # (start_us, frames)

MSS = 1460
GATEWAY_MAC = b"\x00\x1b\x21\x3a\x4f\x01"
_TCP_MSS_OPT = b"\x02\x04\x05\xb4"  # MSS 1460, as every real SYN carries


def is_internal(ip: str) -> bool:
    a, b = (int(x) for x in ip.split(".")[:2])
    return a == 10 or (a == 172 and 16 <= b < 32) or (a == 192 and b == 168)


def mac_of(ip: str) -> bytes:
    """Internal hosts get a stable locally-administered MAC; the Internet is behind the gateway."""
    if not is_internal(ip):
        return GATEWAY_MAC
    return b"\x02\x00" + socket.inet_aton(ip)


class FrameFactory:
    """Builds frames; one IP-ID counter per source address, as a real stack keeps."""

    def __init__(self) -> None:
        self._ipid: dict[str, int] = {}

    def ip_frame(self, src: str, dst: str, l4: dpkt.Packet, proto: int, ttl: int = 64) -> bytes:
        ipid = self._ipid.get(src, (sum(socket.inet_aton(src)) * 257) & 0xFFFF)
        self._ipid[src] = (ipid + 1) & 0xFFFF
        ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=ttl, id=ipid,
                        df=1, data=l4)
        eth = dpkt.ethernet.Ethernet(src=mac_of(src), dst=mac_of(dst), type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
        return bytes(eth)

    def tcp(self, src: str, sport: int, dst: str, dport: int, seq: int, ack: int, flags: int,
            payload: bytes = b"", ttl: int = 64) -> bytes:
        opts = _TCP_MSS_OPT if flags & dpkt.tcp.TH_SYN else b""
        seg = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF,
                           flags=flags, win=64240, off=5 + len(opts) // 4, opts=opts, data=payload)
        return self.ip_frame(src, dst, seg, dpkt.ip.IP_PROTO_TCP, ttl)

    def udp(self, src: str, sport: int, dst: str, dport: int, payload: bytes, ttl: int = 64) -> bytes:
        dgram = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
        dgram.ulen = 8 + len(payload)
        return self.ip_frame(src, dst, dgram, dpkt.ip.IP_PROTO_UDP, ttl)


class Filler:
    """Deterministic incompressible bytes for bulk payloads (encrypted archives look like this)."""

    def __init__(self, seed: int, size: int = 1 << 20) -> None:
        self.block = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()

    def take(self, offset: int, n: int) -> bytes:
        size = len(self.block)
        offset %= size
        if offset + n <= size:
            return self.block[offset:offset + n]
        reps = (offset + n) // size + 1
        return (self.block * reps)[offset:offset + n]


@dataclass
class Exchange:
    """One application message: from the client ('c') or the server ('s'), literal bytes or a bulk length
    (bulk is opaque filler, framed as TLS application data when `tls` is set)."""
    side: str
    data: bytes | int
    think_us: int = 2_000  # pause before this message
    tls: bool = False


def https_exchanges(sni: str, random32: bytes, up: int, down: int, think_us: int = 2_000) -> list[Exchange]:
    """A TLS conversation: ClientHello (SNI), ServerHello, then `up` bytes up and `down` bytes down."""
    from scenarios.writers import tls
    ch, sh = tls.client_hello(sni, random32), tls.server_hello(random32[::-1])
    return [Exchange("c", ch), Exchange("s", sh, think_us),
            Exchange("c", max(0, up - len(ch)), 2_000, tls=True),
            Exchange("s", max(0, down - len(sh)), think_us, tls=True)]


def tcp_session(ff: FrameFactory, filler: Filler, start: int, client: str, cport: int, server: str, sport: int,
                exchanges: list[Exchange], rtt_us: int = 20_000, bandwidth_bps: int = 50_000_000,
                ttl_c: int = 64, ttl_s: int = 64, close: bool = True, isn: int = 1000) -> Frames:
    """A complete TCP conversation: handshake, data segmented at the MSS and ACKed
    every second segment, FIN teardown. Sequence numbers are exact."""
    half = rtt_us // 2
    cseq, sseq = isn * 7919 & 0xFFFFFFFF, isn * 104729 & 0xFFFFFFFF
    A, PA, S, SA, F = dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, dpkt.tcp.TH_SYN, \
        dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK
    t = start
    yield t, ff.tcp(client, cport, server, sport, cseq, 0, S, ttl=ttl_c)
    cseq += 1
    t += half
    yield t, ff.tcp(server, sport, client, cport, sseq, cseq, SA, ttl=ttl_s)
    sseq += 1
    t += half
    yield t, ff.tcp(client, cport, server, sport, cseq, sseq, A, ttl=ttl_c)
    fill_off = isn * 4099
    for ex in exchanges:
        if isinstance(ex.data, int) and ex.tls:
            from scenarios.writers import tls
            ex = Exchange(ex.side, tls.app_data(filler.take(fill_off, tls.app_data_len(ex.data))), ex.think_us)
        if ex.data == 0 or ex.data == b"":
            continue
        t += ex.think_us
        total = ex.data if isinstance(ex.data, int) else len(ex.data)
        sent, n_seg = 0, 0
        per_byte_us = 8_000_000 / bandwidth_bps
        while sent < total:
            n = min(MSS, total - sent)
            chunk = filler.take(fill_off + sent, n) if isinstance(ex.data, int) else ex.data[sent:sent + n]
            last = sent + n >= total
            if ex.side == "c":
                yield t, ff.tcp(client, cport, server, sport, cseq, sseq, PA if last else A, chunk, ttl=ttl_c)
                cseq += n
            else:
                yield t, ff.tcp(server, sport, client, cport, sseq, cseq, PA if last else A, chunk, ttl=ttl_s)
                sseq += n
            sent += n
            n_seg += 1
            if n_seg % 2 == 0 or last:  # delayed ACK from the receiver
                ta = t + half
                if ex.side == "c":
                    yield ta, ff.tcp(server, sport, client, cport, sseq, cseq, A, ttl=ttl_s)
                else:
                    yield ta, ff.tcp(client, cport, server, sport, cseq, sseq, A, ttl=ttl_c)
            t += max(1, int(n * per_byte_us))
        fill_off += total
        t += half
    if close:
        t += 1_000
        yield t, ff.tcp(client, cport, server, sport, cseq, sseq, F, ttl=ttl_c)
        cseq += 1
        t += half
        yield t, ff.tcp(server, sport, client, cport, sseq, cseq, F, ttl=ttl_s)
        sseq += 1
        t += half
        yield t, ff.tcp(client, cport, server, sport, cseq, sseq, A, ttl=ttl_c)


def syn_unanswered(ff: FrameFactory, start: int, client: str, cport: int, server: str, sport: int,
                   retries: int = 2) -> Frames:
    """A connection attempt to a host that is down: SYN and its retransmissions (1 s, 2 s back-off)."""
    t, back = start, 1_000_000
    for _ in range(retries + 1):
        yield t, ff.tcp(client, cport, server, sport, 4242, 0, dpkt.tcp.TH_SYN)
        t += back
        back *= 2


def syn_flood_packet(ff: FrameFactory, t: int, src: str, sport: int, dst: str, dport: int, seq: int) -> Frames:
    yield t, ff.tcp(src, sport, dst, dport, seq, 0, dpkt.tcp.TH_SYN, ttl=48)


def udp_packet(ff: FrameFactory, t: int, src: str, sport: int, dst: str, dport: int, payload: bytes,
               ttl: int = 64) -> Frames:
    yield t, ff.udp(src, sport, dst, dport, payload, ttl)


def dns_exchange(ff: FrameFactory, start: int, client: str, cport: int, resolver: str, qname: str,
                 answers: list[str], txid: int, rtt_us: int = 8_000) -> Frames:
    """A DNS A query and its answer."""
    q = dpkt.dns.DNS(id=txid & 0xFFFF, op=dpkt.dns.DNS_RD, qd=[dpkt.dns.DNS.Q(name=qname, type=dpkt.dns.DNS_A)])
    yield start, ff.udp(client, cport, resolver, 53, bytes(q))
    r = dpkt.dns.DNS(id=txid & 0xFFFF, op=dpkt.dns.DNS_RD | dpkt.dns.DNS_RA, qr=dpkt.dns.DNS_R,
                     qd=[dpkt.dns.DNS.Q(name=qname, type=dpkt.dns.DNS_A)],
                     an=[dpkt.dns.DNS.RR(name=qname, type=dpkt.dns.DNS_A, ttl=300, rdata=socket.inet_aton(a))
                         for a in answers])
    yield start + rtt_us, ff.udp(resolver, 53, client, cport, bytes(r))


def merge_sessions(sessions: Iterable[Session]) -> Frames:
    """Time-ordered frames from sessions given in start order; ties keep session order."""
    heap: list[tuple[int, int, bytes, Frames]] = []
    order = 0
    for start, frames in sessions:
        while heap and heap[0][0] <= start:
            yield from _pop(heap)
        first = next(frames, None)
        if first is not None:
            heapq.heappush(heap, (first[0], order, first[1], frames))
            order += 1
    while heap:
        yield from _pop(heap)


def _pop(heap: list) -> Frames:
    ts, order, frame, frames = heapq.heappop(heap)
    nxt = next(frames, None)
    if nxt is not None:
        # A session's frames are never earlier than the one just taken.
        heapq.heappush(heap, (max(nxt[0], ts), order, nxt[1], frames))
    yield ts, frame


def write_capture(path: Path, sessions: Iterable[Session], fmt: str = "pcap") -> dict:
    """Stream sessions to a classic pcap (little-endian, microseconds) or pcapng file."""
    n, first, last, nbytes = 0, None, None, 0
    with open(path, "wb") as f:
        if fmt == "pcap":
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, dpkt.pcap.DLT_EN10MB))
        else:
            shb = dpkt.pcapng.SectionHeaderBlockLE()
            idb = dpkt.pcapng.InterfaceDescriptionBlockLE(snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
            f.write(bytes(shb))
            f.write(bytes(idb))
        for ts, frame in merge_sessions(sessions):
            if fmt == "pcap":
                f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
                f.write(frame)
            else:
                epb = dpkt.pcapng.EnhancedPacketBlockLE(ts_high=ts >> 32, ts_low=ts & 0xFFFFFFFF,
                                                        caplen=len(frame), pkt_len=len(frame), pkt_data=frame)
                f.write(bytes(epb))
            n += 1
            nbytes += len(frame)
            first = ts if first is None else first
            last = ts
    return {"packets": n, "frame_bytes": nbytes, "first_us": first, "last_us": last}
