"""PowerShell 4104 script blocks split over several records, put back together.

PowerShell logs a long script as MessageTotal records sharing a ScriptBlockId,
numbered by MessageNumber. The parts usually sit next to each other but may be
interleaved with other records, so they are collected by id; a block whose
parts never all arrive is still emitted at the end, marked incomplete.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from forensics.events import Event
from forensics.windows.fields import as_int

DATA_TYPE = "windows:powershell:scriptblock"
MAX_PENDING = 10_000  # bound memory on hostile input: oldest open block is flushed first
MAX_PARTS = 100_000


@dataclass
class _Block:
    first: Event
    total: int
    parts: dict[int, str] = field(default_factory=dict)


class ScriptBlockAssembler:
    def __init__(self) -> None:
        self._open: dict[str, _Block] = {}

    def feed(self, ev: Event) -> list[Event]:
        """Offer a normalized 4104 event; returns reassembled blocks that became complete."""
        a = ev.attributes
        if a.get("event_id") != 4104 or "ScriptBlockId" not in a:
            return []
        total, num = as_int(a.get("MessageTotal")), as_int(a.get("MessageNumber"))
        if total is None or num is None or total <= 1 or total > MAX_PARTS:
            return []
        key = f"{ev.host}|{a['ScriptBlockId']}"
        blk = self._open.get(key)
        if blk is None:
            blk = self._open[key] = _Block(first=ev, total=total)
        blk.parts.setdefault(num, str(a.get("ScriptBlockText") or ""))
        done = []
        if len(blk.parts) >= blk.total:
            done.append(self._emit(self._open.pop(key)))
        while len(self._open) > MAX_PENDING:
            done.append(self._emit(self._open.pop(next(iter(self._open)))))
        return done

    def flush(self) -> list[Event]:
        out = [self._emit(b) for b in self._open.values()]
        self._open.clear()
        return out

    @staticmethod
    def _emit(b: _Block) -> Event:
        text = "".join(b.parts[i] for i in sorted(b.parts))
        missing = [i for i in range(1, b.total + 1) if i not in b.parts]
        f = b.first
        attrs = {k: v for k, v in f.attributes.items() if k not in ("MessageNumber", "ScriptBlockText")}
        attrs.update(ScriptBlockText=text, parts_seen=len(b.parts), complete=not missing)
        if missing:
            attrs["missing_parts"] = missing[:100]
        return Event(
            timestamp=f.timestamp, data_type=DATA_TYPE, locator=f.locator, timestamp_desc=f.timestamp_desc,
            message=f"4104 PowerShell script block {attrs.get('ScriptBlockId')} reassembled from "
                    f"{len(b.parts)}/{b.total} parts on {f.host or '-'} ({len(text)} characters)",
            host=f.host, user=f.user, file_path=f.file_path, tags=["powershell", "script_block"],
            attributes=attrs, discriminator="scriptblock",
        )
