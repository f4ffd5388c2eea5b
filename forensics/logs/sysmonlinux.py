"""Sysmon for Linux records forwarded through syslog (Azure Monitor / rsyslog JSON rows).

Sysmon for Linux writes the same <Event> XML as Windows Sysmon into syslog's
message; forwarders then carry that XML as an opaque string (`SyslogMessage`).
Read as a plain log line it names no process at all, so the record is parsed
here and normalised with the Windows Sysmon table (forensics.windows): one
schema for process creation, network connections and file events whichever OS
logged them. The data_type says where the record came from.

One rule is added on top of the table, because Sysmon itself has no notion of
suspicious: a command shell whose parent is a server runtime (a JVM, Node, PHP,
a web server) is how a remote code execution shows itself on Linux (Log4Shell,
deserialisation, web shells), so it carries T1059.004 (Unix shell) and T1203
(exploitation for execution) at high severity.
"""
from __future__ import annotations

import html
import re
from xml.etree.ElementTree import ParseError, fromstring

from forensics.events import Event
from forensics.logs.common import Where

DATA_TYPE = "linux:sysmon:record"
MARK = "<Provider Name=\"Linux-Sysmon\""
MAX_XML = 256 * 1024  # a Sysmon record is a few KiB; anything far larger is not one

_SHELL = re.compile(r"(?:^|/)(?:ba|da|z|k|c|tc|a)?sh$")
_SERVER_RUNTIME = re.compile(r"(?:^|/)(?:java|javaw|node|nodejs|php(?:-fpm)?[\d.]*|httpd|apache2|nginx|tomcat\d*|"
                             r"catalina\.sh|ruby|w3wp|uwsgi|gunicorn)$")


# Salvage of a damaged record: syslog truncates long messages (often at 2 KiB, mid-command-line) and some
# writers emit bare "&lt " entities. The record is flat and machine-written, so its fields are still readable.
_SYS_ATTR = re.compile(r"<(Provider|TimeCreated|Execution|Security)\b([^>]*?)/?>")
_SYS_TEXT = re.compile(r"<(EventID|Version|Level|Task|Opcode|Keywords|EventRecordID|Channel|Computer)>([^<]*)</\1>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_DATA = re.compile(r'<Data Name="(\w+)">([^<]*)(?:</Data>|$)')


def find(msg: str) -> int:
    """Offset of a Sysmon-for-Linux <Event> in a forwarded message, or -1."""
    if MARK not in msg:
        return -1
    return msg.find("<Event")


def parse(xml: str, where: Where, host: str | None = None) -> Event | str:
    """The normalised event of one record, or the reason it could not be read (the caller reports it)."""
    from forensics.windows.normalize import normalize
    from forensics.windows.xmlrecord import event_dict

    if len(xml) > MAX_XML:
        return f"Sysmon for Linux record of {len(xml)} characters exceeds {MAX_XML}"
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        return "Sysmon for Linux record with a DTD (refused: entity expansion)"
    damage = None
    try:
        record = event_dict(fromstring(xml))
    except ParseError as e:
        damage = str(e)
        record = _salvage(xml)
        if record is None:
            return f"unreadable Sysmon for Linux XML: {damage}"
    ev = normalize(record, where.locator, source_format="sysmon for linux (syslog)")
    if damage:
        ev.attributes["xml_damaged"] = damage  # fields read from a truncated or malformed record
    ev.data_type = DATA_TYPE
    ev.host = ev.host or host
    if ev.attributes.get("event_id") in (1, "1"):
        _shell_from_server(ev)
    return ev


def _salvage(xml: str) -> dict | None:
    """The evtx-shaped record from a damaged XML string, field by field; None without an EventID."""
    system: dict = {}
    for name, attrs in _SYS_ATTR.findall(xml):
        system.setdefault(name, {"#attributes": {k: html.unescape(v) for k, v in _ATTR.findall(attrs)}})
    for name, text in _SYS_TEXT.findall(xml):
        system.setdefault(name, html.unescape(text))
    if not str(system.get("EventID", "")).isdigit():
        return None
    system["EventID"] = int(system["EventID"])
    data = {}
    for name, value in _DATA.findall(xml[xml.find("<EventData"):] if "<EventData" in xml else ""):
        data.setdefault(name, html.unescape(value).strip() or None)
    return {"System": system, "EventData": data or None}


def _shell_from_server(ev: Event) -> None:
    image = str(ev.attributes.get("process_image") or ev.attributes.get("Image") or "")
    parent = str(ev.attributes.get("ParentImage") or ev.attributes.get("parent_process") or "")
    if _SHELL.search(image) and _SERVER_RUNTIME.search(parent):
        ev.attack = sorted(set(ev.attack) | {"T1059.004", "T1203"})
        ev.tags = sorted(set(ev.tags) | {"suspicious_process", "execution"})
        ev.severity = "high"
        ev.message = f"Shell started by a server runtime ({parent.rsplit('/', 1)[-1]}): {ev.message}"
