"""Suricata and Snort `fast.log` alert lines.

  10/05/2017-14:12:27.367458  [**] [1:2012887:3] MSG [**] [Classification: X] [Priority: 1] {TCP} a:p -> b:q
Snort writes the date without a year (`10/05-14:12:27.367458`); the year is
then inferred like syslog's.
"""
from __future__ import annotations

import re

from forensics.events import Event
from forensics.logs.common import Where, clean_ip, to_int
from forensics.logs.timeparse import Clock

_LINE = re.compile(
    r"(?P<mo>\d\d)/(?P<d>\d\d)(?:/(?P<y>\d{2,4}))?-(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))?\s+"
    r"(?:\[(?P<action>Drop|wDrop|Pass)\]\s+)?\[\*\*\]\s+\[(?P<gid>\d+):(?P<sid>\d+):(?P<rev>\d+)\]\s+(?P<msg>.*?)\s+\[\*\*\]"
    r"(?:\s+\[Classification:\s*(?P<cls>[^\]]*)\])?(?:\s+\[Priority:\s*(?P<prio>\d+)\])?\s+"
    r"\{(?P<proto>[^}]+)\}\s+(?P<src>\S+)\s+->\s+(?P<dst>\S+)"
)
_SEVERITY = {1: "high", 2: "medium", 3: "low"}


def _endpoint(text: str) -> tuple[str | None, int | None]:
    if text.startswith("["):  # [v6]:port
        host, _, port = text[1:].partition("]:")
        return clean_ip(host), to_int(port)
    ip = clean_ip(text)
    if ip:  # no port (ICMP)
        return ip, None
    host, _, port = text.rpartition(":")
    return clean_ip(host), to_int(port)


def parse(line: str, where: Where, clock: Clock) -> Event | None:
    m = _LINE.match(line)
    if not m:
        return None
    frac = m.group("frac")
    us = int((frac + "00000")[:6]) if frac else 0
    mo, d, h, mi, s = (int(m.group(k)) for k in ("mo", "d", "h", "mi", "s"))
    try:
        if m.group("y"):
            y = int(m.group("y"))
            ts = clock.local(y + 2000 if y < 100 else y, mo, d, h, mi, s, us)
        else:
            ts, _ = clock.yearless(mo, d, h, mi, s, us)
    except ValueError:
        return None
    src, spt = _endpoint(m.group("src"))
    dst, dpt = _endpoint(m.group("dst"))
    prio = to_int(m.group("prio"))
    sig = f"{m.group('gid')}:{m.group('sid')}:{m.group('rev')}"
    attrs = {"signature_id": sig, "signature": m.group("msg"), "classification": m.group("cls"), "priority": prio,
             "action": (m.group("action") or "").lower() or None, "time_text": line[:m.end("s") + (len(frac) + 1 if frac else 0)]}
    return Event(
        timestamp=ts, data_type="ids:alert", locator=where.locator, timestamp_desc="Alert Time",
        message=f"IDS alert [{sig}] {m.group('msg')} {m.group('src')} -> {m.group('dst')}",
        src_ip=src, src_port=spt, dst_ip=dst, dst_port=dpt, proto=m.group("proto").lower(),
        tags=["ids_alert"], severity=_SEVERITY.get(prio or 0, "medium" if prio else "low"),
        attributes={k: v for k, v in attrs.items() if v is not None},
    )
