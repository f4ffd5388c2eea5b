"""ARP and ICMP notables: only what an analyst would look at, never one event per packet.

ARP: an IP address claimed by a second MAC (cache poisoning, T1557.002).
ICMP: destination unreachable / time exceeded / redirect messages, which name
the host and port that could not be reached (outage evidence), each distinct
(reporter, target, type, code) once, up to a bound.
"""
from __future__ import annotations

import struct

from forensics.events import Event
from forensics.net.decode import ip_str

ICMP_NOTABLE = {(1, 3): "destination unreachable", (1, 11): "time exceeded", (1, 5): "redirect",
                (58, 1): "destination unreachable", (58, 3): "time exceeded", (58, 137): "redirect"}
UNREACH_CODES = {0: "net", 1: "host", 2: "protocol", 3: "port", 9: "net prohibited", 10: "host prohibited",
                 13: "administratively prohibited"}


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


class Notables:
    def __init__(self, cfg: dict, out: list, det):
        self.out = out
        self.det = det
        self.max_ips = int(cfg["arp"]["max_tracked_ips"])
        self.max_icmp = int(cfg["icmp"]["max_notables"])
        self.ip_mac: dict[bytes, bytes] = {}
        self.spoofed: set = set()
        self.icmp_seen: set = set()
        self.mac_ips: dict[bytes, bytes] = {}  # MAC -> first IP it claimed

    def arp(self, body: bytes, ts: int, frame: int, off: int) -> None:
        if len(body) < 28 or body[4] != 6 or body[5] != 4:
            return
        op = struct.unpack_from("!H", body, 6)[0]
        smac, sip = body[8:14], body[14:18]
        if op not in (1, 2) or sip == b"\x00\x00\x00\x00":
            return
        first_ip = self.mac_ips.get(smac)
        if first_ip is None and len(self.mac_ips) < self.max_ips:
            self.mac_ips[smac] = sip
        old = self.ip_mac.get(sip)
        if old is None:
            if len(self.ip_mac) < self.max_ips:
                self.ip_mac[sip] = smac
            if first_ip is not None and first_ip != sip and (sip, smac) not in self.spoofed:
                # one interface answering for a second address: the poisoning pattern (or proxy ARP)
                self.spoofed.add((sip, smac))
                self._spoof(sip, smac, None, first_ip, op, ts, frame, off)
            return
        if old == smac or (sip, smac) in self.spoofed:
            return
        self.spoofed.add((sip, smac))
        self._spoof(sip, smac, old, None, op, ts, frame, off)

    def _spoof(self, sip, smac, old, other_ip, op, ts, frame, off) -> None:
        ip = ip_str(sip)
        if old is not None:
            why = f"now claimed by {_mac(smac)} (was {_mac(old)})"
        else:
            why = f"claimed by {_mac(smac)}, which already claimed {ip_str(other_ip)}"
        self.out.append(Event(
            timestamp=ts, data_type="detection", locator=f"pkt={frame};off={off}", timestamp_desc="First Seen",
            message=f"ARP: {ip} {why} - possible ARP cache poisoning",
            src_ip=ip, attack=["T1557.002"], tags=["arp_spoofing", "mitm"], severity="high", gbt_category="NA",
            attributes={"detector": "arp_spoofing", "ip": ip, "new_mac": _mac(smac), "old_mac": _mac(old) if old else None,
                        "also_claimed": ip_str(other_ip) if other_ip else None,
                        "arp_op": "reply" if op == 2 else "request"},
            discriminator="arp-spoof"))

    def icmp(self, r, ts: int, frame: int, off: int) -> None:
        ver, src, dst, proto, itype, code, *_rest = r
        what = ICMP_NOTABLE.get((proto, itype))
        if what is None or len(self.icmp_seen) >= self.max_icmp:
            return
        payload = r[9]
        quoted = {}
        # the quoted original header tells which host/port was unreachable
        if proto == 1 and len(payload) >= 28 and payload[4] >> 4 == 4:
            q = payload[4:]
            ihl = (q[0] & 15) * 4
            quoted = {"orig_src": ip_str(q[12:16]), "orig_dst": ip_str(q[16:20]), "orig_proto": q[9]}
            if q[9] in (6, 17) and len(q) >= ihl + 4:
                quoted["orig_dst_port"] = struct.unpack_from("!H", q, ihl + 2)[0]
        key = (src, dst, itype, code, quoted.get("orig_dst"), quoted.get("orig_dst_port"))
        if key in self.icmp_seen:
            return
        self.icmp_seen.add(key)
        detail = f" ({UNREACH_CODES.get(code, code)})" if "unreachable" in what else ""
        target = f" for {quoted['orig_dst']}:{quoted.get('orig_dst_port', '')}".rstrip(":") if quoted else ""
        self.out.append(Event(
            timestamp=ts, data_type="network:icmp", locator=f"pkt={frame};off={off}",
            message=f"ICMP {what}{detail} from {ip_str(src)} to {ip_str(dst)}{target}",
            src_ip=ip_str(src), dst_ip=ip_str(dst), proto="icmp" if proto == 1 else "icmpv6",
            attributes={"icmp_type": itype, "icmp_code": code, **quoted}, discriminator="icmp"))
