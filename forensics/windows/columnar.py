"""EVTX records straight into event columns, without an Event object per record.

forensics.windows.normalize is the reference: one record → one `Event`, which the
event store then takes apart again into columns. Per record that costs several
times what the evtx package spends parsing it. Here the usual record shape
(plain-int EventID and EventRecordID, flat EventData of text and numbers, an
ISO SystemTime) is normalized by a copy of normalize()'s logic that writes the
stored row values directly - the `to_row()` forms: sorted tag lists, canonical
JSON attributes - and the per-(log, EventID) work (which template names to
fill, the sorted tags) is done once per spec instead of once per record.

Anything else returns None and the caller takes the reference path for that
record, so the stored rows are the reference's by construction for the unusual
shapes; tests/test_evtx_columnar.py compares the two paths row for row on every
corpus file and on generated odd records.
"""
from __future__ import annotations

from typing import Any

import orjson

from forensics.events import canonical_json
from forensics.windows.eventmap import TABLE, Spec
from forensics.windows.fields import RESERVED, _system_fields_fast, as_int
from forensics.windows.normalize import (_ENTITIES, _basename, _clean_ip, _clean_ip_text, _family, _Fill, _pick,
                                         _parse_system_time, _port, _sha256_of, _split_user, _template_names,
                                         parse_system_time)

# The row a record becomes, in this order (the EVENT_SCHEMA columns an EventBatch carries
# that vary per record; the constant ones are added per batch).
ROW_COLUMNS = ("timestamp", "message", "locator", "host", "user", "process_pid", "process_name", "process_cmdline",
               "src_ip", "src_port", "dst_ip", "dst_port", "proto", "domain", "file_path", "file_sha256", "tags",
               "attack", "gbt_category", "severity", "attributes")
_ENTITY_INDEX = {name: ROW_COLUMNS.index(name) for name in _ENTITIES}


class _Plan:
    """What normalize() derives from a spec alone, computed once per spec."""

    __slots__ = ("spec", "tags", "attack", "names", "extra", "apply")

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.tags = sorted(set(spec.tags))
        self.attack = sorted(set(spec.attack))
        self.names = _template_names(spec.message)
        self.extra = tuple(spec.extra.items())
        self.apply = _compile(self)


_ROLES = ("user", "image", "pid", "cmdline", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "domain", "file_path")


def _compile(plan: _Plan):
    """_apply for one spec as straight-line Python: no loops over candidate names, no _pick or
    _Fill calls, the message an f-string. Valid because the fast path's EventData values are
    all non-empty text (fields.scalar of str and int), so str(v) is v and "absent" is None,
    "-" or "0x0". A template with anything but plain {name} fields keeps the general _apply."""
    spec = plan.spec
    parts = []
    try:
        for lit, field, fspec, conv in __import__("string").Formatter().parse(spec.message):
            if field is not None and (not field.isidentifier() or fspec or conv):
                return _generic(plan)
            parts.append((lit, field))
    except ValueError:
        return _generic(plan)
    src = ["def apply(eid, ts, locator, host, data, attrs, get, checksum_bad, encode):", "    g = data.get"]

    def pick(var: str, cands: tuple[str, ...], depth: int = 1) -> None:
        pad = "    " * depth
        if not cands:
            src.append(f"{pad}{var} = None")
            return
        src.append(f"{pad}{var} = g({cands[0]!r})")
        src.append(f"{pad}if {var} is None or {var} == '-' or {var} == '0x0':")
        pick(var, cands[1:], depth + 1)

    pick("v", spec.user)
    src += ["    user = None", "    if v is not None:", "        user, dom = _split_user(v)",
            "        if dom:", "            attrs['user_domain'] = dom"]
    pick("v", spec.image)
    src += ["    process_name = None", "    if v is not None:", "        process_name = _basename(v)",
            "        attrs['process_image'] = v"]
    pick("v", spec.pid)
    src.append("    pid = as_int(v) if v is not None else None")
    pick("cmdline", spec.cmdline)
    pick("v", spec.src_ip)
    src.append("    src_ip = _clean_ip_text(v) if v is not None else None")
    pick("v", spec.src_port)
    src.append("    src_port = _port(v) if v is not None else None")
    pick("v", spec.dst_ip)
    src.append("    dst_ip = _clean_ip_text(v) if v is not None else None")
    pick("v", spec.dst_port)
    src.append("    dst_port = _port(v) if v is not None else None")
    pick("v", spec.proto)
    src.append("    proto = v.lower() if v is not None else None")
    pick("v", spec.domain)
    src.append("    domain = v.rstrip('.').lower() if v is not None else None")
    pick("file_path", spec.file_path)
    for name, cands in plan.extra:
        pick("v", cands)
        src += ["    if v is not None:", f"        attrs[{name!r}] = v"]
    src += ["    if 'logon_type' in attrs:", "        attrs['logon_type'] = as_int(attrs['logon_type'])",
            "    v = attrs.get('parent_process')",
            "    if isinstance(v, str):", "        attrs['parent_process_name'] = _basename(v)",
            "    file_sha256 = _sha256_of(attrs.get('hashes'))"]
    entities = {"host", "user", "process_name", "process_cmdline", "src_ip", "src_port", "dst_ip", "dst_port",
                "proto", "domain", "file_path"}
    assert entities == set(_ENTITIES)
    local = {"process_cmdline": "cmdline"}
    fmt = []
    for i, (lit, field) in enumerate(parts):
        if lit:
            fmt.append(repr(lit))
        if field is None:
            continue
        m = f"m{i}"
        if field in entities:
            src.append(f"    {m} = {local.get(field, field)}")
            src.append(f"    if {m} is None:")
            pad = "        "
        else:
            pad = "    "
        src += [f"{pad}{m} = attrs.get({field!r})", f"{pad}if {m} is None:", f"{pad}    {m} = g({field!r})",
                f"{pad}    if {m} is None:", f"{pad}        {m} = '-'"]
        fmt.append(f"f'{{{m}}}'")
    src.append(f"    message = f'{{eid}} ' + {' + '.join(fmt) if fmt else repr('')}")
    src += ["    if len(message) > 2000:", "        message = message[:2000] + '…'",
            "    if checksum_bad:", "        attrs['chunk_checksum_ok'] = False",
            f"    return (ts, message, locator, host, user, pid, process_name, cmdline, src_ip, src_port, dst_ip, "
            f"dst_port, proto, domain, file_path, file_sha256, TAGS, ATTACK, {spec.gbt!r}, {spec.severity!r}, "
            f"encode(attrs))"]
    env = {"_split_user": _split_user, "_basename": _basename, "as_int": as_int, "_clean_ip_text": _clean_ip_text,
           "_port": _port, "_sha256_of": _sha256_of, "TAGS": plan.tags,
           "ATTACK": plan.attack}
    exec("\n".join(src), env)  # noqa: S102 - source built above from the event table, not from evidence
    return env["apply"]


def _generic(plan: _Plan):
    def apply(eid, ts, locator, host, data, attrs, get, checksum_bad, encode):
        return _apply(plan, eid, ts, locator, host, data, attrs, get, checksum_bad, encode)
    return apply


_PLANS: dict[tuple[str, int], _Plan | None] = {}
_PLAN_OF: dict[tuple, _Plan | None] = {}  # (channel, provider, EventID) → _plan(_family(channel, provider), EventID)
_NO_TAGS: list = []


def _plan(fam: str, eid: int) -> _Plan | None:
    key = (fam, eid)
    try:
        return _PLANS[key]
    except KeyError:
        spec = TABLE.get(key)
        p = _PLANS[key] = _Plan(spec) if spec is not None else None
        return p


def _time(system: dict) -> int | None:
    """parse_system_time of TimeCreated's SystemTime; None → the reference path decides."""
    tc = system.get("TimeCreated")
    if type(tc) is dict:
        a = tc.get("#attributes", {})
        if type(a) is dict:
            s = a.get("SystemTime")
            if type(s) is str:
                return _system_time(s)
    return None


def _system_time(s: str) -> int | None:
    """parse_system_time(s), for the renderer's "YYYY-MM-DDTHH:MM:SS.ffffff[fff]Z" with less work per record.

    Records rarely share a second, so parse_system_time's per-second cache mostly misses;
    they do share a minute. calendar.timegm is linear in the seconds, so the minute's start
    (computed by the reference code itself, validation included) plus the seconds and the
    first six fraction digits is its result.
    """
    if len(s) > 21 and s[19] == "." and s[-1] == "Z":
        minute = _MINUTE_US.get(s[:16], _MISS)
        if minute is _MISS:
            if len(_MINUTE_US) >= 65536:
                _MINUTE_US.clear()
            minute = _MINUTE_US[s[:16]] = _parse_system_time(s[:16] + ":00")
        sec = s[17:19]
        digits = s[20:-1]
        # ASCII digits only: then int() reads them as the reference does (no signs, blanks, other scripts)
        if minute is not None and sec.isdigit() and sec.isascii() and digits.isdigit() and digits.isascii():
            sec = int(sec)
            if sec < 61:
                return minute + sec * 1_000_000 + int((digits + "000000")[:6])
    return parse_system_time(s)


_MINUTE_US: dict[str, int | None] = {}
_MISS = object()


def _event_data(ed: dict) -> dict | None:
    """fields.event_data of a flat EventData (named text, numbers, booleans), fields.scalar inlined.

    fields._flat_event_data leaves booleans to the general code, whose result for a flat
    dict is this one; None → not flat, the general code decides."""
    if not (_NOT_FLAT.isdisjoint(ed) and RESERVED.isdisjoint(ed)):
        return None  # names the general code treats specially or renames: it decides
    out = {}
    for k, v in ed.items():
        t = type(v)
        if t is str:
            if "\r" in v:
                v = v.replace("\r\n", "\n").replace("\r", "\n")
            if not v or v.isspace():
                continue
        elif t is int:
            v = str(v)
        elif v is None:
            continue
        elif t is bool:  # the general code's scalar(): text as XML writes it
            v = "true" if v else "false"
        else:
            return None
        out[k] = v
    return out


_NOT_FLAT = frozenset(("#attributes", "Data", "#text"))


def _system(system: dict, eid: int) -> dict | None:
    """fields._system_fields_fast when every value has the renderer's usual type (text, plain int),
    so that every attribute is one orjson writes as json does; None → _system_fields_fast decides."""
    get = system.get
    out = {}
    v = get("Channel")
    if v is not None:
        if type(v) is not str:
            return None
        out["channel"] = v
    v = get("Provider")
    a = v.get("#attributes") if type(v) is dict else None
    if type(a) is dict:
        v = a.get("Name") or a.get("EventSourceName")
        if v is not None:
            if type(v) is not str:
                return None
            out["provider"] = v
    out["event_id"] = eid
    out["record_id"] = get("EventRecordID")
    v = get("Computer")
    if v is not None:
        if type(v) is not str:
            return None
        out["computer"] = v
    v = get("Level")
    if v is not None:
        if type(v) is not int:
            return None
        out["level"] = v
    v = get("Task")
    if v is not None:
        if type(v) is not int:
            return None
        out["task"] = v
    v = get("Opcode")
    if v is not None:
        if type(v) is not int:
            return None
        out["opcode"] = v
    v = get("Keywords")
    if v is not None:
        if type(v) is not str:
            return None
        out["keywords"] = v
    v = get("Security")
    if type(v) is dict:
        a = v.get("#attributes")
        if type(a) is dict:
            v = a.get("UserID")
            if v:
                if type(v) is not str:
                    return None
                out["user_sid"] = v
    v = get("Execution")
    if type(v) is dict:
        a = v.get("#attributes")
        if type(a) is dict:
            x = a.get("ProcessID")
            if x is not None:
                if type(x) is not int:
                    return None
                out["execution_pid"] = x
            x = a.get("ThreadID")
            if x is not None:
                if type(x) is not int:
                    return None
                out["execution_tid"] = x
    v = get("Correlation")
    if type(v) is dict:
        a = v.get("#attributes")
        if type(a) is dict:
            v = a.get("ActivityID")
            if v:
                if type(v) is not str:
                    return None
                out["activity_id"] = v
    return out




def _attributes(attrs: dict) -> str:
    """canonical_json(attrs) for the fast path's attributes, which hold only text, ints, bools and
    None (the types for which canonical_json itself writes with orjson), without re-checking them."""
    try:
        return _dumps(attrs, option=_SORT).decode()
    except TypeError:  # an int past 64 bits: canonical_json takes the stdlib path
        return canonical_json(attrs)


_dumps, _SORT = orjson.dumps, orjson.OPT_SORT_KEYS


def fast_row(event: Any, locator: str, checksum_bad: bool) -> tuple | None:
    """normalize(event, locator) as stored row values (ROW_COLUMNS), or None for an unusual record.

    `checksum_bad` adds chunk_checksum_ok=false as the EVTX ingestor does. Records
    PowerShell script block assembly must see (4104 with ScriptBlockId) also return
    None: the caller needs their Event.
    """
    if type(event) is not dict or not event:
        return None
    system = event.get("System")
    if type(system) is not dict:
        return None
    eid = system.get("EventID")
    if type(eid) is not int or type(system.get("EventRecordID")) is not int:
        return None
    ed = event.get("EventData")
    if event.get("UserData") is not None:
        return None
    if type(ed) is dict:
        data = _event_data(ed)
        if data is None:
            return None
    elif ed is None:
        data = {}
    else:
        return None
    tc = system.get("TimeCreated")  # _time, inlined
    if type(tc) is not dict:
        return None
    a = tc.get("#attributes", {})
    if type(a) is not dict:
        return None
    s = a.get("SystemTime")
    if type(s) is not str:
        return None
    # _system_time's usual case inlined (same minute as a record before, plain digits)
    minute = _MINUTE_US.get(s[:16]) if len(s) > 21 and s[19] == "." and s[-1] == "Z" else None
    sec, digits = s[17:19], s[20:-1]
    if minute is not None and sec.isdigit() and sec.isascii() and digits.isdigit() and digits.isascii() \
            and int(sec) < 61:
        ts = minute + int(sec) * 1_000_000 + int((digits + "000000")[:6])
    else:
        ts = _system_time(s)
        if ts is None:
            return None
    if eid == 4104 and "ScriptBlockId" in data:
        return None
    sysf = _system(system, eid)
    if sysf is None:
        sysf = _system_fields_fast(system, eid)
        encode = canonical_json
    else:
        encode = _attributes
    get = sysf.get
    host, channel, provider = get("computer"), get("channel"), get("provider")
    key = (channel, provider, eid)
    plan = _PLAN_OF.get(key, _MISS)
    if plan is _MISS:
        if len(_PLAN_OF) >= 65536:
            _PLAN_OF.clear()
        plan = _PLAN_OF[key] = _plan(_family(channel, provider), eid)
    if plan is None:  # no table row: data is not needed after this, so it becomes the attributes
        attrs = data
        attrs.update(sysf)
        message = f"{provider or channel or 'Windows'} event {eid} on {host or '-'}"
        if checksum_bad:
            attrs["chunk_checksum_ok"] = False
        return (ts, message, locator, host, None, None, None, None, None, None, None, None, None, None, None, None,
                _NO_TAGS, _NO_TAGS, None, "info", encode(attrs))
    attrs = dict(data)
    attrs.update(sysf)
    return plan.apply(eid, ts, locator, host, data, attrs, get, checksum_bad, encode)


def _apply(plan: _Plan, eid: int, ts: int, locator: str, host: Any, data: dict, attrs: dict, get,
           checksum_bad: bool, encode=canonical_json) -> tuple:
    """normalize()'s spec branch, same order of reads and writes."""
    spec = plan.spec
    user = None
    user_raw = _pick(data, spec.user) if spec.user else None
    if user_raw is not None:
        user, dom = _split_user(str(user_raw))
        if dom:
            attrs["user_domain"] = dom
    process_name = None
    image = _pick(data, spec.image) if spec.image else None
    if isinstance(image, str):
        process_name = _basename(image)
        attrs["process_image"] = image
    pid = as_int(_pick(data, spec.pid)) if spec.pid else None
    cmd = _pick(data, spec.cmdline) if spec.cmdline else None
    cmdline = str(cmd) if cmd is not None else None
    src_ip = _clean_ip(_pick(data, spec.src_ip)) if spec.src_ip else None
    src_port = _port(_pick(data, spec.src_port)) if spec.src_port else None
    dst_ip = _clean_ip(_pick(data, spec.dst_ip)) if spec.dst_ip else None
    dst_port = _port(_pick(data, spec.dst_port)) if spec.dst_port else None
    proto = _pick(data, spec.proto) if spec.proto else None
    proto = str(proto).lower() if proto is not None else None
    dom = _pick(data, spec.domain) if spec.domain else None
    domain = str(dom).rstrip(".").lower() if isinstance(dom, str) else None
    fp = _pick(data, spec.file_path) if spec.file_path else None
    file_path = str(fp) if fp is not None else None
    for name, cands in plan.extra:
        v = _pick(data, cands)
        if v is not None:
            attrs[name] = v
    if "logon_type" in attrs:
        attrs["logon_type"] = as_int(attrs["logon_type"])
    if "parent_process" in attrs and isinstance(attrs["parent_process"], str):
        attrs["parent_process_name"] = _basename(attrs["parent_process"])
    file_sha256 = _sha256_of(attrs.get("hashes"))
    row = [ts, "", locator, host, user, pid, process_name, cmdline, src_ip, src_port, dst_ip, dst_port, proto,
           domain, file_path, file_sha256, plan.tags, plan.attack, spec.gbt, spec.severity, None]
    # normalize()'s _fill: entities, then attributes, then EventData, else "-"
    fill = _Fill()
    for name in plan.names:
        i = _ENTITY_INDEX.get(name)
        v = row[i] if i is not None else None
        if v is None:
            v = attrs.get(name)
            if v is None:
                v = data.get(name)
        if v is not None:
            fill[name] = v
    try:
        message = f"{eid} " + spec.message.format_map(fill)
    except (ValueError, IndexError, KeyError, AttributeError):
        message = f"{get('provider')} event {eid} on {host or '-'}"
    if len(message) > 2000:
        message = message[:2000] + "…"
    row[1] = message
    if checksum_bad:  # the EVTX ingestor adds it after normalize()
        attrs["chunk_checksum_ok"] = False
    row[20] = encode(attrs)
    return tuple(row)


def event_row(ev) -> tuple:
    """A reference-path Event as the same row values (Event.to_row() forms)."""
    return (ev.timestamp, ev.message, ev.locator, ev.host, ev.user, ev.process_pid, ev.process_name,
            ev.process_cmdline, ev.src_ip, ev.src_port, ev.dst_ip, ev.dst_port, ev.proto, ev.domain, ev.file_path,
            ev.file_sha256, sorted(set(ev.tags)) if ev.tags else [], sorted(set(ev.attack)) if ev.attack else [],
            ev.gbt_category, ev.severity, canonical_json(ev.attributes) if ev.attributes else "{}")
