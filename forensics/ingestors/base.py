"""The ingestor interface, after volatility3's plugins: declare, then stream.

An ingestor has a `name`, a `version`, the evidence types it `accepts`, a cheap
`detect(head, path)` on the first bytes, and a streaming `ingest(ctx)` that
yields `Event`, `IngestError` and `CarvedFile` records. It never raises for bad
evidence: damage is a yielded `IngestError` naming file and offset, and
everything before the damage has already been yielded.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from forensics.events import CarvedFile, Event, IngestError

Record = Event | IngestError | CarvedFile


@dataclass(slots=True)
class IngestContext:
    path: Path  # the file to read (vault copy, or derived decompressed copy)
    evidence_sha256: str
    evidence_type: str
    display_name: str  # what errors call the file (original name)
    options: dict[str, Any] = field(default_factory=dict)  # timezone, year, symbols dir, rule dirs…

    def error(self, reason: str, offset: int | None = None, line: int | None = None) -> IngestError:
        return IngestError(file=self.display_name, offset=offset, reason=reason, line=line)


class Ingestor:
    name: ClassVar[str]
    version: ClassVar[str]
    # evidence types (forensics.magic) this ingestor reads
    accepts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def parser_id(cls) -> str:
        return f"{cls.name}@{cls.version}"

    @classmethod
    def detect(cls, head: bytes, path: Path, evidence_type: str) -> bool:
        """Cheap check on the first bytes; the default trusts the evidence type."""
        return evidence_type in cls.accepts

    @classmethod
    def config_inputs(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Content fingerprints of external inputs the output depends on (e.g. a rule
        pack's hash, not its path), folded into the cache key of each ingest."""
        return {}

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:  # pragma: no cover - interface
        raise NotImplementedError

    def stamp(self, ctx: IngestContext, ev: Event) -> Event:
        """Fill provenance fields every event of this ingestor carries."""
        ev.parser = self.parser_id()
        ev.evidence_sha256 = ctx.evidence_sha256
        return ev


def gc_paused(it: Iterator) -> Iterator:
    """`it`, with the cyclic garbage collector off while it runs (restored when it ends or is closed).

    An ingest allocates millions of containers that reference counting frees (EVTX records'
    dicts) or that stay alive on purpose (the text-log detections' recent events, the rows
    of a batch), and hardly any cycle: a 256 MB text log leaves 1,149 cyclic objects. What
    the collector would do is walk every live container again and again, which cost an EVTX
    ingest about as much as parsing the JSON, and a text log ~0.27 µs per line of its
    parent's CPU. The few cycles are collected once it is back on.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield from it
    finally:
        if was:
            gc.enable()
