"""Reading the storyline the way adjusters need it: times as instants, named
flags wherever the builder put them, and the event ids a reading rests on."""
from __future__ import annotations

from datetime import datetime, timezone

from forensics.storyline_model import Fact, Storyline

# below this a fact is an indication, not a finding: the decision goes to a person
REVIEW_CONFIDENCE = 0.5


def parse_time(v) -> datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        dt = v
    else:
        try:
            dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def fact_time(f: Fact | None) -> datetime | None:
    return parse_time(f.value) if f is not None else None


def truthy(f: Fact | None) -> bool:
    if f is None:
        return False
    v = f.value
    if isinstance(v, dict):
        return bool(v) and v.get("value", True) is not False
    return bool(v)


def named_fact(s: Storyline, name: str) -> Fact | None:
    """A flag the builder may set as a typed field, in `impact` or in `facts`."""
    direct = getattr(s, name, None)
    if isinstance(direct, Fact):
        return direct
    for f in list(s.facts) + list(s.impact):
        if f.name == name:
            return f
    return None


def ids(*facts: Fact | None) -> list[str]:
    out: list[str] = []
    for f in facts:
        if f is not None:
            out.extend(f.cited_event_ids)
    return sorted(set(out))


def weak(*facts: Fact | None) -> bool:
    """All the given (present) facts are below the review threshold."""
    present = [f for f in facts if f is not None]
    return bool(present) and all(f.confidence < REVIEW_CONFIDENCE for f in present)
