"""Timesketch / Plaso interchange: export our events, read theirs back.

Export follows Timesketch's JSONL/CSV importer: every row has `message`,
`datetime` (ISO 8601) and `timestamp_desc`, plus `timestamp` (µs) and our
fields; lists become comma-joined text in CSV. Timesketch rejects oversized
fields, so any text field longer than 32 KB is cut (and `cc_truncated` names the
fields cut). The importer side (`timesketch_row_to_event`) is shared by the
Plaso and Hayabusa ingestors and reads our own exports back losslessly
except for cut fields.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

import pandas as pd

from forensics.events import EVENT_COLUMNS, Event, iso_utc, to_us

MAX_FIELD = 32 * 1024
LIST_FIELDS = ("tags", "attack")
INT_FIELDS = ("process_pid", "src_port", "dst_port", "bytes_out", "bytes_in")
# Our column -> Timesketch column when they differ (Timesketch calls tags `tag`).
_TS_NAMES = {"tags": "tag"}


def _cut(value: str) -> tuple[str, bool]:
    raw = value.encode("utf-8")
    if len(raw) <= MAX_FIELD:
        return value, False
    return raw[:MAX_FIELD].decode("utf-8", errors="ignore"), True


def timesketch_rows(df: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """Timesketch-shaped dicts from an event page (any subset of EVENT_COLUMNS plus original_timestamp)."""
    for rec in df.to_dict(orient="records"):
        out: dict[str, Any] = {"message": rec.get("message") or "", "datetime": rec.get("datetime") or iso_utc(int(rec["timestamp"])),
                               "timestamp_desc": rec.get("timestamp_desc") or "Event Time", "timestamp": int(rec["timestamp"])}
        cut = []
        for k, v in rec.items():
            if k in out or v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
                continue
            if k in LIST_FIELDS:
                v = [str(x) for x in v]
                if not v:
                    continue
            elif hasattr(v, "item"):
                v = v.item()
            if isinstance(v, str):
                v, was_cut = _cut(v)
                if was_cut:
                    cut.append(k)
            out[_TS_NAMES.get(k, k)] = v
        if isinstance(out.get("message"), str):
            out["message"], was_cut = _cut(out["message"])
            if was_cut:
                cut.append("message")
        if cut:
            out["cc_truncated"] = sorted(cut)
        yield out


def write_jsonl(rows: Iterable[dict], f) -> int:
    n = 0
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict], f, columns: list[str] | None = None) -> int:
    """Timesketch CSV: the three required columns first; lists joined with commas."""
    first = ["message", "datetime", "timestamp_desc", "timestamp"]
    cols = columns or first + [_TS_NAMES.get(c, c) for c in EVENT_COLUMNS if c not in first] + ["original_timestamp", "cc_truncated"]
    w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    n = 0
    for r in rows:
        w.writerow({k: (",".join(v) if isinstance(v, list) else v) for k, v in r.items()})
        n += 1
    return n


# --- import ---------------------------------------------------------------------------------

_TS_FORMATS = ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z")


def parse_datetime(value: str) -> int:
    """ISO 8601 / RFC 3339 / Hayabusa (`2021-12-12 16:16:04.123 +09:00`) to µs UTC; naive means UTC."""
    v = value.strip()
    if not v:
        raise ValueError("empty time")
    v2 = v.replace("Z", "+00:00") if v.endswith("Z") else v
    v2 = re.sub(r"(\.\d{6})\d+", r"\1", v2)  # nanoseconds: Python keeps microseconds
    try:
        return to_us(datetime.fromisoformat(v2))
    except ValueError:
        pass
    for fmt in _TS_FORMATS:
        try:
            return to_us(datetime.strptime(v2.replace(" +", " +").replace(" -", " -"), fmt))
        except ValueError:
            continue
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?)\s*([+-]\d\d):?(\d\d)", v)
    if m:
        base = datetime.fromisoformat(m.group(1).replace(" ", "T")[:26])
        off = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)) * (1 if m.group(2)[0] == "+" else -1))
        return to_us(base.replace(tzinfo=timezone(off)))
    raise ValueError(f"unrecognised time {value!r}")


def _int(v: Any) -> int | None:
    if v is None or v == "" or (isinstance(v, float) and pd.isna(v)):
        return None
    try:
        return int(str(v), 0) if isinstance(v, str) and v.lower().startswith("0x") else int(float(v))
    except (TypeError, ValueError):
        return None


def _list(v: Any) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return [str(x) for x in v if str(x).strip()]
    return [x.strip() for x in re.split(r"[,¦|]", str(v)) if x.strip()]


def timesketch_row_to_event(row: dict[str, Any], locator: str, data_type: str = "timesketch:event") -> Event:
    """One Timesketch row (ours or another tool's) as an Event; unknown fields go to attributes.

    Raises ValueError when the row has no usable time.
    """
    r = dict(row)
    ts = _int(r.pop("timestamp", None))
    dt = r.pop("datetime", None)
    if dt:
        ts_dt = parse_datetime(str(dt))
        # a `timestamp` in seconds or ms (some exporters) disagrees with datetime: trust datetime
        if ts is None or abs(ts - ts_dt) > 1_000_000:
            ts = ts_dt
    if ts is None:
        raise ValueError("no datetime or timestamp")
    ev = Event(timestamp=ts, data_type=str(r.pop("data_type", None) or data_type), message=str(r.pop("message", "") or ""),
               locator=locator, timestamp_desc=str(r.pop("timestamp_desc", None) or "Event Time"))
    ev.tags = _list(r.pop("tag", None)) + _list(r.pop("tags", None))
    ev.attack = _list(r.pop("attack", None))
    for k in ("event_id", "parser", "evidence_sha256", "locator"):
        v = r.pop(k, None)
        if v:
            ev.attributes[f"source_{k}"] = v  # provenance of the exported event, kept beside ours
    for k in ("host", "user", "process_name", "process_cmdline", "src_ip", "dst_ip", "proto", "domain", "url", "file_path",
              "file_sha256", "gbt_category", "severity"):
        v = r.pop(k, None)
        if v not in (None, "") and not (isinstance(v, float) and pd.isna(v)):
            setattr(ev, k, str(v))
    for k in INT_FIELDS:
        v = _int(r.pop(k, None))
        if v is not None:
            setattr(ev, k, v)
    attrs = r.pop("attributes", None)
    if isinstance(attrs, str) and attrs.startswith("{"):
        try:
            ev.attributes.update(json.loads(attrs))
        except ValueError:
            ev.attributes["attributes_text"] = attrs
    elif isinstance(attrs, dict):
        ev.attributes.update(attrs)
    r.pop("original_timestamp", None)
    r.pop("clock_offset_us", None)
    for k, v in r.items():
        if v not in (None, "") and not (isinstance(v, float) and pd.isna(v)):
            ev.attributes[k] = v
    if ev.severity not in ("info", "low", "medium", "high", "critical"):
        ev.attributes["source_severity"] = ev.severity
        ev.severity = "info"
    return ev
