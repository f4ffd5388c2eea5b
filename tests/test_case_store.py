"""Cases, vault, custody, evidence typing: on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, text

from case_store import CyberclaimError, cases, custody, vault
from case_store.db import session
from case_store.models import CustodyEntry, Evidence
from forensics.magic import detect_type


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_case_lifecycle(store, tmp_path):
    pol = _file(tmp_path, "policy.yaml", b"policy_number: X-1\n")
    fin = tmp_path / "fin"
    fin.mkdir()
    (fin / "revenue.csv").write_text("timestamp,revenue\n")
    c = cases.create_case("Ransomware at ACME", insured="ACME Ltd", policy=pol, financials=fin)
    assert c.insured == "ACME Ltd" and c.policy_sha256 == hashlib.sha256(pol.read_bytes()).hexdigest()
    assert Path(c.policy_path).read_bytes() == pol.read_bytes()
    assert [x.id for x in cases.list_cases()] == [c.id]
    with pytest.raises(CyberclaimError, match="unknown case id"):
        cases.get_case("NOPE")
    with session() as s:
        actions = [e.action for e in custody.entries(s, c.id)]
    assert actions == ["case_created", "policy_set", "financials_set"]


def test_evidence_add_hashes_copies_readonly_and_dedupes(store, tmp_path):
    c = cases.create_case("t")
    data = os.urandom(3 << 20) + b"tail"
    src = _file(tmp_path, "image.raw", data)
    seen = []
    r = cases.add_evidence(c.id, src, source="laptop", acquired_by="alice", progress=seen.append)
    sha = hashlib.sha256(data).hexdigest()
    assert r.evidence.sha256 == sha and r.evidence.size == len(data) and not r.duplicate
    assert sum(seen) == len(data)
    vp = vault.vault_path(sha)
    assert vp.read_bytes() == data
    assert not (vp.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    assert src.read_bytes() == data  # the original is untouched
    again = cases.add_evidence(c.id, _file(tmp_path, "copy.raw", data))
    assert again.duplicate and again.evidence.id == r.evidence.id
    assert len(cases.list_evidence(c.id)) == 1
    with session() as s:
        actions = [e.action for e in custody.entries(s, c.id)]
    assert actions.count("evidence_added") == 1 and actions.count("evidence_duplicate") == 1


def test_verify_detects_changed_and_missing_vault_files(store, tmp_path):
    c = cases.create_case("t")
    a = cases.add_evidence(c.id, _file(tmp_path, "a.log", b"line one\n")).evidence
    b = cases.add_evidence(c.id, _file(tmp_path, "b.log", b"line two\n")).evidence
    assert cases.verify_evidence(c.id) == []
    pa = vault.vault_path(a.sha256)
    os.chmod(pa, 0o644)
    pa.write_bytes(b"line 0ne\n")
    vault.vault_path(b.sha256).unlink()
    bad = {e.original_name: p for e, p in cases.verify_evidence(c.id)}
    assert "bytes changed" in bad["a.log"] and "missing" in bad["b.log"]
    with pytest.raises(CyberclaimError, match="a.log"):
        cases.require_intact(c.id)


def _chain(case_id):
    with session() as s:
        return custody.entries(s, case_id)


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder"])
def test_custody_chain_detects_tampering(store, tamper):
    c = cases.create_case("t")
    for i in range(5):
        custody.log(c.id, "note", detail=i)
    assert custody.verify_entries(_chain(c.id)) == []
    with session() as s:
        es = custody.entries(s, c.id)
        if tamper == "edit":
            s.execute(text("UPDATE custody SET details = :d WHERE id = :i"), {"d": '{"detail":99}', "i": es[3].id})
        elif tamper == "delete":
            s.execute(text("DELETE FROM custody WHERE id = :i"), {"i": es[2].id})
        elif tamper == "insert":
            # a forger who knows the algorithm: a well-formed entry chained to entry 3, later ones renumbered
            for e in reversed(es[3:]):
                s.execute(text("UPDATE custody SET seq = :q WHERE id = :i"), {"q": e.seq + 1, "i": e.id})
            forged = CustodyEntry(case_id=c.id, seq=es[3].seq, at="2026-01-01T00:00:00Z", actor="mallory", action="note",
                                  evidence_sha256=None, tool_version="x", details="{}", prev_hash=es[2].entry_hash)
            forged.entry_hash = custody.entry_digest(forged.prev_hash, forged)
            s.add(forged)
        else:  # swap the sequence numbers of two entries
            s.execute(text("UPDATE custody SET seq = -1 WHERE id = :i"), {"i": es[2].id})
            s.execute(text("UPDATE custody SET seq = :q WHERE id = :i"), {"q": es[2].seq, "i": es[3].id})
            s.execute(text("UPDATE custody SET seq = :q WHERE id = :i"), {"q": es[3].seq, "i": es[2].id})
    problems = custody.verify_entries(_chain(c.id))
    assert problems, f"{tamper} not detected"
    kinds = {p.kind for p in problems}
    expected = {"edit": "edited", "delete": "deleted", "insert": "inserted", "reorder": "reordered"}[tamper]
    assert expected in kinds, problems


@pytest.mark.parametrize(
    "head,name,expected",
    [
        (b"\xd4\xc3\xb2\xa1" + b"\0" * 20, "x.pcap", "pcap"),
        (b"\x0a\x0d\x0d\x0a" + b"\0" * 20, "x", "pcapng"),
        (b"ElfFile\x00" + b"\0" * 20, "x", "evtx"),
        (b"MZ\x90\x00" + b"\0" * 60, "x.exe", "pe"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x04\x00" + b"\0" * 30, "core", "elf_core"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00" + b"\0" * 30, "bin", "elf"),
        (b"EMiL\x01\x00\x00\x00" + b"\0" * 20, "x.lime", "lime"),
        (b"MDMP\x93\xa7" + b"\0" * 20, "x.dmp", "minidump"),
        (b"PK\x03\x04" + b"\0" * 20, "x.zip", "zip"),
        (b"\xfd7zXZ\x00" + b"\0" * 20, "x.xz", "xz"),
        (b"Mar  1 02:03:04 host sshd[1]: Accepted password\n", "auth.log", "text_log"),
        (b'{"a": 1}\n{"a": 2}\n', "x.jsonl", "jsonl"),
        (b"a,b\n1,2\n", "x.csv", "csv"),
        (b"\0" * 4096, "mem.raw", "raw_memory"),
        (b"", "empty", "unknown"),
        (b"Received: from mx\nFrom: a@b\nTo: c@d\nSubject: invoice\n\nbody", "msg", "email"),
        (b"x", "carved.eml", "email"),
    ],
)
def test_evidence_typing_from_magic(head, name, expected):
    assert detect_type(head, name) == expected


def test_corpus_files_are_typed(corpus):
    from forensics.magic import read_head

    seen = {detect_type(read_head(p), p.name) for p in (corpus / "pcap").glob("*.pcap*")}
    assert {"pcap", "pcapng"} <= seen
    assert all(detect_type(read_head(p), p.name) == "evtx" for p in (corpus / "evtx").glob("*.evtx") if not p.name.startswith("odd_"))
    assert detect_type(read_head(next((corpus / "memory" / "odd").iterdir())), "x") == "minidump"
