"""One Windows event dict (evtx-package JSON shape) → one normalized `Event`.

EVTX files (forensics.ingestors.evtx) and event exports in JSON lines or XML
(forensics.ingestors.winevent_export) both end here, so the same record gives
the same entities whatever container it came in. What each EventID means is
the table in forensics.windows.eventmap; this module only applies it.
"""
from __future__ import annotations

import calendar
import ipaddress
import string
from functools import lru_cache
from typing import Any

from forensics.events import Event
from forensics.windows.eventmap import TABLE, Spec, family
from forensics.windows.fields import as_int, event_data, system_fields, text

DATA_TYPE = "windows:evtx:record"
_ABSENT = ("", "-", "0x0", None)


class _Fill(dict):
    """format_map source that prints '-' for anything the record lacks."""

    def __missing__(self, key: str) -> str:
        return "-"


_SECONDS: dict[str, int] = {}  # 'YYYY-MM-DDTHH:MM:SS' → seconds since epoch; records share seconds
_ASCII_DIGITS = frozenset("0123456789")


def parse_system_time(s: Any) -> int | None:
    """'2021-12-16T10:25:32.351835800Z' → µs since epoch (100 ns digits truncated, never rounded)."""
    if not isinstance(s, str) or len(s) < 19:
        return None
    base = _SECONDS.get(s[:19])
    if base is None:
        return _parse_and_remember(s)
    n = len(s)
    if n == 19 or s[19] != ".":
        return base
    j = 20
    while j < n and s[j] in _ASCII_DIGITS:  # bounded by len(s)
        j += 1
    if j < n and s[j].isdigit():  # a non-ASCII digit: the general path decides
        return _parse_system_time(s)
    digits = s[20:j]
    return base + (int((digits + "000000")[:6]) if digits else 0)


def _parse_and_remember(s: str) -> int | None:
    v = _parse_system_time(s)
    if v is not None:
        base = _parse_system_time(s[:19])
        if base is not None:
            if len(_SECONDS) >= 65536:
                _SECONDS.clear()
            _SECONDS[s[:19]] = base
    return v


def _parse_system_time(s: str) -> int | None:
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        h, mi, sec = int(s[11:13]), int(s[14:16]), int(s[17:19])
        frac = 0
        rest = s[19:]
        if rest.startswith("."):
            digits = ""
            for ch in rest[1:]:
                if not ch.isdigit():
                    break
                digits += ch
            frac = int((digits + "000000")[:6]) if digits else 0
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and sec < 61):
            return None
        return calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) * 1_000_000 + frac
    except (ValueError, OverflowError):
        return None


_family = lru_cache(maxsize=4096)(family)  # a handful of (channel, provider) pairs per file


def _pick(data: dict, names: tuple[str, ...]) -> Any:
    for n in names:
        v = data.get(n)
        if v not in _ABSENT:
            return v
    return None


def _clean_ip(v: Any) -> str | None:
    if not isinstance(v, str):
        return None
    return _clean_ip_text(v)


@lru_cache(maxsize=16384)  # the same few addresses recur across thousands of records
def _clean_ip_text(v: str) -> str | None:
    s = v.strip().strip("[]")
    if s.lower().startswith("::ffff:") and "." in s:
        s = s[7:]
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None


def _port(v: Any) -> int | None:
    p = as_int(v)
    return p if p is not None and 0 < p < 65536 else None


def _basename(path: str) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[-1]


def _split_user(v: Any) -> tuple[str | None, str | None]:
    """'DOMAIN\\user' → ('user', 'DOMAIN'); Sysmon and TerminalServices write users this way."""
    if not isinstance(v, str) or v in _ABSENT:
        return None, None
    if "\\" in v:
        dom, _, u = v.rpartition("\\")
        return u or None, dom or None
    return v, None


def _sha256_of(hashes: Any) -> str | None:
    """Sysmon 'SHA1=…,MD5=…,SHA256=…' → the SHA-256 hex."""
    if isinstance(hashes, str):
        for part in hashes.split(","):
            k, _, v = part.partition("=")
            if k.strip().upper() == "SHA256" and len(v.strip()) == 64:
                return v.strip().lower()
    return None


_ENTITIES = ("host", "user", "process_name", "process_cmdline", "src_ip", "src_port", "dst_ip", "dst_port",
             "proto", "domain", "file_path")


@lru_cache(maxsize=None)  # one entry per template of the event table
def _template_names(template: str) -> tuple[str, ...]:
    """The top-level names a str.format template looks up ("{a.b[0]}" looks up "a")."""
    names = []
    try:
        for _lit, field, spec, _conv in string.Formatter().parse(template):
            if field:
                names.append(field.split(".", 1)[0].split("[", 1)[0])
            if spec and "{" in spec:  # "{x:{width}}" looks up width too
                names.extend(_template_names(spec))
    except ValueError:
        return ()
    return tuple(dict.fromkeys(names))


def _fill(template: str, data: dict, attrs: dict, ev: Event) -> _Fill:
    """What the template reads, looked up as: entities, then attributes, then EventData, else "-".

    Only the names the template uses are looked up, instead of merging three whole
    dicts per record.
    """
    fill = _Fill()
    for name in _template_names(template):
        v = getattr(ev, name) if name in _ENTITIES else None
        if v is None:
            v = attrs.get(name)
            if v is None:
                v = data.get(name)
        if v is not None:
            fill[name] = v
    return fill


def normalize(event: dict, locator: str, *, source_format: str | None = None,
              fallback_timestamp: int | None = None) -> Event:
    """Normalize one record. `event` is the value of the top-level "Event" key."""
    system = event.get("System") if isinstance(event.get("System"), dict) else {}
    sysf = system_fields(system)
    data = event_data(event)
    tc = system.get("TimeCreated")
    ts = parse_system_time(tc.get("#attributes", {}).get("SystemTime") if isinstance(tc, dict) else text(tc))
    if ts is None:
        ts = fallback_timestamp if fallback_timestamp is not None else 0
        sysf["timestamp_missing"] = True

    eid = sysf.get("event_id")
    fam = _family(sysf.get("channel"), sysf.get("provider"))
    spec: Spec | None = TABLE.get((fam, eid)) if eid is not None else None
    attrs: dict[str, Any] = dict(data)
    attrs.update(sysf)
    if source_format:
        attrs["source_format"] = source_format
    ev = Event(timestamp=ts, data_type=DATA_TYPE, message="", locator=locator,
               timestamp_desc="Event Recorded", host=sysf.get("computer"), attributes=attrs)
    if spec is None:
        ev.message = f"{sysf.get('provider') or sysf.get('channel') or 'Windows'} event {eid} on {ev.host or '-'}"
        return ev

    user_raw = _pick(data, spec.user)
    if user_raw is not None:
        ev.user, dom = _split_user(str(user_raw))
        if dom:
            attrs["user_domain"] = dom
    image = _pick(data, spec.image)
    if isinstance(image, str):
        ev.process_name = _basename(image)
        attrs["process_image"] = image
    ev.process_pid = as_int(_pick(data, spec.pid))
    cmd = _pick(data, spec.cmdline)
    ev.process_cmdline = str(cmd) if cmd is not None else None
    ev.src_ip = _clean_ip(_pick(data, spec.src_ip))
    ev.src_port = _port(_pick(data, spec.src_port))
    ev.dst_ip = _clean_ip(_pick(data, spec.dst_ip))
    ev.dst_port = _port(_pick(data, spec.dst_port))
    proto = _pick(data, spec.proto)
    ev.proto = str(proto).lower() if proto is not None else None
    dom = _pick(data, spec.domain)
    ev.domain = str(dom).rstrip(".").lower() if isinstance(dom, str) else None
    fp = _pick(data, spec.file_path)
    ev.file_path = str(fp) if fp is not None else None
    for name, cands in spec.extra.items():
        v = _pick(data, cands)
        if v is not None:
            attrs[name] = v
    if "logon_type" in attrs:
        attrs["logon_type"] = as_int(attrs["logon_type"])
    if "parent_process" in attrs and isinstance(attrs["parent_process"], str):
        attrs["parent_process_name"] = _basename(attrs["parent_process"])
    ev.file_sha256 = _sha256_of(attrs.get("hashes"))
    ev.tags = list(spec.tags)
    ev.attack = list(spec.attack)
    ev.gbt_category = spec.gbt
    ev.severity = spec.severity
    try:
        ev.message = f"{eid} " + spec.message.format_map(_fill(spec.message, data, attrs, ev))
    except (ValueError, IndexError, KeyError, AttributeError):  # a template the data cannot fill
        ev.message = f"{sysf.get('provider')} event {eid} on {ev.host or '-'}"
    if len(ev.message) > 2000:  # a script block or command line can be huge; attributes keep it whole
        ev.message = ev.message[:2000] + "…"
    return ev
