"""Chain of custody: append-only, each entry hash-chained to the one before.

entry_hash = SHA-256(prev_hash || canonical JSON of the entry's own fields), so
an edited, deleted, inserted or reordered entry breaks the chain at that point.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select
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


def append_many(s: Session, case_id: str, items: list[tuple[str, str | None, dict[str, Any]]],
                actor: str | None = None) -> list[CustodyEntry]:
    """Entries (action, evidence sha256, details) for one case, chained in the order given, in the caller's
    transaction: one look-up of the chain's end and one multi-row INSERT for all (a batch records thousands of
    carved files: the ORM's per-object bookkeeping was most of the driver's time). Returns the rows written."""
    if not items:
        return []
    s.flush()  # entries appended through the ORM in this transaction come first
    last = s.execute(
        select(CustodyEntry.seq, CustodyEntry.entry_hash).where(CustodyEntry.case_id == case_id)
        .order_by(CustodyEntry.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq, last.entry_hash) if last else (0, GENESIS)
    who, tool = actor or current_actor(), tool_version()
    out = []
    for action, evidence_sha256, details in items:
        seq += 1
        e = SimpleNamespace(case_id=case_id, seq=seq, at=now_iso(), actor=who, action=action, evidence_sha256=evidence_sha256,
                            tool_version=tool, details=canonical_json(details), prev_hash=prev)
        e.entry_hash = prev = entry_digest(e.prev_hash, e)
        out.append(e)
    s.execute(insert(CustodyEntry), [vars(e) for e in out])
    return out


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
    """Walk the chain in storage order (by seq) and say where and how it breaks.

    Each entry must hash to its recorded hash (else: edited) and chain to the
    entry stored just before it. When it chains to the entry two back, the one
    between was inserted; to an entry stored later, the order was changed; to
    no stored entry at all, what it chained to was deleted.
    """
    order = sorted(entries, key=lambda x: (x.seq, x.id))
    position = {e.entry_hash: i for i, e in enumerate(order)}
    problems: list[ChainProblem] = []
    for i, e in enumerate(order):
        if entry_digest(e.prev_hash, e) != e.entry_hash:
            problems.append(ChainProblem(e.seq, "edited", "content does not match its recorded hash"))
        expected_prev = order[i - 1].entry_hash if i else GENESIS
        if e.prev_hash == expected_prev:
            continue
        target = position.get(e.prev_hash)
        if e.prev_hash == GENESIS or (target is not None and target < i - 1):
            between = order[(target + 1) if target is not None else 0 : i]
            problems.append(ChainProblem(between[0].seq, "inserted",
                                         f"entry {e.seq} chains past {len(between)} entr{'y' if len(between) == 1 else 'ies'} not in the chain"))
        elif target is not None and target > i - 1:
            problems.append(ChainProblem(e.seq, "reordered", f"chains to entry {order[target].seq}, which is stored after it"))
        else:
            problems.append(ChainProblem(e.seq, "deleted", "the entry it chains to is missing"))
    return problems


def entries(s: Session, case_id: str) -> list[CustodyEntry]:
    return list(s.execute(select(CustodyEntry).where(CustodyEntry.case_id == case_id).order_by(CustodyEntry.seq, CustodyEntry.id)).scalars())


def count(s: Session, case_id: str) -> int:
    return s.execute(select(func.count()).select_from(CustodyEntry).where(CustodyEntry.case_id == case_id)).scalar_one()
