"""`NO_UI=1 make demo`, the README's main job, end to end on the built-in incident."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, need_tool

pytestmark = pytest.mark.slow


def test_make_demo_runs_the_main_job_and_matches_the_known_answer(tmp_path):
    need_tool("make")
    out = tmp_path / "demo-out"
    env = dict(os.environ, NO_UI="1", CYBERCLAIM_HOME=str(tmp_path / "home"), DEMO_ARGS=f"--out {out}")
    env.pop("CYBERCLAIM_DB_URL", None)
    r = subprocess.run(["make", "-s", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stdout + r.stderr
    assert "not built yet" not in r.stdout
    reports = sorted((out / "reports").iterdir())
    for lang in ("zh", "en"):
        for fmt in ("pdf", "docx", "xlsx", "json", "html"):
            assert any(p.name.endswith(f"-{lang}.{fmt}") and p.stat().st_size > 0 for p in reports), (lang, fmt)
    truth = json.loads((out / "scenario" / "truth.json").read_text())
    report = json.loads(next(p for p in reports if p.name.endswith("-en.json")).read_text())
    decisions = {c["section"]: c["decision"] for c in report["coverage"]}
    assert decisions == truth["expected_coverage"]
    expected = truth["expected_payable"]["total"]
    assert report["totals"]["payable"] == pytest.approx(expected, rel=0.005)
    assert "Total: claimed" in r.stdout and f"{expected:,.2f}" in r.stdout


def test_demo_ends_by_serving_the_workbench_on_its_case(tmp_path):
    """Without NO_UI the main job ends by starting the UI: the real Streamlit server answers."""
    import signal
    import socket
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, CYBERCLAIM_HOME=str(tmp_path / "home"))
    env.pop("NO_UI", None)
    env.pop("CYBERCLAIM_DB_URL", None)
    exe = Path(sys.executable).parent / "cyberclaim"
    p = subprocess.Popen([str(exe), "demo", "--out", str(tmp_path / "out"), "--port", str(port)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 900
        while time.time() < deadline and p.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
        assert p.poll() is None, p.stdout.read()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)
