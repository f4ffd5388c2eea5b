"""Packet decoding from link layer to transport, on the hot path.

One call per packet; returns a flat tuple instead of objects because building
dpkt objects for every packet of a multi-gigabyte capture costs more than the
rest of the analysis together (dpkt is used for the rarer application layers).

`Decoder.decode(linktype, data, ts_us)` returns one of
  - a `Pkt` tuple (ver, src, dst, proto, sport, dport, flags, seq, ack, payload, inner)
    where src/dst are packed address bytes, and for ICMP sport/dport are type/code;
    `inner` is the decoded tunnelled packet (L2TP, GRE, IP-in-IP, VXLAN) or None;
  - ("arp", body) for ARP;
  - None when the frame carries nothing we analyse (LLC, LLDP, ...);
  - a str naming why the frame cannot be decoded (truncated header, ...).
`UnknownLinkType` is raised for a link type this module cannot read.
"""
from __future__ import annotations

import struct

from forensics.net.capture import UnknownLinkType
from forensics.net.fragments import Reassembler

_u16 = struct.Struct("!H").unpack_from
_u32 = struct.Struct("!I").unpack_from
_tcp = struct.Struct("!HHIIBB").unpack_from  # ports, seq, ack, data offset, flags
_udp = struct.Struct("!HH").unpack_from

ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
_VLAN = (0x8100, 0x88A8, 0x9100)
_V6_EXT = {0, 43, 60, 51, 135, 139, 140}  # walkable extension headers (44 fragment handled apart)
SUPPORTED_LINKTYPES = {0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP",
                       108: "OpenBSD loopback", 113: "Linux cooked (SLL)", 228: "raw IPv4", 229: "raw IPv6",
                       276: "Linux cooked v2 (SLL2)"}
MAX_TUNNEL_DEPTH = 2


class Decoder:
    def __init__(self) -> None:
        self.frags = Reassembler()
        self.fragments = 0  # IP fragments seen
        self.reassembled = 0  # datagrams completed from fragments

    def link(self, linktype: int, data: bytes):
        """Link layer -> (ethertype, offset of the network header) or None/str."""
        if linktype == 1:
            if len(data) < 14:
                return "Ethernet header truncated"
            et = _u16(data, 12)[0]
            off = 14
            n = 0
            while et in _VLAN and n < 4:  # bounded: at most QinQinQinQ
                if len(data) < off + 4:
                    return "VLAN tag truncated"
                et = _u16(data, off + 2)[0]
                off += 4
                n += 1
            if et == 0x8864:  # PPPoE session: 6-byte header then a PPP protocol id
                if len(data) < off + 8:
                    return "PPPoE header truncated"
                return _ppp_proto(_u16(data, off + 6)[0]), off + 8
            return et, off
        if linktype == 113:
            if len(data) < 16:
                return "Linux cooked header truncated"
            return _u16(data, 14)[0], 16
        if linktype == 276:
            if len(data) < 20:
                return "Linux cooked v2 header truncated"
            return _u16(data, 0)[0], 20
        if linktype in (101, 12, 14, 228, 229):
            if not data:
                return "empty raw IP frame"
            v = data[0] >> 4
            return (ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else -1), 0
        if linktype in (0, 108):
            if len(data) < 4:
                return "loopback header truncated"
            fam = struct.unpack_from("<I" if linktype == 0 and data[0] else ">I", data, 0)[0]
            return (ETH_IPV4 if fam == 2 else ETH_IPV6 if fam in (10, 24, 28, 30) else -1), 4
        raise UnknownLinkType(0, linktype)

    def decode(self, linktype: int, data: bytes, ts: int):
        # fast path: untagged Ethernet carrying IPv4, most of any real capture
        if linktype == 1 and data[12:14] == b"\x08\x00":
            return self.ipv4(data, 14, ts, 0)
        r = self.link(linktype, data)
        if r is None or r.__class__ is str:
            return r
        et, off = r
        if et == ETH_IPV4:
            return self.ipv4(data, off, ts, 0)
        if et == ETH_IPV6:
            return self.ipv6(data, off, ts, 0)
        if et == ETH_ARP:
            return ("arp", data[off:])
        return None

    def ipv4(self, data: bytes, off: int, ts: int, depth: int):
        if len(data) < off + 20:
            return f"IPv4 header truncated ({len(data) - off} bytes captured)"
        vihl = data[off]
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20:
            return f"bad IPv4 version/header length byte 0x{vihl:02x}"
        if len(data) < off + ihl:
            return "IPv4 options truncated"
        total = _u16(data, off + 2)[0]
        proto = data[off + 9]
        src = data[off + 12:off + 16]
        dst = data[off + 16:off + 20]
        end = off + total if total >= ihl else len(data)  # TSO captures write total=0: trust the frame
        fragw = _u16(data, off + 6)[0]
        if fragw & 0x3FFF:  # more-fragments flag or a non-zero offset
            self.fragments += 1
            whole = self.frags.add(4, src, dst, _u16(data, off + 4)[0], proto, (fragw & 0x1FFF) * 8,
                                   bool(fragw & 0x2000), data[off + ihl:end], ts)
            if whole is None:
                return None
            self.reassembled += 1
            return self.transport(4, src, dst, proto, whole, 0, ts, depth)
        return self.transport(4, src, dst, proto, data[:end] if end < len(data) else data, off + ihl, ts, depth)

    def ipv6(self, data: bytes, off: int, ts: int, depth: int):
        if len(data) < off + 40:
            return f"IPv6 header truncated ({len(data) - off} bytes captured)"
        plen = _u16(data, off + 4)[0]
        nh = data[off + 6]
        src = data[off + 8:off + 24]
        dst = data[off + 24:off + 40]
        end = off + 40 + plen if plen else len(data)
        if end < len(data):
            data = data[:end]
        p = off + 40
        for _ in range(16):  # walk extension headers, bounded
            if nh in _V6_EXT:
                if len(data) < p + 2:
                    return "IPv6 extension header truncated"
                nxt = data[p]
                p += (data[p + 1] + 2) * 4 if nh == 51 else (data[p + 1] + 1) * 8
                nh = nxt
            elif nh == 44:  # fragment header
                if len(data) < p + 8:
                    return "IPv6 fragment header truncated"
                nxt = data[p]
                fo = _u16(data, p + 2)[0]
                ident = _u32(data, p + 4)[0]
                self.fragments += 1
                whole = self.frags.add(6, src, dst, ident, nxt, fo & 0xFFF8, bool(fo & 1), data[p + 8:], ts)
                if whole is None:
                    return None
                self.reassembled += 1
                return self.transport(6, src, dst, nxt, whole, 0, ts, depth)
            else:
                break
        if p > len(data):
            return "IPv6 extension headers run past the packet"
        return self.transport(6, src, dst, nh, data, p, ts, depth)

    def transport(self, ver: int, src: bytes, dst: bytes, proto: int, data: bytes, p: int, ts: int, depth: int):
        n = len(data) - p
        if proto == 6:
            if n < 20:
                return f"TCP header truncated ({n} bytes captured)"
            sport, dport, seq, ack, doff, flags = _tcp(data, p)
            hl = (doff >> 4) * 4
            if hl < 20 or n < hl:
                return "TCP header length invalid or truncated"
            return (ver, src, dst, 6, sport, dport, flags | ((doff & 1) << 8), seq, ack, data[p + hl:], None)
        if proto == 17:
            if n < 8:
                return f"UDP header truncated ({n} bytes captured)"
            sport, dport = _udp(data, p)
            payload = data[p + 8:]
            inner = None
            if depth < MAX_TUNNEL_DEPTH and (sport == 1701 or dport == 1701 or dport == 4789):
                inner = self._udp_tunnel(sport, dport, payload, ts, depth + 1)
            return (ver, src, dst, 17, sport, dport, 0, 0, 0, payload, inner)
        if proto == 1 or proto == 58:
            if n < 4:
                return "ICMP header truncated"
            return (ver, src, dst, proto, data[p], data[p + 1], 0, 0, 0, data[p + 4:], None)
        inner = None
        if depth < MAX_TUNNEL_DEPTH:
            if proto == 4:
                inner = self.ipv4(data, p, ts, depth + 1)
            elif proto == 41:
                inner = self.ipv6(data, p, ts, depth + 1)
            elif proto == 47:
                inner = self._gre(data, p, ts, depth + 1)
        if inner is not None and inner.__class__ is not tuple:
            inner = None
        return (ver, src, dst, proto, 0, 0, 0, 0, 0, data[p:], inner)

    def _gre(self, data: bytes, p: int, ts: int, depth: int):
        if len(data) < p + 4:
            return None
        flags, et = struct.unpack_from("!HH", data, p)
        p += 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(flags & 0x1000))
        if et == ETH_IPV4:
            return self.ipv4(data, p, ts, depth)
        if et == ETH_IPV6:
            return self.ipv6(data, p, ts, depth)
        return None

    def _udp_tunnel(self, sport: int, dport: int, payload: bytes, ts: int, depth: int):
        if dport == 4789:  # VXLAN: 8-byte header then an Ethernet frame
            r = self.link(1, payload[8:]) if len(payload) > 8 else None
            base = 8
        else:
            r = _l2tp(payload)
            base = 0
        if r is None or r.__class__ is str:
            return None
        et, off = r
        data = payload[base:] if base else payload
        if et == ETH_IPV4:
            inner = self.ipv4(data, off, ts, depth)
        elif et == ETH_IPV6:
            inner = self.ipv6(data, off, ts, depth)
        else:
            return None
        return inner if inner.__class__ is tuple else None


def _ppp_proto(proto: int) -> int:
    return ETH_IPV4 if proto == 0x0021 else ETH_IPV6 if proto == 0x0057 else -1


def _l2tp(p: bytes):
    """L2TPv2 data message -> (ethertype, offset) of the PPP payload, or None."""
    if len(p) < 6:
        return None
    flags = _u16(p, 0)[0]
    if flags & 0x8000 or flags & 0x000F != 2:  # control message, or not version 2
        return None
    off = 2 + (2 if flags & 0x4000 else 0) + 4 + (4 if flags & 0x0800 else 0)
    if flags & 0x0200:
        if len(p) < off + 2:
            return None
        off += 2 + _u16(p, off)[0]
    if len(p) < off + 2:
        return None
    if p[off:off + 2] == b"\xff\x03":  # PPP address/control
        off += 2
    if len(p) < off + 1:
        return None
    if p[off] & 1:  # protocol field compressed to one byte
        return _ppp_proto(p[off]), off + 1
    if len(p) < off + 2:
        return None
    return _ppp_proto(_u16(p, off)[0]), off + 2


def ip_str(addr: bytes) -> str:
    import ipaddress
    return str(ipaddress.ip_address(addr))
