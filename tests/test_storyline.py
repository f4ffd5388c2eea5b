"""Storyline: synthetic cases, the generated industrial_ransomware scenario against truth.json, real incidents."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from case_store import cases
from case_store.eventstore import EventWriter
from forensics.events import Event, to_us
from forensics.pipeline import ingest_case
from forensics.storyline import build_storyline

T = 1_772_400_000_000_000


def us(iso: str) -> int:
    return to_us(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def write(tmp_path, events, sha="c" * 64):
    w = EventWriter(tmp_path / "s.parquet")
    for i, e in enumerate(events):
        e.evidence_sha256, e.parser, e.locator = sha, "synth@1", f"line {i}"
        w.add(e)
    return [str(w.commit())]


def test_operator_error_without_attack_indicators(tmp_path):
    evs = [Event(T, "linux:syslog", "cron ran", "", host="db01"),
           Event(T + 60_000_000, "linux:bash", "command", "", host="db01", user="dba",
                 process_cmdline="mysql -e 'DROP DATABASE patients'"),
           Event(T + 120_000_000, "linux:syslog", "mysqld: Stopped MySQL Community Server.", "", host="db01",
                 message_=None) if False else Event(T + 120_000_000, "linux:syslog", "Stopped MySQL Community Server.", "", host="db01"),
           Event(T + 7_320_000_000, "linux:syslog", "Started MySQL Community Server.", "", host="db01")]
    s = build_storyline("synthetic", files=write(tmp_path, evs), data_inventory=[], case_docs=[])
    assert s.malicious.value is False and s.operator_error.value is True
    assert s.initial_access.value["vector"] == "operator error"
    assert s.t0.value == "2026-03-01T21:21:00.000000Z"
    (o,) = s.outages
    assert o.basis == "service stop" and o.host == "db01" and o.duration_hours == pytest.approx(2.0, abs=0.001)
    assert s.gbt_category.value == "RO"


def test_every_fact_cites_existing_events(tmp_path):
    evs = [Event(T + i * 1_000_000, "windows:evtx:record", "fail", "", host="WS01", user="bob", src_ip="203.0.113.9",
                 tags=["login_failed"]) for i in range(10)]
    evs += [Event(T + 20_000_000, "windows:evtx:record", "ok", "", host="WS01", user="CORP\\bob", src_ip="203.0.113.9",
                  tags=["login"], attributes={"logon_type": 10}),
            Event(T + 21_000_000, "detection", "brute force", "", src_ip="203.0.113.9", dst_ip="10.0.0.5", attack=["T1110"],
                  severity="high")]
    files = write(tmp_path, evs)
    s = build_storyline("synthetic", files=files, data_inventory=[], case_docs=[])
    assert s.initial_access.value["vector"] == "exposed RDP (brute force)" and s.initial_access.value["failed_logons_before"] == 10
    assert "203.0.113.9" in s.attacker_infrastructure.value
    from forensics.timecorrect import case_connection
    ids = {r[0] for r in case_connection(None, files).execute("SELECT event_id FROM events").fetchall()}
    for name, f in s:
        for x in (f if isinstance(f, list) else [f]):
            for i in getattr(x, "cited_event_ids", []):
                assert i in ids, name


def test_demand_read_from_another_event_than_the_wallet(tmp_path):
    """The note's text names the amount; the wallet comes from a YARA hit elsewhere (untimed)."""
    wallet = "bc1qyaekkm48tfz7v58r78lkaqy3dx50zjt256weke"
    evs = [Event(0, "yara:match", f"YARA rule CC_Wallet_BTC matched image (BTC {wallet})", "Not a time", tags=["yara", "ransomware"],
                 severity="high", attack=["T1486"], attributes={"wallets": [wallet], "currency": "BTC"}),
           Event(T, "windows:evtx:record", "File created C:\\Data\\README_RESTORE.txt", "", host="FS01",
                 file_path="C:\\Data\\README_RESTORE.txt", attack=["T1486"], severity="high"),
           Event(T + 1_000_000, "text:note", "Your files are encrypted. To get the decryptor pay 0.75 BTC within 72 hours", "",
                 host="FS01")]
    s = build_storyline("synthetic", files=write(tmp_path, evs), data_inventory=[], case_docs=[])
    x = s.extortion.value
    assert x["wallet"] == wallet and x["demand"] == 0.75 and x["currency"] == "BTC" and x["payment_method"] == "bitcoin"
    # an amount with no ransom note, wallet or YARA hit is not extortion
    evs2 = [Event(T, "linux:syslog", "exchange: pay 3 BTC settled", "", host="x", severity="high", attack=["T1486"])]
    (tmp_path / "b").mkdir()
    assert build_storyline("s2", files=write(tmp_path / "b", evs2), data_inventory=[], case_docs=[]).extortion is None


def test_untimed_and_implausible_times_never_date_the_story(tmp_path):
    """Timestamp 0 (YARA/memory), 1970 + clock offset and a 1985 RTC are cited, never T0/first seen."""
    evs = [Event(0, "yara:match", "YARA rule Ransom_X matched FS01.mem", "Not a time", host="FS01", severity="high",
                 attack=["T1486"], tags=["yara"]),
           Event(3_600_000_000, "memory:injection", "injected code", "", host="FS01", severity="high", attack=["T1055"]),
           Event(to_us(datetime(1985, 1, 1)), "detection", "odd clock", "", host="FS01", severity="high", attack=["T1486"]),
           Event(T, "detection", "Encrypted file extension", "", host="FS01", severity="high", attack=["T1486"],
                 file_path="D:\\x.dwg.locked"),
           Event(T + 60_000_000, "detection", "Encrypted file extension", "", host="FS01", severity="high", attack=["T1486"],
                 file_path="D:\\y.dwg.locked")]
    files = write(tmp_path, evs)
    s = build_storyline("synthetic", files=files, data_inventory=[], case_docs=[])
    assert s.t0.value == "2026-03-01T21:20:00.000000Z"
    enc = next(f for f in s.impact if f.name == "impact:encryption")
    assert enc.value["first"] == "2026-03-01T21:20:00.000000Z" and enc.value["last"] == "2026-03-01T21:21:00.000000Z"
    from forensics.timecorrect import case_connection
    untimed = {r[0] for r in case_connection(None, files).execute("SELECT event_id FROM events WHERE timestamp < 631152000000000").fetchall()}
    assert untimed & set(enc.cited_event_ids), "untimed hits still support the impact"
    for name, f in s:
        for x in (f if isinstance(f, list) else [f]):
            for v in _times_in(getattr(x, "value", None)) + [getattr(x, k, None) for k in ("start", "end", "first_seen", "last_seen")]:
                assert v is None or v >= "1990", (name, v)


def _times_in(v) -> list:
    if isinstance(v, str) and len(v) >= 20 and v[4] == "-" and v[10] == "T":
        return [v]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _times_in(x)]
    if isinstance(v, list):
        return [t for x in v for t in _times_in(x)]
    return []


@pytest.fixture(scope="module")
def ransomware_case(tmp_path_factory):
    scenarios = pytest.importorskip("scenarios")
    import os
    home = tmp_path_factory.mktemp("cchome")
    old = {k: os.environ.get(k) for k in ("CYBERCLAIM_HOME", "CYBERCLAIM_DB_URL")}
    os.environ["CYBERCLAIM_HOME"] = str(home)
    os.environ.pop("CYBERCLAIM_DB_URL", None)
    try:
        out = scenarios.generate("industrial_ransomware", tmp_path_factory.mktemp("scen"), seed=0, scale=1)
        c = cases.create_case("industrial ransomware", financials=out / "financials")
        for p in sorted((out / "evidence").iterdir()):
            cases.add_evidence(c.id, p)
        ingest_case(c.id, workers=2)
        yield c.id, json.loads((out / "truth.json").read_text()), build_storyline(c.id)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_industrial_ransomware_against_truth(ransomware_case):
    _, truth, s = ransomware_case
    minute = 60_000_000
    assert abs(us(s.t0.value) - us(truth["t0"])) <= minute
    assert s.initial_access.value["vector"].startswith(truth["initial_access"]["vector"])
    assert s.initial_access.value["account"].split("\\")[-1].lower() == truth["initial_access"]["account"]
    assert {h.upper() for h in s.compromised_hosts.value} == {h.upper() for h in truth["compromised_hosts"]}
    assert abs(us(s.discovery.value) - us(truth["discovery"])) <= minute
    assert abs(us(s.containment.value) - us(truth["containment"])) <= minute
    assert [(a.upper(), b.upper()) for a, b, _ in s.lateral_movement.value] == [(a.upper(), b.upper()) for a, b, _ in truth["lateral_movement"]]
    for o_truth in truth["outages"]:
        match = [o for o in s.outages if o.host and o.host.upper() == o_truth["host"].upper()]
        assert match, s.outages
        assert abs(us(match[0].start) - us(o_truth["start"])) <= minute
        assert abs(us(match[0].end) - us(o_truth["end"])) <= minute
    assert s.exfiltrated_bytes == pytest.approx(truth["exfiltrated_bytes"], rel=0.01)
    assert s.records_affected == truth["records_affected"]
    assert set(truth["attacker_infrastructure"]) <= set(s.attacker_infrastructure.value)
    assert s.malicious.value is truth["malicious"] and s.operator_error.value is truth["operator_error"]
    assert s.gbt_category.value == truth["gbt_category"]
    assert {h.upper() for h in next(f for f in s.impact if f.name == "impact:encryption").value["hosts"]} == set(truth["encrypted_hosts"])


@pytest.mark.slow
def test_extortion_demand_and_wallet(ransomware_case):
    _, truth, s = ransomware_case
    x = s.extortion.value
    assert x["wallet"] == truth["extortion"]["wallet"]
    assert x["demand"] == truth["extortion"]["demand"] and x["currency"] == truth["extortion"]["currency"]
    assert x["payment_method"] == truth["extortion"]["payment_method"]


@pytest.mark.slow
def test_cli_storyline_json_and_graph(ransomware_case, tmp_path, monkeypatch):
    import subprocess
    import sys
    import os
    case_id, truth, s = ransomware_case
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "app.cli", "storyline", case_id, "--json"], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).resolve().parent.parent)
    if r.returncode != 0 and "No module named app.cli.__main__" in r.stderr:
        r = subprocess.run([str(Path(sys.executable).parent / "cyberclaim"), "storyline", case_id, "--json"],
                           capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["t0"]["name"] == "t0" and d["t0"]["value"] == s.t0.value and d["t0"]["cited_event_ids"]
    assert 0 < d["gbt_category"]["confidence"] <= 1
