"""The one normalized event record (DESIGN.md "Events").

Every ingestor yields `Event`s; the event store, the graph, the adjusters and
the reports read them. The field list is spelled exactly once, in
`EVENT_SCHEMA`; nothing else re-spells it.
"""
from __future__ import annotations

import calendar
import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

# Column name -> arrow type. Order is the on-disk column order.
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("timestamp", pa.int64()),  # microseconds since epoch, UTC
        ("datetime", pa.string()),  # ISO 8601, UTC
        ("timestamp_desc", pa.string()),
        ("data_type", pa.string()),
        ("parser", pa.string()),  # name@version
        ("message", pa.string()),
        ("evidence_sha256", pa.string()),
        ("locator", pa.string()),
        ("host", pa.string()),
        ("user", pa.string()),
        ("process_pid", pa.int64()),
        ("process_name", pa.string()),
        ("process_cmdline", pa.string()),
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("proto", pa.string()),
        ("bytes_out", pa.int64()),
        ("bytes_in", pa.int64()),
        ("domain", pa.string()),
        ("url", pa.string()),
        ("file_path", pa.string()),
        ("file_sha256", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("attack", pa.list_(pa.string())),  # ATT&CK technique ids
        ("gbt_category", pa.string()),  # GB/T 20986-2023 code, e.g. MPRANS
        ("severity", pa.string()),  # info | low | medium | high | critical
        ("attributes", pa.string()),  # canonical JSON of everything else
    ]
)
EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)
SEVERITIES = ("info", "low", "medium", "high", "critical")


def iso_utc(ts_us: int) -> str:
    """ISO 8601 UTC with microseconds, the Timesketch `datetime` form."""
    return datetime.fromtimestamp(ts_us / 1_000_000, tz=timezone.utc).isoformat(timespec="microseconds").replace(
        "+00:00", "Z"
    )


def to_us(dt: datetime) -> int:
    """Datetime to integer microseconds UTC, exact (no float rounding); naive means UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return calendar.timegm(dt.utctimetuple()) * 1_000_000 + dt.microsecond


try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    _orjson = None

# One encoder, built once: json.dumps with options builds a new encoder per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_FLAT = frozenset((str, bool, int, type(None)))


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, non-ASCII kept.

    Flat dicts of strings, booleans, None and ints (most event attributes) go
    through orjson, whose bytes are identical to the stdlib's for those types;
    orjson refuses what it cannot match (non-string keys, ints past 64 bits,
    lone surrogates) and anything else (floats, nesting) takes the stdlib path,
    so the output never depends on which path ran.
    """
    if type(obj) is dict and _orjson is not None and _FLAT.issuperset(map(type, obj.values())):
        try:
            return _orjson.dumps(obj, option=_orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            pass
    return _CANONICAL.encode(obj)


def make_event_id(evidence_sha256: str, locator: str, parser: str, discriminator: str = "") -> str:
    """Deterministic id: the same bytes parsed by the same parser version give the same id."""
    h = hashlib.sha256(f"{evidence_sha256}|{locator}|{parser}|{discriminator}".encode())
    return h.hexdigest()[:32]


@dataclass(slots=True)
class Event:
    timestamp: int
    data_type: str
    message: str
    locator: str
    timestamp_desc: str = "Event Time"
    parser: str = ""
    evidence_sha256: str = ""
    host: str | None = None
    user: str | None = None
    process_pid: int | None = None
    process_name: str | None = None
    process_cmdline: str | None = None
    src_ip: str | None = None
    src_port: int | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    proto: str | None = None
    bytes_out: int | None = None
    bytes_in: int | None = None
    domain: str | None = None
    url: str | None = None
    file_path: str | None = None
    file_sha256: str | None = None
    tags: list[str] = field(default_factory=list)
    attack: list[str] = field(default_factory=list)
    gbt_category: str | None = None
    severity: str = "info"
    attributes: dict[str, Any] = field(default_factory=dict)
    # Separates two events that share a locator (e.g. a flow and a DNS query
    # from the same first packet); part of the event id.
    discriminator: str = ""

    @property
    def event_id(self) -> str:
        return make_event_id(self.evidence_sha256, self.locator, self.parser, self.discriminator or self.data_type)

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in PLAIN_FIELDS}
        row["event_id"] = self.event_id
        row["datetime"] = iso_utc(self.timestamp)
        row["attributes"] = canonical_json(self.attributes) if self.attributes else "{}"
        row["tags"] = sorted(set(self.tags)) if self.tags else []
        row["attack"] = sorted(set(self.attack)) if self.attack else []
        return row


# Columns copied from the record as they are; the others are derived in to_row / the writer.
PLAIN_FIELDS = tuple(f.name for f in fields(Event) if f.name in EVENT_COLUMNS and f.name not in ("tags", "attack", "attributes"))


@dataclass(slots=True, frozen=True)
class IngestError:
    """A problem in the evidence, reported instead of raised (file, offset, reason)."""

    file: str
    offset: int | None
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"offset {self.offset}" if self.offset is not None else "?"
        return f"{self.file}: {where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "line": self.line, "reason": self.reason}


@dataclass(slots=True, frozen=True)
class CarvedFile:
    """Bytes carved out of an evidence item (a file from a capture, a PE from memory).

    The pipeline registers it as derived evidence (vault, custody) and runs the
    applicable ingestors over it.
    """

    name: str
    data: bytes
    locator: str
    note: str = ""


@dataclass(slots=True)
class EventBatch:
    """Many events as columns, for ingestors that normalize in bulk (DuckDB/Arrow).

    `table` holds the EVENT_SCHEMA columns except the derived `event_id` and
    `datetime`, plus `discriminator` (as on `Event`); the event store derives the
    other two exactly as it does for `Event`s, so a batch and the same events
    one by one are stored identically. A batch may also carry `event_id`, computed
    with `make_event_id` exactly as `Event.event_id` does (cheaper per row in the
    ingestor's own loop than a query per batch); the store then keeps it as is.
    """

    table: pa.Table

    def with_locator_prefix(self, prefix: str) -> "EventBatch":
        if not prefix:
            return self
        import pyarrow.compute as pc
        t = self.table
        if "event_id" in t.column_names:  # it hashes the old locator: the store derives it again
            t = t.remove_column(t.schema.get_field_index("event_id"))
        i = t.schema.get_field_index("locator")
        return EventBatch(t.set_column(i, "locator", pc.binary_join_element_wise(prefix, t["locator"], "")))
