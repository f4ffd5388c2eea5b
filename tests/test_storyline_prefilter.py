"""The storyline's one-pass text prefilter (`story_text`) changes nothing: the storyline built with it
equals the one built with `story_text` = every event, on fuzzed wording (case, `%` `_`, non-ASCII,
Chinese, near misses) and on generated scenarios whose facts rest on wording searches."""
from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as hs

from case_store.eventstore import EventWriter
from forensics import storyline
from forensics.events import Event
from forensics.storyline import build_storyline

T = 1_772_400_000_000_000

# fragments the wording searches look for, spelled in every case and with near misses around them
WORDS = ["InboxRule", "inbox rule", "New-InboxRule", "forwarding rule", "收件箱规则", "wire transfer", "bank account", "IBAN", "İBAN",
         "swift", "new account details", "汇款", "付款", "收款账户", "银行账户", "BTC", "bitcoin", "Wallet", "RANSOM", "xmr", "ETH",
         "usdt", "monero", "0.75 BTC", "pay 3 XMR", "12,5 monero", "bc1qyaekkm48tfz7v58r78lkaqy3dx50zjt256weke",
         "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "user7/198.51.100.7:5555 MULTI_sva: pool returned IPv4=10.8.0.6",
         "tunnel established user=bob remote_ip=198.51.100.9 assigned_ip=10.9.0.2", "Stopped nginx.service", "Started nginx.service",
         "systemd[1]: Stopping MySQL Community Server...", "Starting Apache", "health check failed", "healthcheck: DOWN",
         "upstream timed out", "connect() failed (111) while connecting to upstream", "subject: invoice", "mail",
         "100% done", "a_b", "50%_off", "Ünïcödé", "héalth", "wire-transfer", "ransоm", "btc" * 3, "", " "]
ATTRS = [{}, {"service_state": "stopped", "service_name": "nginx"}, {"service_state": "running", "service_name": "nginx"},
         {"health": "FAIL"}, {"health": "ok"}, {"\u0068ealth": "down"}, {"note": "pay 2 BTC"}, {"wallets": ["bc1qyaekkm48tfz7v58r78lkaqy3dx50zjt256weke"]},
         {"operation": "Set-InboxRule"}, {"actor": "APT 28"}, {"x": "100%_y"}, {"k": "银行账户"}]


def _events(rng: random.Random, n: int) -> list[Event]:
    evs = []
    for i in range(n):
        msg = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
        if rng.random() < 0.3:
            msg = msg.upper() if rng.random() < 0.5 else msg.lower()
        kind = rng.choice(["linux:syslog", "mail:smtp", "o365:audit", "detection", "yara:match", "windows:evtx:record", "text:note"])
        evs.append(Event(T + rng.randint(0, 7200) * 1_000_000, kind, msg or "x", "",
                         host=rng.choice(["web01", "db01", "WS01.corp.local", None]), user=rng.choice(["bob", "CORP\\alice", None]),
                         src_ip=rng.choice(["10.0.0.5", "203.0.113.9", "10.8.0.6", None]),
                         dst_ip=rng.choice(["10.0.0.7", "198.51.100.7", None]),
                         attack=rng.choice([[], [], ["T1486"], ["T1564.008"], ["T1114.003"], ["T1190"]]),
                         severity=rng.choice(["info", "info", "high"]), tags=rng.choice([[], ["login"], ["login_failed"]]),
                         file_path=rng.choice([None, "C:\\Data\\README_RESTORE.txt", "D:\\x.dwg.locked"]),
                         attributes=dict(rng.choice(ATTRS))))
    return evs


def _write(d, evs) -> list[str]:
    w = EventWriter(d / "s.parquet")
    for i, e in enumerate(evs):
        e.evidence_sha256, e.parser, e.locator = "c" * 64, "synth@1", f"line {i}"
        w.add(e)
    return [str(w.commit())]


def _both(monkeypatch, **kw) -> tuple[dict, dict]:
    out = []
    for on in (True, False):
        monkeypatch.setattr(storyline, "TEXT_PREFILTER", on)
        out.append(json.loads(build_storyline(**kw).model_dump_json()))
    return out[0], out[1]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=hs.integers(0, 2**32 - 1), n=hs.integers(1, 60))
def test_prefilter_equals_plain_on_fuzzed_wording(tmp_path_factory, monkeypatch, seed, n):
    d = tmp_path_factory.mktemp("pf")
    files = _write(d, _events(random.Random(seed), n))
    fast, plain = _both(monkeypatch, case_id="fuzz", files=files, data_inventory=[], case_docs=[])
    assert fast == plain


def test_prefilter_keeps_every_row_a_wording_search_matches(tmp_path):
    """Row level: each wording predicate the storyline uses selects the same rows from story_text as from events."""
    from forensics.timecorrect import case_connection
    files = _write(tmp_path, _events(random.Random(7), 400))
    con = case_connection(None, files, offsets={})
    storyline._story_text(storyline._Q(con))
    preds = ["message ILIKE '%inboxrule%' OR attributes ILIKE '%Set-InboxRule%'", "message ILIKE '%IBAN%'", "message ILIKE '%银行账户%'",
             f"regexp_matches(message || ' ' || attributes, '{storyline._DEMAND}')",
             "regexp_matches(message, '(Stopped|Started|Stopping|Starting) ')", "attributes LIKE '%\"service_state\"%'",
             "lower(json_extract_string(attributes, '$.health')) IN ('fail', 'failed', 'down', 'unhealthy')",
             "regexp_matches(message, '(?i)(upstream.*(timed out|refused|unreachable|failed)|connect\\(\\) failed.*upstream)')"]
    for p in preds:
        a = con.execute(f"SELECT event_id FROM events WHERE {p} ORDER BY event_id").fetchall()
        b = con.execute(f"SELECT event_id FROM story_text WHERE {p} ORDER BY event_id").fetchall()
        assert a == b, p
    assert con.execute("SELECT count(*) FROM story_text").fetchone()[0] < con.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.mark.parametrize("name", ["bec_funds_fraud", "hospital_operator_error", "industrial_ransomware"])
def test_prefilter_equals_plain_on_scenarios(name, tmp_path, monkeypatch):
    scenarios = pytest.importorskip("scenarios")
    from case_store import cases
    from forensics.pipeline import ingest_case

    monkeypatch.setenv("CYBERCLAIM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CYBERCLAIM_DB_URL", raising=False)
    out = scenarios.generate(name, tmp_path / "scen", seed=0, scale=1)
    c = cases.create_case(name, financials=out / "financials")
    for p in sorted((out / "evidence").iterdir()):
        cases.add_evidence(c.id, p)
    ingest_case(c.id, workers=2)
    fast, plain = _both(monkeypatch, case_id=c.id)
    assert fast == plain
