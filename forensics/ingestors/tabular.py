"""Generic JSON lines and CSV logs, with a column mapping.

`options["columns"]` maps event fields to the file's column names, e.g.
{"timestamp": "ts", "message": "msg", "src_ip": "client"}; unmapped fields are
guessed from common names. Every other column goes to `attributes`.
Declines JSON lines that other ingestors own: Windows event exports (keys
"Event"/"System"), Plaso json_line and Hayabusa timesketch output.
Each damaged record is one IngestError (file, line); the rest comes out.
"""
from __future__ import annotations

import csv
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from forensics.events import Event
from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.logs import auditd, m365audit, sysmonlinux
from forensics.logs.common import Where, clean_ip, to_int
from forensics.logs.lines import decode_line, iter_raw_lines, looks_binary
from forensics.logs.timeparse import Clock, parse_iso

GUESSES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "@timestamp", "time", "datetime", "date", "ts", "eventtime", "timegenerated",
                  "event_time", "created_at", "utctime"),
    "message": ("message", "msg", "syslogmessage", "log", "text", "description", "content"),
    "host": ("host", "hostname", "computer", "device", "server"),
    "user": ("user", "username", "user_name", "account", "usr"),
    "src_ip": ("src_ip", "source_ip", "client_ip", "clientip", "src", "remote_addr", "ip", "hostip"),
    "dst_ip": ("dst_ip", "dest_ip", "destination_ip", "dst"),
    "src_port": ("src_port", "source_port", "sport"),
    "dst_port": ("dst_port", "dest_port", "destination_port", "dport"),
    "process_name": ("process", "process_name", "processname", "program", "comm"),
    "process_pid": ("pid", "process_id", "processid"),
    "url": ("url", "uri", "request_uri"),
    "domain": ("domain", "fqdn", "query"),
    "proto": ("proto", "protocol"),
}
_INT_FIELDS = {"src_port", "dst_port", "process_pid", "bytes_in", "bytes_out"}
_IP_FIELDS = {"src_ip", "dst_ip"}


def is_foreign_json(obj: Any) -> str | None:
    """Name of the format when another ingestor owns this JSON record."""
    if not isinstance(obj, dict):
        return None
    if "Event" in obj or "System" in obj:
        return "windows event export"
    if "__container_type__" in obj or {"parser", "data_type", "timestamp"} <= obj.keys():
        return "plaso json_line"
    if "RuleTitle" in obj or ("timestamp_desc" in obj and ("EvtxFile" in obj or "Channel" in obj or "EventID" in obj)):
        return "hayabusa timesketch"
    return None


class TabularIngestor(Ingestor):
    name = "tabular"
    version = "1.2.0"  # 1.1.0: Microsoft 365 unified audit rows read as such; 1.2.0: Sysmon for Linux XML in syslog rows
    accepts = ("jsonl", "csv")

    @classmethod
    def detect(cls, head: bytes, path: Path, evidence_type: str) -> bool:
        if evidence_type not in cls.accepts:
            return False
        if evidence_type == "csv":
            return True
        first = head.lstrip(b"\xef\xbb\xbf").lstrip().split(b"\n", 1)[0]
        try:
            return is_foreign_json(json.loads(first)) is None
        except ValueError:
            return True  # our problem to report, line by line

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        try:
            clock = Clock.from_options(ctx.options, os.stat(ctx.path).st_mtime)
        except (OSError, ValueError, KeyError) as e:
            yield ctx.error(f"cannot start: {e}", offset=0)
            return
        mapping = {k: v for k, v in (ctx.options.get("columns") or {}).items()}
        kind = "csv" if ctx.evidence_type == "csv" else "jsonl"
        try:
            with open(ctx.path, "rb") as f:
                rows = self._csv_rows(ctx, f) if kind == "csv" else self._json_rows(ctx, f)
                run: list = []  # consecutive rows failing the same way: one error, not thousands
                for item in rows:
                    if not isinstance(item, tuple):
                        yield from _flush(ctx, run)
                        yield item
                        continue
                    number, offset, row = item
                    ev = self._event(ctx, row, mapping, clock, kind, number, offset)
                    if isinstance(ev, Event):
                        yield from _flush(ctx, run)
                        yield ev
                    elif run and run[0][2].split(":")[0] == ev.split(":")[0]:
                        run[1] += 1
                    else:
                        yield from _flush(ctx, run)
                        run[:] = [(number, offset, ev), 1]
                yield from _flush(ctx, run)
        except OSError as e:
            yield ctx.error(f"read error: {e}", offset=None)

    def _json_rows(self, ctx: IngestContext, f) -> Iterator[Any]:
        for raw in iter_raw_lines(f):
            if raw.too_long:
                yield ctx.error(f"record of {raw.too_long} bytes exceeds the 1 MiB limit", offset=raw.offset, line=raw.number)
                continue
            if not raw.data.strip():
                continue
            text, _ = decode_line(raw.data)
            try:
                obj = json.loads(text)
            except ValueError as e:
                what = "binary data" if looks_binary(raw.data) else "not JSON"
                tail = " (file truncated?)" if not raw.complete else ""
                yield ctx.error(f"{what}: {e}{tail}", offset=raw.offset, line=raw.number)
                continue
            if not isinstance(obj, dict):
                yield ctx.error("JSON record is not an object", offset=raw.offset, line=raw.number)
                continue
            yield raw.number, raw.offset, _flatten(obj)

    def _csv_rows(self, ctx: IngestContext, f) -> Iterator[Any]:
        header: list[str] | None = None
        for raw in iter_raw_lines(f):
            if raw.too_long:
                yield ctx.error(f"row of {raw.too_long} bytes exceeds the 1 MiB limit", offset=raw.offset, line=raw.number)
                continue
            if not raw.data.strip():
                continue
            if looks_binary(raw.data):
                yield ctx.error("binary data in a CSV file; row skipped", offset=raw.offset, line=raw.number)
                continue
            text, _ = decode_line(raw.data)
            try:
                cells = next(csv.reader([text.lstrip("\ufeff")]))
            except (csv.Error, StopIteration) as e:
                yield ctx.error(f"bad CSV row: {e}", offset=raw.offset, line=raw.number)
                continue
            if header is None:
                header = cells
                continue
            if len(cells) != len(header):
                yield ctx.error(f"row has {len(cells)} cells, header has {len(header)}", offset=raw.offset, line=raw.number)
                continue
            yield raw.number, raw.offset, dict(zip(header, cells))

    def _event(self, ctx, row: dict[str, Any], mapping: dict, clock: Clock, kind: str, number: int, offset: int):
        lower = {k.lower(): k for k in row}
        if kind == "csv" and m365audit.COLUMNS <= set(lower):  # Microsoft 365 unified audit log export
            try:
                ts = _timestamp(row[lower["creationdate"]], clock)
            except (ValueError, TypeError, OverflowError) as e:
                return f"unreadable timestamp: {e}"
            ev = m365audit.event(row, ts, f"line={number};off={offset}")
            return ev if isinstance(ev, str) else self.stamp(ctx, ev)
        fields: dict[str, Any] = {}
        used: set[str] = set()
        for fld, names in GUESSES.items():
            col = mapping.get(fld) or next((lower[n] for n in names if n in lower), None)
            if col is not None and col in row and row[col] not in (None, ""):
                fields[fld] = row[col]
                used.add(col)
        for fld, col in mapping.items():  # mapped fields beyond the guessed ones
            if fld not in fields and col in row:
                fields[fld] = row[col]
                used.add(col)
        if "timestamp" not in fields:
            return "no timestamp column (map one with options columns.timestamp)"
        try:
            ts = _timestamp(fields.pop("timestamp"), clock)
        except (ValueError, TypeError, OverflowError) as e:
            return f"unreadable timestamp: {e}"
        ev = Event(timestamp=ts, data_type=f"log:{kind}", message="", locator=f"line={number};off={offset}")
        for fld, v in fields.items():
            if fld in _INT_FIELDS:
                v = to_int(str(v))
            elif fld in _IP_FIELDS:
                v = clean_ip(str(v)) or None
            elif fld != "message":
                v = str(v)
            if v is not None and hasattr(ev, fld):
                setattr(ev, fld, v)
        msg = fields.get("message")
        if kind == "jsonl" and isinstance(msg, str) and auditd.find(msg) >= 0:
            # audit records forwarded as JSON (AUOMS / Azure Monitor): read the record itself
            audit = auditd.parse(msg[auditd.find(msg):], Where(number, offset), host=ev.host)
            if audit is not None:
                audit.attributes["forwarder"] = {k: v for k, v in row.items() if k not in used}
                return self.stamp(ctx, audit)
        if kind == "jsonl" and isinstance(msg, str) and sysmonlinux.find(msg) >= 0:  # Sysmon for Linux via syslog
            sysmon = sysmonlinux.parse(msg[sysmonlinux.find(msg):], Where(number, offset), host=ev.host)
            if isinstance(sysmon, str):
                return sysmon
            sysmon.attributes["forwarder"] = {k: v for k, v in row.items() if k not in used}
            return self.stamp(ctx, sysmon)
        ev.message = str(msg) if msg is not None else " ".join(f"{k}={row[k]}" for k in sorted(row) if k not in used)[:2000]
        ev.attributes = {k: v for k, v in row.items() if k not in used}
        return self.stamp(ctx, ev)


def _flush(ctx: IngestContext, run: list) -> Iterator[Record]:
    if run:
        (number, offset, reason), count = run
        yield ctx.error(reason if count == 1 else f"{reason} (and the {count - 1} rows after it)", offset=offset,
                        line=number)
        run.clear()


def _flatten(obj: dict, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 4:
            out.update(_flatten(v, key + ".", depth + 1))
        else:
            out[key] = v
    return out


def _timestamp(v: Any, clock: Clock) -> int:
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.replace(".", "", 1).isdigit()):
        x = float(v)
        # seconds, milliseconds, microseconds or nanoseconds since the epoch, by magnitude
        for scale in (1_000_000, 1_000, 1, 0.001):
            if abs(x * scale) < 1e17:
                return int(round(x * scale))
    s = str(v).strip()
    if len(s) >= 10 and s[4] in "-/" and s[7] in "-/":
        return parse_iso(s.replace("/", "-", 2), clock)
    for fmt in ("%d/%b/%Y:%H:%M:%S %z", "%a %b %d %H:%M:%S %Y", "%b %d %Y %H:%M:%S"):
        try:
            dt = datetime.strptime(s, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            return clock.local(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond)
        return int((dt - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds()) * 1_000_000 + dt.microsecond
    raise ValueError(f"{s[:40]!r}")
