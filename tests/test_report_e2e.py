"""End to end over a generated scenario: scenario → case → ingest → storyline → adjustment → reports."""
from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook

from adjusters.report.issue import issue_report
from case_store import cases

# the small text evidence of the scenario: enough for a storyline, quick to ingest (the memory image
# and the full packet capture are exercised by the forensics tests)
SUFFIXES = (".jsonl", ".log", ".xml")


@pytest.fixture(scope="module")
def scenario_case(tmp_path_factory):
    import os

    import scenarios
    from forensics.pipeline import ingest_case

    base = tmp_path_factory.mktemp("e2e")
    old = {k: os.environ.get(k) for k in ("CYBERCLAIM_HOME", "CYBERCLAIM_USER", "CYBERCLAIM_DB_URL")}
    os.environ.update(CYBERCLAIM_HOME=str(base / "home"), CYBERCLAIM_USER="tester")
    os.environ.pop("CYBERCLAIM_DB_URL", None)
    try:
        out = scenarios.generate(scenarios.DEMO, base / "scenario", seed=0, scale=1)
        c = cases.create_case("e2e", policy=out / "policy.yaml", financials=out / "financials")
        for p in sorted((out / "evidence").iterdir()):
            if p.suffix in SUFFIXES:
                cases.add_evidence(c.id, p, source=f"scenario:{p.name}", acquired_by="generator")
        ingest_case(c.id)
        yield c.id, out, base
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def test_report_states_what_the_adjusters_computed(scenario_case):
    from adjusters.service import adjust_case, result_dict

    cid, out, base = scenario_case
    doc = json.loads(issue_report(cid, "json", "en", base / "r.json").read_text())
    assert doc["missing"] == [], doc["problems"]
    adj = result_dict(adjust_case(cid))
    assert doc["totals"] == adj["totals"]
    assert [(x["head"], x["payable"]) for x in doc["losses"]] == [(x["head"], x["payable"]) for x in adj["losses"]]
    assert [(x["section"], x["decision"]) for x in doc["coverage"]] == [(x["section"], x["decision"]) for x in adj["coverage"]]
    # every chronology line points at a registered exhibit by number and hash
    ev = {e.sha256 for e in cases.list_evidence(cid)}
    exhibits = {e["no"]: e["sha256"] for e in doc["exhibits"]}
    assert doc["chronology"]
    for line in doc["chronology"]:
        assert line["evidence_sha256"] in ev and exhibits[line["exhibit"]] == line["evidence_sha256"]
        assert line["locator"]
    assert doc["summary"]["policy_number"] and doc["summary"]["insured"]
    assert doc["revenue_chart"] is None or doc["revenue_chart"]["outage"]["start"] <= doc["revenue_chart"]["outage"]["end"]


def test_xlsx_and_docx_of_the_scenario(scenario_case):
    from docx import Document

    cid, out, base = scenario_case
    x = issue_report(cid, "xlsx", "zh", base / "r.xlsx")
    wb = load_workbook(io.BytesIO(x.read_bytes()))
    doc = json.loads(issue_report(cid, "json", "zh", base / "r.json").read_text())
    assert wb.sheetnames == ["Summary"] + [lo["head"] for lo in doc["losses"]]
    for lo in doc["losses"]:
        ws = wb[lo["head"]]
        assert ws["B3"].value == (lo["decision"] or "")
        if lo["head"] == "business_interruption" and str(ws["B5"].value).startswith("="):
            assert "SUM(J" in ws["B5"].value  # live hourly arithmetic (checked against the engine when written)
        else:
            assert ws["B5"].value == lo["adjusted"]
    d = Document(str(issue_report(cid, "docx", "zh", base / "r.docx")))
    assert sum(p.style.name == "Heading 1" for p in d.paragraphs) >= 9
