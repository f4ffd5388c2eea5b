"""Issuing reports for real cases: versions, custody, refusal on changed evidence, missing inputs, CLI."""
from __future__ import annotations

import json
import os
import stat

import pytest
from sqlalchemy import select

from adjusters.report.i18n import MISSING
from adjusters.report.issue import issue_report, list_reports
from case_store import CyberclaimError, cases
from case_store.db import session
from case_store.models import CustodyEntry
from case_store.vault import vault_path
from adjusters.report.samples import POLICY, write_financials

EVIDENCE = ["pcap/dns_small.pcap", "evtx/c2_rdp_tunnel_4624_type10.evtx"]


@pytest.fixture()
def case_with_evidence(cc_home, corpus):
    c = cases.create_case("报告测试", insured="示例电商科技有限公司")
    for rel in EVIDENCE:
        cases.add_evidence(c.id, corpus / rel, source=f"corpus:{rel}", acquired_by="tester")
    return c


def _custody_actions(case_id: str) -> list[str]:
    with session() as s:
        return [e.action for e in s.execute(select(CustodyEntry).where(CustodyEntry.case_id == case_id)
                                            .order_by(CustodyEntry.seq)).scalars()]


def test_reissue_same_state_is_identical_and_changed_state_gets_next_version(case_with_evidence, corpus, tmp_path):
    cid = case_with_evidence.id
    a = issue_report(cid, "json", "en", tmp_path / "a.json")
    b = issue_report(cid, "json", "en", tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()  # same case state → same bytes, same version
    doc = json.loads(a.read_text())
    assert doc["report"]["version"] == 1
    # the report records what it was built from
    shas = sorted(e.sha256 for e in cases.list_evidence(cid))
    assert doc["versions"]["evidence_sha256"] == shas
    assert doc["versions"]["tool"].startswith("cyberclaim")
    assert isinstance(doc["versions"]["ingestors"], dict) and doc["versions"]["ingestors"]
    assert [e["sha256"] for e in doc["exhibits"]] == [e.sha256 for e in cases.list_evidence(cid)]
    assert all(e["custody"]["actions"].get("evidence_added") == 1 for e in doc["exhibits"])
    assert "policy" in doc["missing"] and "financials" in doc["missing"]

    cases.set_inputs(cid, policy=POLICY, financials=write_financials(tmp_path / "fin"))
    c = issue_report(cid, "json", "en", tmp_path / "a.json")  # same output path: the earlier issue is kept
    doc2 = json.loads(c.read_text())
    assert doc2["report"]["version"] == 2
    assert doc2["summary"]["policy_number"] == "CC-TI-2026-0001"
    rows = list_reports(cid)
    assert [r.version for r in rows] == [1, 2]
    assert all(os.path.exists(r.path) for r in rows)
    assert json.loads(open(rows[0].path).read())["report"]["version"] == 1
    actions = _custody_actions(cid)
    assert actions.count("report_issued") == 3


def test_refuses_when_evidence_changed(case_with_evidence, tmp_path):
    cid = case_with_evidence.id
    ev = cases.list_evidence(cid)[0]
    p = vault_path(ev.sha256)
    os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)
    with open(p, "r+b") as f:
        byte = f.read(1)
        f.seek(0)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CyberclaimError, match="refusing to issue"):
        issue_report(cid, "pdf", "zh", tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    assert list_reports(cid) == []
    assert "report_refused" in _custody_actions(cid)


def test_empty_case_report_names_what_is_missing(cc_home, tmp_path):
    c = cases.create_case("空案件")
    out = issue_report(c.id, "html", "zh", tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    for m in ("evidence", "policy", "financials"):
        assert MISSING[m][0] in html and MISSING[m][1] in html
    doc = json.loads(issue_report(c.id, "json", "en", tmp_path / "r.json").read_text())
    assert doc["totals"] is None and doc["losses"] == []
    assert doc["missing"][:3] == ["evidence", "policy", "financials"]


def test_cli_report(cc_home, tmp_path):
    from typer.testing import CliRunner

    from app.cli import app

    c = cases.create_case("cli")
    r = CliRunner().invoke(app, ["report", c.id, "--format", "docx", "--lang", "en", "-o", str(tmp_path / "r.docx")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.docx").stat().st_size > 0
    r = CliRunner().invoke(app, ["report", c.id, "--format", "rtf", "-o", str(tmp_path / "r.rtf")])
    assert r.exit_code != 0
    r = CliRunner().invoke(app, ["report", c.id, "--list", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["format"] == "docx"


def test_invalid_policy_is_reported_not_raised(cc_home, tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("policy_number: X\ncurrency: RMB\nsections: []\n", encoding="utf-8")
    c = cases.create_case("bad policy", policy=bad, financials=write_financials(tmp_path / "fin"))
    doc = json.loads(issue_report(c.id, "json", "zh", tmp_path / "r.json").read_text())
    assert "policy" in doc["missing"] and doc["totals"] is None and doc["losses"] == []
    assert any("invalid policy" in p for p in doc["problems"])
