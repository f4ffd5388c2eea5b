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


def system_fields(system: dict) -> dict[str, Any]:
    """The System block as flat attributes (names from the event table, not from the XML)."""
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
