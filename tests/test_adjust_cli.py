"""`cyberclaim adjust` end to end through the real CLI, case store and loaders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_adjust_bi import REV_OUT, STORY_OUT
from test_adjust_support import bi_section, policy, section, story, write_financials
import yaml

CLI = [str(Path(sys.executable).parent / "cyberclaim")]


def cli(*args, env):
    """The real console script, in a child process (used once: the other calls run in-process for speed)."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def run_in_process(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    from app.cli import app
    from app.cli._errors import run_cli
    monkeypatch.setattr(sys, "argv", ["cyberclaim", *args])
    rc = run_cli(app)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture()
def case_inputs(tmp_path):
    secs = [bi_section(waiting_period={"hours": 2, "mode": "franchise"}),
            section("incident_response", ["security_failure"], retention={"amount": 1000})]
    pol = policy(secs)
    pfile = tmp_path / "policy.yaml"
    pfile.write_text(yaml.safe_dump(json.loads(pol.model_dump_json()), allow_unicode=True))
    fin_dir = tmp_path / "fin"
    write_financials(fin_dir, outage=REV_OUT, ledger=[("I1", "IR", "incident_response", 5000)],
                     claim={"claimed": {"business_interruption": 2000, "incident_response": 5000}}, pol=pol)
    sfile = tmp_path / "story.json"
    sfile.write_text(story(STORY_OUT).model_dump_json())
    return pfile, fin_dir, sfile


def test_adjust_json(cc_home, case_inputs, capsys, monkeypatch):
    pfile, fin_dir, sfile = case_inputs
    rc, out, err = run_in_process(capsys, monkeypatch, "case", "new", "Retailer outage", "--policy", str(pfile),
                                  "--financials", str(fin_dir), "--json")
    assert rc == 0, err
    cid = json.loads(out)["id"]
    r = cli("adjust", cid, "--storyline", str(sfile), "--json", "--draws", "1000", env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) >= {"coverage", "losses", "totals"}
    assert {c["section"]: c["decision"] for c in out["coverage"]} == {"business_interruption": "triggered",
                                                                     "incident_response": "triggered"}
    L = {x["head"]: x for x in out["losses"]}
    assert L["business_interruption"]["payable"] == 900.0 and L["incident_response"]["payable"] == 4000.0
    for x in out["losses"]:
        assert {"head", "claimed", "adjusted", "payable", "currency", "formula", "inputs", "p10", "p50", "p90"} <= set(x)
    assert out["totals"] == {"claimed": 7000.0, "adjusted": 5900.0, "payable": 4900.0, "currency": "CNY",
                             "p10": 4900.0, "p50": 4900.0, "p90": 4900.0}
    # deterministic: a second run prints the same bytes
    rc, again, _ = run_in_process(capsys, monkeypatch, "adjust", cid, "--storyline", str(sfile), "--json", "--draws", "1000")
    assert rc == 0 and again == r.stdout
    # the human view
    rc, human, _ = run_in_process(capsys, monkeypatch, "adjust", cid, "--storyline", str(sfile))
    assert rc == 0 and "Loss schedule" in human and "4,900.00" in human
    # a bad policy override: one clear line naming field and line, no traceback
    bad = pfile.parent / "bad.yaml"
    bad.write_text(pfile.read_text().replace("aggregate_limit:", "aggregate_limt:"))
    rc, _, err = run_in_process(capsys, monkeypatch, "adjust", cid, "--storyline", str(sfile), "--policy", str(bad))
    assert rc == 2 and "aggregate_limt (line" in err and "Traceback" not in err


def test_missing_storyline_builder_is_a_clear_error(monkeypatch):
    from adjusters.service import load_storyline
    from case_store import CyberclaimError
    monkeypatch.setitem(sys.modules, "forensics.storyline", None)  # as if not written yet
    with pytest.raises(CyberclaimError, match="storyline builder"):
        load_storyline("C1")
