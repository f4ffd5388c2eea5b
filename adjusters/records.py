"""Personal records affected: the count privacy liability and the privacy trigger rest on."""
from __future__ import annotations

from dataclasses import dataclass, field

from adjusters.financials import Financials
from forensics.storyline_model import Storyline


@dataclass
class RecordCount:
    by_type: dict[str, int]
    basis: str
    cited_event_ids: list[str] = field(default_factory=list)
    dropped_non_personal: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_type.values())


def personal_records(s: Storyline, fin: Financials | None) -> RecordCount:
    """storyline.records_affected, else exfiltration records_by_type, else the inventory of exfiltrated systems.

    A record type the data inventory lists only as non-personal is dropped (it is not a
    privacy exposure); a type the inventory does not know is kept, since the storyline
    found it in personal data flows.
    """
    inv = fin.inventory if fin else []
    personal_types = {r.record_type for r in inv if r.personal}
    non_personal = {r.record_type for r in inv if not r.personal} - personal_types
    cited: list[str] = []
    if s.records_affected:
        raw, basis = dict(s.records_affected), "storyline.records_affected"
        for x in s.exfiltration:
            cited.extend(x.cited_event_ids)
    else:
        raw: dict[str, int] = {}
        for x in s.exfiltration:
            for k, v in x.records_by_type.items():
                raw[k] = raw.get(k, 0) + int(v)
            cited.extend(x.cited_event_ids)
        basis = "storyline.exfiltration.records_by_type"
        if not raw:
            systems = {sys for x in s.exfiltration for sys in x.source_systems}
            for r in inv:
                if r.system in systems and r.personal:
                    raw[r.record_type] = raw.get(r.record_type, 0) + r.count
            basis = "data_inventory.csv counts of exfiltrated systems"
    kept = {k: int(v) for k, v in sorted(raw.items()) if k not in non_personal and v > 0}
    dropped = {k: int(v) for k, v in sorted(raw.items()) if k in non_personal}
    return RecordCount(kept, basis, sorted(set(cited)), dropped)
