"""Case and evidence registration: the service API the CLI and the UI call."""
from __future__ import annotations

import hashlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from case_store import CyberclaimError, custody, vault
from case_store.clock import current_actor, now_iso
from case_store.db import session
from case_store.home import case_dir
from case_store.models import Case, Evidence
from forensics.magic import detect_type, read_head


def _case_id() -> str:
    return "C" + uuid.uuid4().hex[:11].upper()


def _copy_inputs(case_id: str, src: Path, kind: str) -> tuple[str, str]:
    """Copy a policy file or financials directory under the case, as a named input document."""
    if not src.exists():
        raise CyberclaimError(f"{src}: no such {'file' if kind == 'policy' else 'directory'}")
    dest = case_dir(case_id) / "inputs" / kind
    if dest.exists():
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest)
        digest = hashlib.sha256()
        for p in sorted(dest.rglob("*")):
            if p.is_file():
                digest.update(p.relative_to(dest).as_posix().encode() + b"\0" + vault.hash_file(p).encode())
        return str(dest), digest.hexdigest()
    dest = dest.with_suffix(src.suffix)
    shutil.copyfile(src, dest)
    return str(dest), vault.hash_file(dest)


def create_case(title: str, insured: str | None = None, policy: Path | None = None, financials: Path | None = None) -> Case:
    if not title.strip():
        raise CyberclaimError("a case needs a title")
    cid = _case_id()
    case_dir(cid).mkdir(parents=True, exist_ok=True)
    c = Case(id=cid, title=title, insured=insured, created_at=now_iso(), created_by=current_actor(), status="open")
    with session() as s:
        s.add(c)
        s.flush()
        custody.append(s, cid, "case_created", title=title, insured=insured)
    if policy:
        set_inputs(cid, policy=policy)
    if financials:
        set_inputs(cid, financials=financials)
    return get_case(cid)


def set_inputs(case_id: str, policy: Path | None = None, financials: Path | None = None) -> Case:
    with session() as s:
        c = _get(s, case_id)
        if policy is not None:
            if policy.is_dir():
                raise CyberclaimError(f"{policy}: is a directory, expected a policy file")
            c.policy_path, c.policy_sha256 = _copy_inputs(case_id, policy, "policy")
            custody.append(s, case_id, "policy_set", source=str(policy), sha256=c.policy_sha256)
        if financials is not None:
            if not financials.is_dir():
                raise CyberclaimError(f"{financials}: expected a directory of financial inputs")
            c.financials_path, digest = _copy_inputs(case_id, financials, "financials")
            custody.append(s, case_id, "financials_set", source=str(financials), sha256=digest)
    return get_case(case_id)


CASE_STATUSES = ("open", "on_hold", "closed")  # batch reprocessing takes open cases unless told otherwise


def set_status(case_id: str, status: str) -> Case:
    """Change a case's status; the change (from, to, who) is logged in custody."""
    if status not in CASE_STATUSES:
        raise CyberclaimError(f"unknown case status {status!r} (one of {', '.join(CASE_STATUSES)})")
    with session() as s:
        c = _get(s, case_id)
        if c.status != status:
            custody.append(s, case_id, "status_set", previous=c.status, status=status)
            c.status = status
    return get_case(case_id)


def _get(s, case_id: str) -> Case:
    c = s.get(Case, case_id)
    if c is None:
        raise CyberclaimError(f"unknown case id {case_id!r} (see `cyberclaim case list`)")
    return c


def get_case(case_id: str) -> Case:
    with session() as s:
        return _get(s, case_id)


def list_cases() -> list[Case]:
    with session() as s:
        return list(s.execute(select(Case).order_by(Case.created_at)).scalars())


@dataclass
class Added:
    evidence: Evidence
    duplicate: bool


def add_evidence(
    case_id: str,
    path: Path,
    source: str | None = None,
    acquired_by: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Added:
    get_case(case_id)
    vault.check_readable(path)
    etype = detect_type(read_head(path), path.name)
    sha, size, _ = vault.store_file(path, progress)
    return _register(case_id, sha, size, path.name, etype, source or str(path), acquired_by)


def add_derived(case_id: str, parent_sha256: str, name: str, data: bytes, derivation: str) -> Added:
    sha, size, p = vault.store_bytes(data)
    etype = detect_type(data[:4096], name)
    return _register(case_id, sha, size, name, etype, f"derived from {parent_sha256}", None, parent_sha256, derivation)


def _register(case_id, sha, size, name, etype, source, acquired_by, parent=None, derivation=None) -> Added:
    with session() as s:
        existing = s.execute(select(Evidence).where(Evidence.case_id == case_id, Evidence.sha256 == sha)).scalar_one_or_none()
        if existing:
            custody.append(s, case_id, "evidence_duplicate", sha, name=name, source=source, existing_id=existing.id)
            return Added(existing, True)
        ev = Evidence(
            case_id=case_id, sha256=sha, size=size, original_name=name, evidence_type=etype, source=source,
            acquired_by=acquired_by, added_at=now_iso(), added_by=current_actor(), parent_sha256=parent, derivation=derivation,
        )
        s.add(ev)
        s.flush()
        custody.append(
            s, case_id, "evidence_derived" if parent else "evidence_added", sha,
            name=name, size=size, type=etype, source=source, acquired_by=acquired_by, parent=parent, derivation=derivation,
        )
        return Added(ev, False)


def register_derived(case_id: str, parent_sha256: str, parser_id: str, carved: list[dict]) -> list[str]:
    """Register carved files (already in the vault) as derived evidence, in one
    transaction; returns the sha256s new to the case. A file carved again later
    (another run, another parent) is not re-registered."""
    new: list[str] = []
    with session() as s:
        known = set(s.execute(select(Evidence.sha256).where(Evidence.case_id == case_id,
                                                            Evidence.sha256.in_([c["sha256"] for c in carved]))).scalars())
        for c in carved:
            if c["sha256"] in known:
                continue
            known.add(c["sha256"])
            derivation = f"{parser_id} at {c['locator']}" + (f": {c['note']}" if c.get("note") else "")
            etype = detect_type(read_head(vault.vault_path(c["sha256"])), c["name"])
            ev = Evidence(case_id=case_id, sha256=c["sha256"], size=c["size"], original_name=c["name"], evidence_type=etype,
                          source=f"derived from {parent_sha256}", acquired_by=None, added_at=now_iso(), added_by=current_actor(),
                          parent_sha256=parent_sha256, derivation=derivation)
            s.add(ev)
            custody.append(s, case_id, "evidence_derived", c["sha256"], name=c["name"], size=c["size"], type=etype,
                           parent=parent_sha256, derivation=derivation, occurrences=c.get("occurrences", 1))
            new.append(c["sha256"])
    return new


def list_evidence(case_id: str) -> list[Evidence]:
    with session() as s:
        _get(s, case_id)
        return list(s.execute(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.id)).scalars())


def verify_evidence(case_id: str, log: bool = True) -> list[tuple[Evidence, str]]:
    """Re-hash every item; returns the (item, problem) pairs that failed."""
    bad = []
    for ev in list_evidence(case_id):
        problem = vault.verify(ev.sha256)
        if problem:
            bad.append((ev, problem))
    if log:
        custody.log(case_id, "evidence_verified", ok=not bad, failed=[e.sha256 for e, _ in bad])
    return bad


def require_intact(case_id: str) -> None:
    bad = verify_evidence(case_id)
    if bad:
        raise CyberclaimError(
            "evidence verification failed: " + "; ".join(f"{e.original_name} ({e.sha256[:12]}…): {p}" for e, p in bad)
        )


def set_time_correction(case_id: str, sha256: str, clock_offset_s: float | None, tz: str | None) -> None:
    with session() as s:
        ev = s.execute(select(Evidence).where(Evidence.case_id == case_id, Evidence.sha256 == sha256)).scalar_one_or_none()
        if ev is None:
            raise CyberclaimError(f"case {case_id} has no evidence {sha256}")
        ev.clock_offset_s, ev.timezone = clock_offset_s, tz
        custody.append(s, case_id, "time_correction", sha256, clock_offset_s=clock_offset_s, timezone=tz)
