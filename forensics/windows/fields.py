"""Flattening an evtx-style event dict (the JSON the `evtx` package renders).

The shape is the evtx package's: {"Event": {"System": {...}, "EventData": {...}
| "UserData": {...}}}. XML exports are converted to the same shape first
(forensics.windows.xmlrecord), so everything downstream sees one form.
"""
from __future__ import annotations

from typing import Any

# Keys the event table reserves in `attributes`; an EventData field with the
# same name is kept under "EventData.<name>" so neither hides the other.
RESERVED = frozenset(
    {"channel", "provider", "event_id", "record_id", "computer", "source_format", "qualifiers", "level",
     "task", "opcode", "keywords", "user_sid", "execution_pid", "execution_tid", "activity_id"}
)


def text(v: Any) -> Any:
    """The scalar inside an evtx value: {"#text": x, "#attributes": …} → x."""
    if isinstance(v, dict):
        if "#text" in v:
            return text(v["#text"])
        return None
    if isinstance(v, list):
        # repeated elements / several text nodes: keep them, joined the way wevtutil prints them
        parts = [text(x) for x in v]
        return "\n".join("" if p is None else str(p) for p in parts)
    return v


def scalar(v: Any) -> str | None:
    """An EventData value as text, the way the event's XML carries it.

    Windows event data is text in XML; the evtx JSON renderer types some of it
    (4624, true). Text is the one form EVTX, JSON and XML exports all agree on,
    and Sigma compares text anyway. Empty and absent are the same in XML.
    """
    t = type(v)  # fast paths for what the evtx renderer gives almost always; same result as below
    if t is str:
        if "\r" in v:
            v = v.replace("\r\n", "\n").replace("\r", "\n")
        return v if v and not v.isspace() else None
    if t is int:
        return str(v)
    v = text(v)
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    s = v if isinstance(v, str) else str(v)
    if "\r" in s:  # XML cannot carry a bare CR, so exports hold "\n": text agrees only without it
        s = s.replace("\r\n", "\n").replace("\r", "\n")
    return s if s.strip() else None


def attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        a = node.get("#attributes")
        if isinstance(a, dict):
            return a.get(name)
    return None


def as_int(v: Any) -> int | None:
    """Integers as Windows writes them: 4624, "4624", "0x12c"."""
    if type(v) is int:
        return v
    v = text(v)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        try:
            return int(s, 0) if s.lower().startswith("0x") else int(s)
        except ValueError:
            return None
    return None


def _attrs_of(node: Any) -> dict:
    if type(node) is dict:
        a = node.get("#attributes")
        if type(a) is dict:
            return a
    return _NO_ATTRS


_NO_ATTRS: dict = {}


def system_fields(system: dict) -> dict[str, Any]:
    """The System block as flat attributes (names from the event table, not from the XML)."""
    get = system.get
    eid = get("EventID")
    if type(eid) is int and type(get("EventRecordID")) is int:
        return _system_fields_fast(system, eid)
    return _system_fields(system)


def _system_fields_fast(system: dict, eid: int) -> dict[str, Any]:
    """system_fields for the evtx renderer's usual shape (plain ints, attributes in "#attributes").

    The same keys in the same order as _system_fields, which stays the reference for
    anything unusual; tests check the two agree on the corpus.
    """
    get = system.get
    out: dict[str, Any] = {}
    ch = get("Channel")
    if ch is not None:
        ch = text(ch) if type(ch) is not str else ch
        if ch is not None:
            out["channel"] = ch
    pa = _attrs_of(get("Provider"))
    prov = pa.get("Name") or pa.get("EventSourceName")
    if prov is not None:
        out["provider"] = prov
    out["event_id"] = eid
    out["record_id"] = get("EventRecordID")
    comp = get("Computer")
    if comp is not None:
        comp = text(comp) if type(comp) is not str else comp
        if comp is not None:
            out["computer"] = comp
    for key, name in (("Level", "level"), ("Task", "task"), ("Opcode", "opcode")):
        v = get(key)
        if v is not None:
            v = v if type(v) is int else as_int(v)
            if v is not None:
                out[name] = v
    kw = get("Keywords")
    if kw is not None:
        kw = kw if type(kw) is str else text(kw)
        if kw is not None:
            out["keywords"] = kw
    sid = _attrs_of(get("Security")).get("UserID")
    if sid:
        out["user_sid"] = sid
    ex = get("Execution")
    if ex is not None:
        ea = _attrs_of(ex)
        pid, tid = as_int(ea.get("ProcessID")), as_int(ea.get("ThreadID"))
        if pid is not None:
            out["execution_pid"] = pid
        if tid is not None:
            out["execution_tid"] = tid
    act = _attrs_of(get("Correlation")).get("ActivityID")
    if act:
        out["activity_id"] = act
    return out


def _system_fields(system: dict) -> dict[str, Any]:
    eid = system.get("EventID")
    out: dict[str, Any] = {
        "channel": text(system.get("Channel")),
        "provider": attr(system.get("Provider"), "Name") or attr(system.get("Provider"), "EventSourceName"),
        "event_id": as_int(eid),
        "record_id": as_int(system.get("EventRecordID")),
        "computer": text(system.get("Computer")),
    }
    q = attr(eid, "Qualifiers")
    if q is not None:
        out["qualifiers"] = as_int(q)
    for key, name in (("Level", "level"), ("Task", "task"), ("Opcode", "opcode")):
        v = as_int(system.get(key))
        if v is not None:
            out[name] = v
    kw = text(system.get("Keywords"))
    if kw is not None:
        out["keywords"] = kw
    sid = attr(system.get("Security"), "UserID")
    if sid:
        out["user_sid"] = sid
    ex = system.get("Execution")
    if ex is not None:
        pid, tid = as_int(attr(ex, "ProcessID")), as_int(attr(ex, "ThreadID"))
        if pid is not None:
            out["execution_pid"] = pid
        if tid is not None:
            out["execution_tid"] = tid
    act = attr(system.get("Correlation"), "ActivityID")
    if act:
        out["activity_id"] = act
    return {k: v for k, v in out.items() if v is not None}


def event_data(event: dict) -> dict[str, Any]:
    """EventData / UserData flattened to {field: scalar}.

    Named <Data Name="X"> become X; unnamed <Data> become Data (several: Data_0, Data_1…);
    UserData's single wrapper element (e.g. LogFileCleared, EventXML) is unwrapped.
    Nested elements become dotted names so nothing is lost.
    """
    ed = event.get("EventData")
    if type(ed) is dict and event.get("UserData") is None:
        flat = _flat_event_data(ed)
        if flat is not None:
            return flat
    return _event_data(event)


def _event_data(event: dict) -> dict[str, Any]:
    """event_data's general path, and the reference its fast path is tested against."""
    out: dict[str, Any] = {}
    ed = event.get("EventData")
    if isinstance(ed, dict):
        _flatten(ed, "", out)
    elif ed is not None and not isinstance(ed, dict):
        v = scalar(ed)
        if v is not None:
            out["Data"] = v
    ud = event.get("UserData")
    if isinstance(ud, dict):
        for _wrapper, inner in ud.items():
            if _wrapper == "#attributes":
                continue
            if isinstance(inner, dict):
                _flatten(inner, "", out)
            else:
                out[_wrapper] = scalar(inner)
    # "Data" as a list of unnamed values
    d = out.pop("Data", None)
    if isinstance(d, list):
        for i, x in enumerate(d):
            out[f"Data_{i}"] = scalar(x)
    elif d is not None:
        out["Data"] = d
    return {(f"EventData.{k}" if k in RESERVED else k): v for k, v in out.items() if v is not None}


_PLAIN = (str, int)


def _flat_event_data(ed: dict) -> dict[str, Any] | None:
    """event_data for the common case of named scalar fields only; None → take the general path."""
    out: dict[str, Any] = {}
    for k, v in ed.items():
        if k == "#attributes" or k == "Data" or k == "#text" or (v is not None and type(v) not in _PLAIN):
            return None
        if v is not None:
            v = scalar(v)
            if v is not None:
                out[f"EventData.{k}" if k in RESERVED else k] = v
    return out


def _flatten(node: dict, prefix: str, out: dict[str, Any], depth: int = 0) -> None:
    for k, v in node.items():
        if k == "#attributes":
            continue
        name = f"{prefix}{k}" if k != "#text" else (prefix[:-1] or "Data")
        if isinstance(v, dict) and depth < 8 and "#text" not in v:
            _flatten(v, f"{name}.", out, depth + 1)
        elif k == "Data" and isinstance(v, dict) and "#text" in v and isinstance(v["#text"], list):
            out["Data"] = list(v["#text"])
        elif k == "Data" and isinstance(v, list):
            out["Data"] = v
        else:
            out[name] = scalar(v)
