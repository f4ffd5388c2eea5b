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


def tcp_exchange(src, dst, sport, dport, t0_us, turns: list[tuple[bool, bytes]], mss: int = 1400,
                 step_us: int = 1000) -> list[tuple[int, bytes]]:
    """A complete connection carrying `turns` of (from_client, bytes) in order, each cut into MSS segments."""
    S, A, F, P = 0x02, 0x10, 0x01, 0x08
    seq = {True: 1000, False: 5000}
    out, t = [], t0_us

    def add(from_client, flags, payload=b""):
        nonlocal t
        a, b, pa, pb = (src, dst, sport, dport) if from_client else (dst, src, dport, sport)
        out.append((t, tcp_frame(a, b, pa, pb, seq[from_client], seq[not from_client], flags, payload)))
        seq[from_client] += len(payload) + (1 if flags & (S | F) else 0)
        t += step_us
    add(True, S)
    add(False, S | A)
    add(True, A)
    for from_client, data in turns:
        for i in range(0, len(data), mss):
            add(from_client, A | P, data[i:i + mss])
    add(True, F | A)
    add(False, F | A)
    add(True, A)
    return out


# -- SMB2 (MS-SMB2) messages for tests: enough of each command for a parser to read ----------------

def nbss(msg: bytes) -> bytes:
    return b"\x00" + len(msg).to_bytes(3, "big") + msg


def ntlmssp_authenticate(user: str, domain: str, workstation: str) -> bytes:
    fields = [b"", b"\x00" * 40, domain.encode("utf-16-le"), user.encode("utf-16-le"),
              workstation.encode("utf-16-le"), b""]
    order = [0, 1, 2, 3, 4, 5]  # LM, NT, domain, user, workstation, session key
    pos, bufs, payload = 64, [], b""
    for i in order:
        bufs.append(struct.pack("<HHI", len(fields[i]), len(fields[i]), pos + len(payload)))
        payload += fields[i]
    return b"NTLMSSP\x00" + struct.pack("<I", 3) + b"".join(bufs) + struct.pack("<I", 0x00000001 | 0x00080000) + payload


def ndr_string(s: str, width: int = 2) -> bytes:
    raw = (s + "\x00").encode("utf-16-le" if width == 2 else "latin-1")
    n = len(s) + 1
    b = struct.pack("<III", n, 0, n) + raw
    return b + b"\x00" * (-len(b) % 4)


def dcerpc_request(opnum: int, stub: bytes, call_id: int = 1) -> bytes:
    frag = 24 + len(stub)
    return struct.pack("<BBBB4sHHIIHH", 5, 0, 0, 0x03, b"\x10\x00\x00\x00", frag, 0, call_id, len(stub), 0, opnum) + stub


def svcctl_create_service(name: str, binary: str, opnum: int = 12) -> bytes:
    stub = b"\x00" * 20 + ndr_string(name) + struct.pack("<I", 0x20000) + ndr_string(name)
    stub += struct.pack("<IIII", 0xF01FF, 0x10, 3, 0) + ndr_string(binary) + b"\x00" * 24
    return dcerpc_request(opnum, stub)


class Smb2Script:
    """Builds an SMB2 conversation as (from_client, bytes) turns for `tcp_exchange`."""

    def __init__(self, session_id: int = 0x4000000001):
        self.turns: list[tuple[bool, bytes]] = []
        self.mid = 0
        self.sid = session_id
        self.tid = 0
        self.fid = 0

    def _hdr(self, cmd, resp, status=0, tid=None):
        return struct.pack("<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 1, status, cmd, 1, 1 if resp else 0, 0, self.mid,
                           0, self.tid if tid is None else tid, self.sid, b"\x00" * 16)

    def _pair(self, cmd, req_body, resp_body, status=0, tid=None):
        self.mid += 1
        self.turns.append((True, nbss(self._hdr(cmd, False, tid=tid) + req_body)))
        self.turns.append((False, nbss(self._hdr(cmd, True, status, tid=tid) + resp_body)))

    def negotiate(self, dialect=0x0210):
        self._pair(0, struct.pack("<HHHHI", 36, 1, 1, 0, 0) + b"\x00" * 28 + struct.pack("<H", dialect),
                   struct.pack("<HHH", 65, 1, dialect) + b"\x00" * 58)

    def logon(self, user, domain, workstation, status=0):
        blob = ntlmssp_authenticate(user, domain, workstation)
        self._pair(1, struct.pack("<HBBIIHHQ", 25, 0, 1, 0, 0, 88, len(blob), 0) + blob,
                   struct.pack("<HHHH", 9, 0, 0, 0), status)

    def tree(self, path, share_type=1):
        self.tid += 1
        p = path.encode("utf-16-le")
        self._pair(3, struct.pack("<HHHH", 9, 0, 72, len(p)) + p,
                   struct.pack("<HBBIII", 16, share_type, 0, 0, 0, 0x1F01FF))
        return self.tid

    def create(self, name, disposition=5, eof=0, options=0, status=0):
        self.fid += 1
        fid = struct.pack("<QQ", self.fid, self.fid + 0x100)
        n = name.encode("utf-16-le")
        req = struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, 0x12019F, 0x80, 7, disposition, options,
                          120, len(n), 0, 0) + n
        resp = struct.pack("<HBBI", 89, 0, 0, 2) + b"\x00" * 32 + struct.pack("<QQII", eof, eof, 0x80, 0) + fid + \
            b"\x00" * 8
        self._pair(5, req, resp, status)
        return fid

    def write(self, fid, offset, data):
        self._pair(9, struct.pack("<HHIQ16sIIHHI", 49, 112, len(data), offset, fid, 0, 0, 0, 0, 0) + data,
                   struct.pack("<HHIIHH", 17, 0, len(data), 0, 0, 0))

    def read(self, fid, offset, data):
        self._pair(8, struct.pack("<HBBIQ16sIIIHH", 49, 0, 0, len(data), offset, fid, 0, 0, 0, 0, 0) + b"\x00",
                   struct.pack("<HBBIII", 17, 80, 0, len(data), 0, 0) + data)

    def close(self, fid):
        self._pair(6, struct.pack("<HHI16s", 24, 0, 0, fid), struct.pack("<HH", 60, 0) + b"\x00" * 56)
