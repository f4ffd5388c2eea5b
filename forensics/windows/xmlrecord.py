"""Windows event XML (`wevtutil qe /f:xml`, Event Viewer "Save as XML") → the evtx JSON shape.

Streams <Event> elements with iterparse and clears each after use, so memory
stays flat however large the export. The result has the shape the `evtx`
package renders, so forensics.windows.normalize treats both the same.
"""
from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
_ATTR_ONLY = {"Provider", "TimeCreated", "Execution", "Security", "Correlation"}


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: Element) -> str | None:
    t = el.text
    return t if t is not None and t.strip() else None


def _node(el: Element, depth: int = 0) -> Any:
    """Generic element: attributes under #attributes, children by name, text as #text or the value."""
    kids = list(el)
    if not kids:
        t = _text(el)
        if el.attrib:
            d: dict[str, Any] = {"#attributes": dict(el.attrib)}
            if t is not None:
                d["#text"] = t
            return d
        return t
    d = {"#attributes": dict(el.attrib)} if el.attrib else {}
    for c in kids:
        name = local(c.tag)
        v = _node(c, depth + 1) if depth < 16 else _text(c)
        if name in d:  # repeated element: a list, as the evtx renderer makes it
            if not isinstance(d[name], list):
                d[name] = [d[name]]
            d[name].append(v)
        else:
            d[name] = v
    return d


def event_dict(el: Element) -> dict:
    """One <Event> element → the value of the evtx JSON "Event" key."""
    out: dict[str, Any] = {}
    for part in el:
        name = local(part.tag)
        if name == "System":
            sysd: dict[str, Any] = {}
            for c in part:
                cn = local(c.tag)
                if cn in _ATTR_ONLY:
                    sysd[cn] = {"#attributes": dict(c.attrib)} if c.attrib else None
                elif cn == "EventID" and c.attrib:
                    sysd[cn] = {"#attributes": dict(c.attrib), "#text": _text(c)}
                else:
                    sysd[cn] = _text(c)
            out["System"] = sysd
        elif name == "EventData":
            data: dict[str, Any] = {}
            unnamed: list[Any] = []
            for c in part:
                if local(c.tag) == "Data":
                    if "Name" in c.attrib:
                        data[c.attrib["Name"]] = _text(c)
                    else:
                        unnamed.append(_text(c))
                else:
                    data[local(c.tag)] = _node(c)
            if unnamed:
                data["Data"] = unnamed if len(unnamed) > 1 else unnamed[0]
            out["EventData"] = data or None
        elif name == "UserData":
            out["UserData"] = _node(part)
        elif name == "RenderingInfo":
            out["RenderingInfo"] = _node(part)
    return out
