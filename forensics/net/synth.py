"""Synthetic capture writer for tests and benchmarks (never used on evidence).

Builds Ethernet/IPv4/TCP/UDP frames with struct and writes classic pcap
(either byte order, us or ns) or pcapng (either byte order, per-interface
if_tsresol), so the reader can be exercised on every variant it claims.
"""
from __future__ import annotations

import socket
import struct
from typing import BinaryIO, Iterable

ETH_HDR = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb"


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + payload


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(ip_packet: bytes, ethertype: int = 0x0800) -> bytes:
    return ETH_HDR + struct.pack("!H", ethertype) + ip_packet


def tcp_frame(src, dst, sport, dport, seq, ack, flags, payload=b"") -> bytes:
    return eth(ipv4(src, dst, 6, tcp(sport, dport, seq, ack, flags, payload)))


def udp_frame(src, dst, sport, dport, payload) -> bytes:
    return eth(ipv4(src, dst, 17, udp(sport, dport, payload)))


def tcp_conversation(src, dst, sport, dport, t0_us, request: bytes, response: bytes, mss: int = 1400,
                     step_us: int = 1000) -> list[tuple[int, bytes]]:
    """A complete connection: handshake, request, response in MSS segments, FIN both ways."""
    S, A, F, P = 0x02, 0x10, 0x01, 0x08
    c, s = 1000, 5000
    out, t = [], t0_us
    def add(frame):
        nonlocal t
        out.append((t, frame))
        t += step_us
    add(tcp_frame(src, dst, sport, dport, c, 0, S))
    add(tcp_frame(dst, src, dport, sport, s, c + 1, S | A))
    add(tcp_frame(src, dst, sport, dport, c + 1, s + 1, A))
    c += 1
    s += 1
    for i in range(0, len(request), mss):
        seg = request[i:i + mss]
        add(tcp_frame(src, dst, sport, dport, c, s, A | P, seg))
        c += len(seg)
    for i in range(0, len(response), mss):
        seg = response[i:i + mss]
        add(tcp_frame(dst, src, dport, sport, s, c, A | P, seg))
        s += len(seg)
    add(tcp_frame(src, dst, sport, dport, c, s, F | A))
    add(tcp_frame(dst, src, dport, sport, s, c + 1, F | A))
    add(tcp_frame(src, dst, sport, dport, c + 1, s + 1, A))
    return out


def write_pcap(f: BinaryIO, packets: Iterable[tuple[int, bytes]], linktype: int = 1, big_endian: bool = False,
               nanos: bool = False, snaplen: int = 65535) -> None:
    o = ">" if big_endian else "<"
    f.write(struct.pack(o + "IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
    div = 1000 if nanos else 1
    for ts, frame in packets:
        cap = frame[:snaplen]
        f.write(struct.pack(o + "IIII", ts // 1_000_000, (ts % 1_000_000) * div, len(cap), len(frame)))
        f.write(cap)


def _block(o: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def pcapng_shb(big_endian: bool = False) -> bytes:
    o = ">" if big_endian else "<"
    return _block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_idb(linktype: int = 1, tsresol: int | None = None, big_endian: bool = False) -> bytes:
    o = ">" if big_endian else "<"
    opts = b""
    if tsresol is not None:
        opts = struct.pack(o + "HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3 + struct.pack(o + "HH", 0, 0)
    return _block(o, 1, struct.pack(o + "HHI", linktype, 0, 0) + opts)


def pcapng_epb(iface: int, ts_units: int, frame: bytes, big_endian: bool = False) -> bytes:
    o = ">" if big_endian else "<"
    return _block(o, 6, struct.pack(o + "IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(frame), len(frame))
                  + frame)


def write_pcapng(f: BinaryIO, packets: Iterable[tuple[int, bytes]], big_endian: bool = False,
                 tsresol: int | None = None) -> None:
    """One section, one interface; `tsresol` is the raw if_tsresol byte (None = microseconds)."""
    f.write(pcapng_shb(big_endian))
    f.write(pcapng_idb(1, tsresol, big_endian))
    if tsresol is None:
        num, den = 1, 1
    elif tsresol & 0x80:
        num, den = 1 << (tsresol & 0x7F), 1_000_000
    else:
        num, den = 10 ** (tsresol & 0x7F), 1_000_000
    for ts, frame in packets:
        f.write(pcapng_epb(0, ts * num // den, frame, big_endian))
