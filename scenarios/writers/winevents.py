"""Windows Security / System / Sysmon events exported as JSON lines, one record
per line, in the shape the EVTX engineer normalizes:

{"Event": {"System": {"Provider": {"#attributes": {"Name": ...}}, "EventID": 4624,
 "TimeCreated": {"#attributes": {"SystemTime": "2026-03-01T02:03:04.000000Z"}},
 "EventRecordID": 12, "Channel": "Security", "Computer": "HOST.corp.local"},
 "EventData": {...}}}

Record ids are assigned per (computer, channel) in time order, as each host's
log would number them; plus an optional wevtutil-style XML export."""
from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator
from xml.sax.saxutils import escape

from scenarios.writers.clock import dt

SECURITY = ("Microsoft-Windows-Security-Auditing", "Security")
SYSMON = ("Microsoft-Windows-Sysmon", "Microsoft-Windows-Sysmon/Operational")
SCM = ("Service Control Manager", "System")
EVENTLOG = ("Microsoft-Windows-Eventlog", "Security")


@dataclass(order=True)
class WinEvent:
    ts: int
    seq: int
    computer: str = field(compare=False)
    provider: tuple[str, str] = field(compare=False)
    event_id: int = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


def system_time(ts: int) -> str:
    return dt(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _records(events: Iterable[WinEvent], first_ids: dict[tuple[str, str], int]) -> Iterator[tuple[WinEvent, int]]:
    counters: dict[tuple[str, str], int] = {}
    for ev in events:
        key = (ev.computer, ev.provider[1])
        rid = counters.get(key, first_ids.get(key, 1))
        counters[key] = rid + 1
        yield ev, rid


def as_record(ev: WinEvent, record_id: int) -> dict:
    return {"Event": {"System": {"Provider": {"#attributes": {"Name": ev.provider[0]}}, "EventID": ev.event_id,
                                 "TimeCreated": {"#attributes": {"SystemTime": system_time(ev.ts)}},
                                 "EventRecordID": record_id, "Channel": ev.provider[1], "Computer": ev.computer},
                      "EventData": ev.data}}


def write_jsonl(path: Path, *streams: Iterable[WinEvent], first_ids: dict | None = None) -> int:
    """Merge time-ordered event streams and write one JSON record per line."""
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for ev, rid in _records(heapq.merge(*streams), first_ids or {}):
            f.write(json.dumps(as_record(ev, rid), ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def write_xml(path: Path, *streams: Iterable[WinEvent], first_ids: dict | None = None) -> int:
    """`wevtutil qe Security /f:xml` style: <Events><Event xmlns=...>...</Event>...</Events>."""
    n = 0
    ns = "http://schemas.microsoft.com/win/2004/08/events/event"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<Events>\n')
        for ev, rid in _records(heapq.merge(*streams), first_ids or {}):
            data = "".join(f'<Data Name="{escape(str(k))}">{escape(str(v))}</Data>' for k, v in ev.data.items())
            f.write(f'<Event xmlns="{ns}"><System><Provider Name="{escape(ev.provider[0])}"/>'
                    f"<EventID>{ev.event_id}</EventID><TimeCreated SystemTime=\"{system_time(ev.ts)}\"/>"
                    f"<EventRecordID>{rid}</EventRecordID><Channel>{escape(ev.provider[1])}</Channel>"
                    f"<Computer>{escape(ev.computer)}</Computer></System><EventData>{data}</EventData></Event>\n")
            n += 1
        f.write("</Events>\n")
    return n
