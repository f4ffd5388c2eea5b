"""IETF syslog (RFC 5424): `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`."""
from __future__ import annotations

import re

from forensics.logs.syslog3164 import SyslogLine
from forensics.logs.timeparse import Clock, parse_iso

_HEAD = re.compile(r"<(?P<pri>\d{1,3})>(?P<ver>\d{1,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) ")
# an SD-ELEMENT; quoted values may hold ']' and escaped quotes
_SD = re.compile(r'\[(?P<id>[^\s\]="]+)(?P<params>(?: [^\s\]="]+="(?:[^"\\]|\\.)*")*)\]')
_PARAM = re.compile(r'([^\s\]="]+)="((?:[^"\\]|\\.)*)"')


def parse(line: str, clock: Clock) -> SyslogLine | None:
    m = _HEAD.match(line)
    if not m:
        return None
    try:
        ts = clock.local(1970, 1, 1, 0, 0, 0) if m.group("ts") == "-" else parse_iso(m.group("ts"), clock)
    except ValueError:
        return None
    rest = line[m.end():]
    sd: dict[str, dict[str, str]] = {}
    if rest.startswith("-"):
        rest = rest[1:]
    else:
        pos = 0
        while pos < len(rest) and rest[pos] == "[":
            e = _SD.match(rest, pos)
            if not e:
                break
            sd[e.group("id")] = {k: v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
                                 for k, v in _PARAM.findall(e.group("params"))}
            pos = e.end()
        rest = rest[pos:]
    msg = rest[1:] if rest.startswith(" ") else rest
    msg = msg.removeprefix("\ufeff")

    def nil(v: str) -> str | None:
        return None if v == "-" else v

    procid = nil(m.group("procid"))
    extra = {"syslog_version": int(m.group("ver"))}
    if nil(m.group("msgid")):
        extra["msgid"] = m.group("msgid")
    if sd:
        extra["structured_data"] = sd
    if procid and not procid.isdigit():
        extra["procid"] = procid
    return SyslogLine(ts, m.group("ts"), nil(m.group("host")), nil(m.group("app")),
                      int(procid) if procid and procid.isdigit() else None, msg.strip(), int(m.group("pri")), None, extra)
