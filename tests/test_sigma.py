"""Sigma matching over ingested corpus EVTX: each attack sample raises its detection."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forensics import sigma
from forensics.events import EVENT_SCHEMA, Event
from forensics.ingestors.base import IngestContext
from forensics.ingestors.evtx import EvtxIngestor

# corpus file -> the technique its MANIFEST description names, as a rule-title keyword of the default pack
EXPECTED = {
    "lm_remote_service_7045.evtx": "New service installed",
    "lm_pass_the_hash_4624.evtx": "Pass-the-hash",
    "ca_sysmon10_lsass_mimikatz.evtx": "LSASS memory access",
    "ca_dcsync_4662.evtx": "DCSync",
    "ca_kerberos_spray_4771.evtx": "Kerberos password spray",
    "de_security_log_cleared_1102.evtx": "Security audit log cleared",
    "c2_rdp_tunnel_4624_type10.evtx": "RDP logon from loopback",
    "exec_emotet_powershell_4104.evtx": "Obfuscated PowerShell",
    "deepblue_password_spray.evtx": "Password spray",
    "deepblue_new_user_4720.evtx": "Member added to a privileged group",
    "impact_delete_vss_wmi_4688.evtx": "shadow copies deleted",
    "rdp_success_1149.evtx": "RDP network authentication succeeded",
}


@pytest.fixture(scope="module")
def corpus_parquet(corpus, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pq")
    out = {}
    for f in sorted((corpus / "evtx").glob("*.evtx")):
        rows = [e.to_row() for e in EvtxIngestor().ingest(IngestContext(f, "sha-" + f.name, "evtx", f.name))
                if isinstance(e, Event)]
        p = d / (f.name + ".parquet")
        pq.write_table(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), p)
        out[f.name] = p
    return out


@pytest.fixture(scope="module")
def detections(corpus_parquet):
    problems: list = []
    dets = list(sigma.match(list(corpus_parquet.values()), problems=problems))
    assert not problems, problems
    return dets


@pytest.mark.parametrize("name,title", sorted(EXPECTED.items()))
def test_attack_sample_raises_its_detection(detections, corpus_parquet, name, title):
    mine = [d for d in detections if d.evidence_sha256 == "sha-" + name]
    hits = [d for d in mine if title.lower() in d.attributes["title"].lower()]
    assert hits, (name, sorted({d.attributes["title"] for d in mine}))
    # provenance: every detection points at a real event of that evidence
    rows = pq.read_table(corpus_parquet[name], columns=["event_id", "locator"]).to_pylist()
    by_id = {r["event_id"]: r["locator"] for r in rows}
    for d in hits:
        assert d.attributes["matched_event_ids"] and all(e in by_id for e in d.attributes["matched_event_ids"])
        assert d.locator in by_id.values()
        assert d.data_type == "detection" and d.parser.startswith("sigma@")
        assert d.attributes["rule_id"] and d.attributes["level"]


def test_attack_tags_and_sprays(detections):
    spray = [d for d in detections if d.attributes["title"].startswith("Kerberos password spray")]
    assert len(spray) == 1 and spray[0].attack == ["T1110.003"] and spray[0].attributes["count"] >= 5
    pw = [d for d in detections if d.attributes["title"].startswith("Password spray")]
    assert pw and pw[0].attributes["count"] >= 10 and len(pw[0].attributes["matched_event_ids"]) >= 10
    lsass = [d for d in detections if "LSASS" in d.attributes["title"]][0]
    assert lsass.attack == ["T1003.001"] and lsass.severity == "high" and lsass.process_name == "mimikatz.exe"


def test_benign_baseline_is_quiet(detections):
    base = [d for d in detections if d.evidence_sha256 == "sha-baseline_security_benign.evtx"]
    assert not [d for d in base if d.attributes["level"] in ("high", "critical")
                and "privileged group" not in d.attributes["title"]]


def test_deterministic(corpus_parquet, detections):
    again = list(sigma.match(list(corpus_parquet.values())))
    assert [d.to_row() for d in again] == [d.to_row() for d in detections]


def test_bad_rules_are_reported_not_fatal(tmp_path, corpus_parquet):
    (tmp_path / "broken.yml").write_text("title: x\nlogsource: {product: windows}\ndetection: {condition: nope}\n")
    (tmp_path / "notyaml.yml").write_text("::: [\n")
    (tmp_path / "ok.yml").write_text(
        "title: Any 4662\nid: 0b9c7f3e-0000-4000-8000-000000000001\nlogsource: {product: windows, service: security}\n"
        "detection: {sel: {EventID: 4662}, condition: sel}\nlevel: low\ntags: [attack.t1003.006]\n")
    coll, problems = sigma.load_rules([tmp_path])
    assert {Path(p.file).name for p in problems} >= {"notyaml.yml"}
    probs: list = []
    dets = list(sigma.match([corpus_parquet["ca_dcsync_4662.evtx"]], [tmp_path], problems=probs))
    assert len(dets) == 3 and all(d.attack == ["T1003.006"] for d in dets)
    assert {Path(p.file).name for p in probs} >= {"broken.yml", "notyaml.yml"}
    assert sigma.rulepack_fingerprint([tmp_path]) != sigma.rulepack_fingerprint()
    assert dets[0].parser.endswith(sigma.rulepack_fingerprint([tmp_path]))


def test_sigma_is_case_insensitive_and_typed_as_text(tmp_path, corpus_parquet):
    (tmp_path / "r.yml").write_text(
        "title: wmic upper\nlogsource: {product: windows, category: process_creation}\n"
        "detection: {sel: {CommandLine|contains: 'SHADOWCOPY DELETE', Image|endswith: '\\\\wmic.EXE'}, condition: sel}\n"
        "level: high\n")
    dets = list(sigma.match([corpus_parquet["impact_delete_vss_wmi_4688.evtx"]], [tmp_path]))
    assert len(dets) == 1 and dets[0].process_name == "WMIC.exe"


# ---- lowered columns + LIKE (forensics.sigma.DuckDBBackend) mean what ILIKE / NOCASE meant ----

import duckdb  # noqa: E402
import yaml  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(alphabet=st.sampled_from(list("aAbBzZ%_'.é ÉßẞİıIΣσς\u0130\u212a\u00c5\u00e5kK0")), max_size=6)


def _like_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@settings(max_examples=60, deadline=None)
@given(st.lists(_text, min_size=1, max_size=6), _text, st.sampled_from(["", "|contains", "|startswith", "|endswith"]))
def test_case_insensitive_matching_equals_ilike(tmp_path_factory, values, needle, modifier):
    d = tmp_path_factory.mktemp("ci")
    rule = {"title": "ci", "id": "0b9c7f3e-0000-4000-8000-0000000000aa", "level": "low",
            "logsource": {"product": "windows", "service": "security"},
            "detection": {"sel": {f"TargetUserName{modifier}": needle}, "condition": "sel"}}
    (d / "r.yml").write_text(yaml.safe_dump(rule, allow_unicode=True))
    con = duckdb.connect()
    con.execute("CREATE TABLE t (event_id VARCHAR, evidence_sha256 VARCHAR, locator VARCHAR, timestamp BIGINT, "
                "host VARCHAR, \"user\" VARCHAR, process_pid BIGINT, process_name VARCHAR, process_cmdline VARCHAR, "
                "src_ip VARCHAR, src_port INTEGER, dst_ip VARCHAR, dst_port INTEGER, domain VARCHAR, "
                "file_path VARCHAR, data_type VARCHAR, attributes VARCHAR)")
    for i, v in enumerate(values):
        con.execute("INSERT INTO t VALUES (?, 's', ?, ?, 'h', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                    "NULL, 'windows:evtx:record', ?)",
                    [f"e{i}", f"l{i}", i, json.dumps({"channel": "SECURITY", "event_id": 4624, "TargetUserName": v})])
    probs: list = []
    got = sorted(e.attributes["matched_event_ids"][0] for e in sigma.match(rules_dirs=[d], con=con, table="t",
                                                                            problems=probs))
    assert not probs
    esc = _like_escape(needle)
    pattern = {"": None, "|contains": f"%{esc}%", "|startswith": f"{esc}%", "|endswith": f"%{esc}"}[modifier]
    if pattern is None:
        ref = con.execute("SELECT event_id FROM t WHERE json_extract_string(attributes, '$.TargetUserName') = ? "
                          "COLLATE NOCASE ORDER BY 1", [needle]).fetchall()
    else:
        ref = con.execute("SELECT event_id FROM t WHERE json_extract_string(attributes, '$.TargetUserName') "
                          "ILIKE ? ESCAPE '\\' ORDER BY 1", [pattern]).fetchall()
    assert got == [r[0] for r in ref]
