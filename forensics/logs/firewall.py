"""Firewall logs: Linux netfilter kernel lines (iptables LOG target, ufw) and
Windows Firewall pfirewall.log (a W3C file, header read by `iis.directive`)."""
from __future__ import annotations

import re

from forensics.events import Event
from forensics.logs.common import FileState, Where, clean_ip, to_int
from forensics.logs.iis import row_time, split_row
from forensics.logs.syslog3164 import SyslogLine

_KV = re.compile(r"([A-Z]+)=(\S*)")
_KTIME = re.compile(r"^\[\s*\d+\.\d+\]\s*")
_ACTIONS = (("BLOCK", "block"), ("DROP", "drop"), ("DENY", "drop"), ("REJECT", "reject"), ("ALLOW", "allow"),
            ("ACCEPT", "allow"), ("AUDIT", "audit"), ("LIMIT", "limit"))


def is_netfilter(message: str) -> bool:
    return "IN=" in message and "SRC=" in message and "PROTO=" in message


def _action(prefix: str) -> str:
    up = prefix.upper()
    for word, action in _ACTIONS:
        if word in up:
            return action
    return "log"


def parse_netfilter(rec: SyslogLine, where: Where) -> Event:
    msg = _KTIME.sub("", rec.message)
    prefix = msg[:msg.find("IN=")].strip()
    kv = dict(_KV.findall(msg))
    flags = [f for f in ("SYN", "ACK", "FIN", "RST", "PSH", "URG") if re.search(rf"\b{f}\b", msg)]
    action = _action(prefix)
    proto = kv.get("PROTO", "").lower() or None
    src, dst = clean_ip(kv.get("SRC")), clean_ip(kv.get("DST"))
    spt, dpt = to_int(kv.get("SPT")), to_int(kv.get("DPT"))
    attrs = {"action": action, "prefix": prefix or None, "in_interface": kv.get("IN") or None,
             "out_interface": kv.get("OUT") or None, "mac": kv.get("MAC") or None, "ttl": to_int(kv.get("TTL")),
             "length": to_int(kv.get("LEN")), "tcp_flags": flags or None, "time_text": rec.time_text,
             "icmp_type": to_int(kv.get("TYPE")), "firewall": "ufw" if "UFW" in prefix else "iptables"}
    return Event(
        timestamp=rec.timestamp, data_type="firewall:iptables", locator=where.locator, host=rec.host,
        message=f"firewall {action} {proto} {src}:{spt} -> {dst}:{dpt}", src_ip=src, dst_ip=dst, src_port=spt,
        dst_port=dpt, proto=proto, bytes_in=to_int(kv.get("LEN")), tags=["firewall"],
        attributes={k: v for k, v in attrs.items() if v is not None},
    )


def parse_pfirewall(line: str, where: Where, state: FileState) -> Event | None:
    row = split_row(line, state)
    if row is None:
        return None
    ts = row_time(row, state)
    if ts is None:
        return None
    action = row.get("action", "").upper()
    proto = (row.get("protocol") or "").lower() or None
    src, dst = clean_ip(row.get("src-ip")), clean_ip(row.get("dst-ip"))
    spt, dpt = to_int(row.get("src-port")), to_int(row.get("dst-port"))
    attrs = {"action": action.lower(), "direction": (row.get("path") or "").lower() or None,
             "tcp_flags": row.get("tcpflags"), "size": to_int(row.get("size")), "icmp_type": to_int(row.get("icmptype")),
             "icmp_code": to_int(row.get("icmpcode")), "time_text": f"{row.get('date')} {row.get('time')}",
             "firewall": "windows"}
    if action == "INFO-EVENTS-LOST":
        lost = to_int(row.get("info"))
        attrs["events_lost"] = lost
        return Event(timestamp=ts, data_type="firewall:windows", locator=where.locator,
                     message=f"Windows Firewall lost {lost} events", tags=["firewall", "log_gap"],
                     severity="low", attributes={k: v for k, v in attrs.items() if v is not None})
    return Event(
        timestamp=ts, data_type="firewall:windows", locator=where.locator,
        message=f"firewall {action.lower()} {proto} {src}:{spt} -> {dst}:{dpt}", src_ip=src, dst_ip=dst,
        src_port=spt, dst_port=dpt, proto=proto, tags=["firewall"],
        attributes={k: v for k, v in attrs.items() if v is not None},
    )
