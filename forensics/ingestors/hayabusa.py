"""Hayabusa `timesketch-minimal` / `timesketch-verbose` output, JSONL or CSV.

Profile columns: datetime, timestamp_desc ("hayabusa"), message (rule title),
Level, Computer, Channel, EventID, MitreTactics, MitreTags, OtherTags,
RecordID, Details, (ExtraFieldInfo), RuleFile, EvtxFile. Each row is a Sigma
detection over one EVTX record; provenance is the row of the Hayabusa file
(our locator) plus Hayabusa's own EvtxFile + RecordID + RuleFile.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from forensics.events import Event
from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.ingestors.timeline_file import is_csv, read_csv, read_jsonl
from forensics.interchange import parse_datetime

# Hayabusa levels -> our severity
_LEVEL = {"info": "info", "informational": "info", "low": "low", "med": "medium", "medium": "medium", "high": "high",
          "crit": "critical", "critical": "critical", "emerg": "critical"}
_SEP = re.compile(r"\s*¦\s*|\s*\|\s*")
_TECH = re.compile(r"^T\d{4}(\.\d{3})?$", re.I)
# Details keys Hayabusa uses for entities
_DETAIL_KEYS = {"SrcIP": "src_ip", "SrcPort": "src_port", "TgtIP": "dst_ip", "TgtPort": "dst_port", "TgtUser": "user",
                "User": "user", "Cmdline": "process_cmdline", "Proc": "process_name", "PID": "process_pid",
                "TgtFile": "file_path", "Path": "file_path", "Svc": "service_name"}


def _split(v: Any) -> list[str]:
    if isinstance(v, list):
        return [str(x).strip() for x in v if str(x).strip()]
    return [x for x in _SEP.split(str(v or "")) if x and x != "-"]


def _details(v: Any) -> dict[str, str]:
    """`Key: val ¦ Key2: val2` (CSV) or an object (JSONL) as a dict."""
    if isinstance(v, dict):
        return {str(k): str(x) for k, x in v.items()}
    out: dict[str, str] = {}
    for part in _SEP.split(str(v or "")):
        k, sep, val = part.partition(": ")
        if sep:
            out[k.strip()] = val.strip()
    return out


class HayabusaIngestor(Ingestor):
    name = "hayabusa"
    version = "1.0.0"
    accepts = ("hayabusa",)

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        reader = read_csv if is_csv(ctx) else read_jsonl
        for rec in reader(ctx, lambda row, n: self._row(row, n)):
            yield self.stamp(ctx, rec) if isinstance(rec, Event) else rec

    def _row(self, row: dict[str, Any], n: int) -> Event:
        ts = parse_datetime(str(row.get("datetime") or row.get("Timestamp") or ""))
        title = str(row.get("message") or row.get("RuleTitle") or "Hayabusa detection")
        level = _LEVEL.get(str(row.get("Level") or "").lower(), "info")
        tags = _split(row.get("MitreTags"))
        attack = sorted({t.upper() for t in tags if _TECH.match(t)})
        details = _details(row.get("Details"))
        extra = _details(row.get("ExtraFieldInfo"))
        ev = Event(timestamp=ts, data_type="hayabusa:detection", message=f"{title} on {row.get('Computer') or '?'}",
                   locator=f"line {n}", timestamp_desc=str(row.get("timestamp_desc") or "hayabusa"),
                   host=(str(row["Computer"]) if row.get("Computer") not in (None, "", "-") else None),
                   severity=level, attack=attack,
                   tags=["hayabusa", "sigma"] + [t.lower().replace(" ", "_") for t in _split(row.get("MitreTactics"))])
        for k, field in _DETAIL_KEYS.items():
            v = details.get(k) or extra.get(k)
            if v in (None, "", "-", "n/a"):
                continue
            if field in ("src_port", "dst_port", "process_pid"):
                try:
                    setattr(ev, field, int(v, 0) if v.lower().startswith("0x") else int(v))
                except ValueError:
                    continue
            elif field == "service_name":
                ev.attributes["service_name"] = v
            elif getattr(ev, field) is None:
                setattr(ev, field, v)
        ev.attributes.update({
            "rule_title": title, "level": row.get("Level"), "channel": row.get("Channel"), "event_id": row.get("EventID"),
            "record_id": row.get("RecordID"), "evtx_file": row.get("EvtxFile"), "rule_file": row.get("RuleFile"),
            "mitre_tactics": _split(row.get("MitreTactics")), "mitre_tags": tags, "other_tags": _split(row.get("OtherTags")),
            "details": details or None, "extra_field_info": extra or None,
        })
        ev.attributes = {k: v for k, v in ev.attributes.items() if v not in (None, "", [])}
        return ev
