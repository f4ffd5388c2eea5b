"""BSD syslog (RFC 3164) and the file forms rsyslog/syslog-ng write.

`Mmm dd hh:mm:ss host prog[pid]: msg`, with the usual deviations: an optional
`<PRI>`, no host, `[prog]` tags, a year after the time, an RFC 3339 timestamp
instead (rsyslog's high-precision file format), `host: --- last message
repeated ---`. The year is inferred by `Clock.yearless`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from forensics.logs.timeparse import Clock, month_number, parse_iso

_HEAD = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
    r"(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))?(?: (?P<year>\d{4}))?:? +(?P<rest>.*)"
)
_HEAD_ISO = re.compile(r"(?:<(?P<pri>\d{1,3})>)?(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?) +(?P<rest>.*)")
# prog[pid]: | prog: | [prog]: | [prog]
# prog[pid]: | prog: | [prog]: | [prog] | "prog 1.4.1:" (old sysklogd announces its version) | "-- root[pid]:" (login)
_TAG = re.compile(r"(?:\[(?P<p2>[^\]\s]{1,64})\]:?|(?P<p1>(?:-- )?[^\s\[\]:]{1,96}?(?: \d+(?:\.\d+)+)?)(?:\[(?P<pid>\d{1,10})\])?:)(?: +|$)")
_HEX = re.compile(r"[0-9a-fA-F]+")
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
              "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4",
              "local5", "local6", "local7")
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


@dataclass(slots=True)
class SyslogLine:
    timestamp: int
    time_text: str
    host: str | None
    program: str | None
    pid: int | None
    message: str
    pri: int | None = None
    year_inferred: int | None = None
    extra: dict | None = None  # RFC 5424 msgid / structured data

    @property
    def base_program(self) -> str:
        """'sshd(pam_unix)' -> 'sshd', 'sshd-session' -> 'sshd'; lower case."""
        p = (self.program or "").split("(", 1)[0].lower()
        return "sshd" if p == "sshd-session" else p

    def pri_fields(self) -> dict:
        if self.pri is None or self.pri > 191:
            return {}
        return {"facility": FACILITIES[self.pri >> 3], "syslog_severity": SEVERITIES[self.pri & 7]}


def split_tag(rest: str) -> tuple[str | None, str | None, int | None, str]:
    """(host, program, pid, message) from what follows the timestamp."""
    m = _TAG.match(rest)
    if m and not (m.group("p1") and _HEX.fullmatch(m.group("p1")) and not m.group("pid")):
        return None, m.group("p1") or m.group("p2"), _pid(m.group("pid")), rest[m.end():]
    host, _, after = rest.partition(" ")
    after = after.lstrip(" ")
    m = _TAG.match(after)
    if m:
        return host, m.group("p1") or m.group("p2"), _pid(m.group("pid")), after[m.end():]
    return host, None, None, after


def _pid(text: str | None) -> int | None:
    return int(text) if text else None


def _split_tag_fast(rest: str) -> tuple[str, str, int | None, str] | None:
    """`split_tag` for the everyday "host prog[pid]: msg" shape, with string operations.

    None whenever `_TAG` could read the text differently (a tag without a host,
    `[prog]`, "prog 1.4.1:", odd whitespace); `split_tag` decides those.
    """
    host, sp, after = rest.partition(" ")
    if not sp or "[" in host or "]" in host or ":" in host or host == "--" or not host.isprintable():
        return None
    after = after.lstrip(" ")
    if after[:1].isdigit():  # "host 1.4.1: ..." could be a versioned tag without a host
        return None
    c = after.find(":")
    if c <= 0 or not (c + 1 == len(after) or after[c + 1] == " "):
        return None
    tag = after[:c]
    pid = None
    if tag[-1] == "]":
        b = tag.find("[")
        digits = tag[b + 1:-1]
        if b <= 0 or not (digits.isdigit() and digits.isascii() and len(digits) <= 10):
            return None
        tag, pid = tag[:b], int(digits)
    if len(tag) > 96 or " " in tag or "[" in tag or "]" in tag or not tag.isprintable():
        return None
    return host, tag, pid, after[c + 1:]


def _parse_fast(line: str, clock: Clock) -> SyslogLine | None:
    """The common "Mmm dd hh:mm:ss host prog[pid]: msg" line without regexes; None: let `parse` decide."""
    if not (line[15:16] == " " and line[3:4] == " ") or line[16:17] in ("", " ") or (
            line[16:20].isdigit() and line[20:21] in (" ", ":")):  # a year after the time
        return None
    tag = _split_tag_fast(line[16:])
    if tag is None:
        return None
    try:
        t = clock.yearless_text(line[:15])
    except ValueError:
        return None
    if t is None:
        return None
    host, program, pid, msg = tag
    return SyslogLine(t[0], line[:15], host, program, pid, msg.strip(), None, t[1])


def parse(line: str, clock: Clock) -> SyslogLine | None:
    rec = _parse_fast(line, clock)
    if rec is not None:
        return rec
    m = _HEAD.match(line)
    if m:
        mo = month_number(m.group("mon"))
        if not mo:
            return None
        frac = m.group("frac")
        us = int((frac + "00000")[:6]) if frac else 0
        h, mi, s, d = int(m.group("h")), int(m.group("mi")), int(m.group("s")), int(m.group("day"))
        try:
            if m.group("year"):
                ts, year = clock.local(int(m.group("year")), mo, d, h, mi, s, us), None
            else:
                ts, year = clock.yearless(mo, d, h, mi, s, us)
        except ValueError:
            return None
        time_text = line[m.start("mon"):m.start("rest")].rstrip(": ")
    else:
        m = _HEAD_ISO.match(line)
        if not m:
            return None
        try:
            ts = parse_iso(m.group("iso"), clock)
        except ValueError:
            return None
        year, time_text = None, m.group("iso")
    host, program, pid, msg = split_tag(m.group("rest"))
    pri = int(m.group("pri")) if m.group("pri") else None
    return SyslogLine(ts, time_text, host, program, pid, msg.strip(), pri, year)
