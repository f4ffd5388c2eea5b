"""A syslog record to an event: hand it to the program's own parser (auth,
netfilter, audit) and fall back to a plain `linux:syslog:line`."""
from __future__ import annotations

from forensics.events import Event
from forensics.logs import auditd, authlog, firewall
from forensics.logs.common import FileState, Where
from forensics.logs.syslog3164 import SyslogLine


def to_event(rec: SyslogLine, where: Where, state: FileState) -> Event:
    prog = rec.base_program
    if prog in authlog.AUTH_PROGRAMS:
        ev = authlog.parse(rec, where, state)
        if ev is not None:
            return _keep_5424(ev, rec)
    if firewall.is_netfilter(rec.message):
        return _keep_5424(firewall.parse_netfilter(rec, where), rec)
    i = auditd.find(rec.message) if "audit(" in rec.message else -1
    if i >= 0:
        ev = auditd.parse(rec.message[i:], where, host=rec.host)
        if ev is not None:
            ev.attributes["syslog_time_text"] = rec.time_text
            return ev
    attrs = {"time_text": rec.time_text, "program": rec.program, "body": rec.message, **rec.pri_fields()}
    if rec.year_inferred:
        attrs["year_inferred"] = rec.year_inferred
    if where.encoding != "utf-8":
        attrs["encoding"] = where.encoding
    if rec.extra:
        attrs.update(rec.extra)
    tag = f"{rec.program}[{rec.pid}]" if rec.pid is not None else rec.program
    return Event(
        timestamp=rec.timestamp, data_type="linux:syslog:line", locator=where.locator,
        message=f"{tag}: {rec.message}" if tag else rec.message, host=rec.host, process_pid=rec.pid,
        process_name=rec.program, attributes={k: v for k, v in attrs.items() if v is not None},
    )


def _keep_5424(ev: Event, rec: SyslogLine) -> Event:
    if rec.extra:
        ev.attributes.update(rec.extra)
    return ev
