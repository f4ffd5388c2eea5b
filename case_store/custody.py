"""Chain of custody: append-only, each entry hash-chained to the one before.

entry_hash = SHA-256(prev_hash || canonical JSON of the entry's own fields), so
an edited, deleted, inserted or reordered entry breaks the chain at that point.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from case_store.clock import current_actor, now_iso, tool_version
from case_store.models import CustodyEntry
from forensics.events import canonical_json

GENESIS = "0" * 64


def entry_digest(prev_hash: str, e: CustodyEntry) -> str:
    body = canonical_json(
        {
            "seq": e.seq,
            "case_id": e.case_id,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "evidence_sha256": e.evidence_sha256,
            "tool_version": e.tool_version,
            "details": e.details,
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(
    s: Session, case_id: str, action: str, evidence_sha256: str | None = None, actor: str | None = None, **details: Any
) -> CustodyEntry:
    """Add an entry inside the caller's transaction (so it commits with what it records)."""
    last = s.execute(
        select(CustodyEntry).where(CustodyEntry.case_id == case_id).order_by(CustodyEntry.seq.desc()).limit(1)
    ).scalar_one_or_none()
    e = CustodyEntry(
        case_id=case_id,
        seq=(last.seq + 1) if last else 1,
        at=now_iso(),
        actor=actor or current_actor(),
        action=action,
        evidence_sha256=evidence_sha256,
        tool_version=tool_version(),
        details=canonical_json(details),
        prev_hash=last.entry_hash if last else GENESIS,
    )
    e.entry_hash = entry_digest(e.prev_hash, e)
    s.add(e)
    s.flush()
    return e


def log(case_id: str, action: str, evidence_sha256: str | None = None, actor: str | None = None, **details: Any) -> None:
    """Append in a transaction of its own, retrying if another writer took the sequence number."""
    from case_store.db import session

    for attempt in range(5):
        try:
            with session() as s:
                append(s, case_id, action, evidence_sha256, actor, **details)
            return
        except IntegrityError:
            if attempt == 4:
                raise


@dataclass
class ChainProblem:
    seq: int
    kind: str  # edited | deleted | inserted | reordered
    detail: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.kind}: {self.detail}"


def verify_entries(entries: list[CustodyEntry]) -> list[ChainProblem]:
    """Walk the chain in storage order (by seq) and name the first break of each kind."""
    problems: list[ChainProblem] = []
    by_hash = {e.entry_hash: e for e in entries}
    prev_hash, expected_seq = GENESIS, 1
    for e in sorted(entries, key=lambda x: (x.seq, x.id)):
        recomputed = entry_digest(e.prev_hash, e)
        if recomputed != e.entry_hash:
            problems.append(ChainProblem(e.seq, "edited", "content does not match its recorded hash"))
        if e.prev_hash != prev_hash:
            if e.seq > expected_seq and e.prev_hash not in by_hash:
                problems.append(ChainProblem(e.seq, "deleted", f"entries before it are missing (expected seq {expected_seq})"))
            elif e.prev_hash in by_hash and by_hash[e.prev_hash].seq != e.seq - 1:
                problems.append(ChainProblem(e.seq, "reordered", f"chained to entry {by_hash[e.prev_hash].seq}, stored as {e.seq}"))
            elif e.prev_hash not in by_hash and e.prev_hash != GENESIS:
                problems.append(ChainProblem(e.seq, "inserted", "chained to an entry that does not exist"))
            else:
                problems.append(ChainProblem(e.seq, "inserted", "does not chain to the entry before it"))
        elif e.seq != expected_seq:
            problems.append(ChainProblem(e.seq, "reordered", f"sequence number {e.seq} where {expected_seq} was expected"))
        prev_hash, expected_seq = e.entry_hash, e.seq + 1
    return problems


def entries(s: Session, case_id: str) -> list[CustodyEntry]:
    return list(s.execute(select(CustodyEntry).where(CustodyEntry.case_id == case_id).order_by(CustodyEntry.seq, CustodyEntry.id)).scalars())


def count(s: Session, case_id: str) -> int:
    return s.execute(select(func.count()).select_from(CustodyEntry).where(CustodyEntry.case_id == case_id)).scalar_one()
