"""Scenario generator (issue 3): every scenario generates, is deterministic, its
files parse with the real libraries (dpkt, tshark, pefile, the adjusters'
pydantic models), and truth.json's expected payables agree with an independent
recomputation from the files on disk and with adjusters.adjust()."""
from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
from pathlib import Path

import dpkt
import pandas as pd
import pytest
import yaml

import scenarios
from tests.conftest import need_tool

ALL = list(scenarios.SCENARIOS)
REQUIRED_KEYS = {"t0", "initial_access", "compromised_hosts", "outages", "exfiltrated_bytes", "records_affected",
                 "attacker_infrastructure", "expected_coverage", "expected_payable", "memory_artifacts", "evidence"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scenarios")
    return {name: scenarios.generate(name, root / name) for name in ALL}


def _truth(d: Path) -> dict:
    return json.loads((d / "truth.json").read_text(encoding="utf-8"))


def _tree_digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


def _frames(path: Path):
    with open(path, "rb") as f:
        reader = dpkt.pcapng.Reader(f) if path.suffix == ".pcapng" else dpkt.pcap.Reader(f)
        for ts, buf in reader:
            yield ts, buf


# ---- generation and layout -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_scenario_layout_and_truth(generated, name):
    d = generated[name]
    truth = _truth(d)
    assert REQUIRED_KEYS <= truth.keys()
    assert (d / "policy.yaml").is_file() and (d / "financials" / "revenue.csv").is_file()
    kinds = {e["kind"] for e in truth["evidence"]}
    assert kinds & {"pcap", "pcapng"}, "every scenario has a packet capture"
    for e in truth["evidence"]:  # the manifest hashes are those of the files written
        assert hashlib.sha256((d / e["file"]).read_bytes()).hexdigest() == e["sha256"]
    assert set(truth["expected_payable"]) == set(truth["expected_coverage"]) | {"total"}
    assert truth["expected_payable"]["total"] == pytest.approx(
        sum(v for k, v in truth["expected_payable"].items() if k != "total"), abs=0.02)
    for o in truth["outages"]:
        assert o["start"].endswith("Z") and o["end"] > o["start"]
    for k, v in truth["expected_payable"].items():
        if k != "total" and truth["expected_coverage"][k] != "triggered":
            assert v == 0.0, f"{k} is {truth['expected_coverage'][k]} yet pays {v}"


def test_war_scenario_is_excluded_and_others_pay(generated):
    war = _truth(generated["state_wiper_war"])
    assert set(war["expected_coverage"].values()) == {"excluded"} and war["expected_payable"]["total"] == 0
    assert war["attribution"]["state_actor"] and war["attribution"]["basis"] == "government_of_affected_state"
    assert "attribution_statement.txt" in {Path(e["file"]).name for e in war["evidence"]}
    hosp = _truth(generated["hospital_operator_error"])
    assert hosp["operator_error"] is True and hosp["malicious"] is False
    assert hosp["expected_coverage"]["incident_response"] == "not_triggered"
    for name in set(ALL) - {"state_wiper_war"}:
        assert _truth(generated[name])["expected_payable"]["total"] > 0, name


def test_determinism_byte_identical(generated, tmp_path):
    for name in ("industrial_ransomware", "hospital_operator_error"):
        again = scenarios.generate(name, tmp_path / name)
        assert _tree_digest(again) == _tree_digest(generated[name]), name


def test_seed_changes_bytes_and_scale_adds_background_only(generated, tmp_path):
    base = generated["hospital_operator_error"]
    other = scenarios.generate("hospital_operator_error", tmp_path / "seed1", seed=1)
    assert (other / "evidence" / "his_core.pcap").read_bytes() != (base / "evidence" / "his_core.pcap").read_bytes()
    big = scenarios.generate("hospital_operator_error", tmp_path / "scale3", scale=3)
    tb, tg = _truth(base), _truth(big)
    for k in ("t0", "outages", "expected_coverage", "expected_payable"):
        assert tb[k] == tg[k], k
    lines = {e["file"]: e.get("lines") for e in tb["evidence"]}
    lines_big = {e["file"]: e.get("lines") for e in tg["evidence"]}
    assert lines_big["evidence/his_portal_access.log"] >= 2.5 * lines["evidence/his_portal_access.log"]
    assert (big / "financials" / "revenue.csv").read_bytes() == (base / "financials" / "revenue.csv").read_bytes()


def test_refuses_foreign_directory(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "precious.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        scenarios.generate("bec_funds_fraud", tmp_path / "x")
    with pytest.raises(KeyError):
        scenarios.generate("no_such_scenario", tmp_path / "y")


# ---- packet captures -----------------------------------------------------------------------------

def _captures(generated):
    for name in ALL:
        d = generated[name]
        for e in _truth(d)["evidence"]:
            if e["kind"] in ("pcap", "pcapng"):
                yield name, d / e["file"], e


def test_dpkt_reads_every_capture_with_valid_checksums_and_handshakes(generated):
    seen_formats = set()
    for name, path, entry in _captures(generated):
        seen_formats.add(path.suffix)
        n, last_ts, syn, synack = 0, 0.0, set(), set()
        for ts, buf in _frames(path):
            n += 1
            assert ts >= last_ts, f"{path.name}: frames out of time order at {n}"
            last_ts = ts
            ip = dpkt.ethernet.Ethernet(buf).data
            assert isinstance(ip, dpkt.ip.IP)
            raw = bytes(buf[14:14 + ip.hl * 4])
            assert dpkt.in_cksum(raw) == 0, f"{path.name}: bad IPv4 header checksum at frame {n}"
            if n % 7 == 0 and ip.p in (6, 17):  # transport checksum, verified from the raw bytes
                seg = bytes(buf[14 + ip.hl * 4:14 + ip.len])
                pseudo = ip.src + ip.dst + bytes([0, ip.p]) + len(seg).to_bytes(2, "big")
                assert dpkt.in_cksum(pseudo + seg) == 0, f"{path.name}: bad L4 checksum at frame {n}"
            if isinstance(ip.data, dpkt.tcp.TCP):
                t = ip.data
                key = (ip.src, t.sport, ip.dst, t.dport)
                if t.flags & dpkt.tcp.TH_SYN and not t.flags & dpkt.tcp.TH_ACK:
                    syn.add(key)
                elif t.flags & dpkt.tcp.TH_SYN:
                    synack.add((ip.dst, t.dport, ip.src, t.sport))
        assert n == entry["packets"], path.name
        assert synack and synack <= syn, f"{path.name}: every SYN/ACK answers a SYN"
    assert seen_formats == {".pcap", ".pcapng"}


def test_exfiltrated_bytes_are_in_the_capture(generated):
    """Client payload bytes of each recorded exfiltration flow, counted with dpkt, equal truth."""
    for name in ALL:
        d = generated[name]
        truth = _truth(d)
        flows = truth.get("exfiltration", [])
        assert sum(f["payload_bytes"] for f in flows) == truth["exfiltrated_bytes"]
        for flow in flows:
            cap = next(d / e["file"] for e in truth["evidence"] if e["kind"] in ("pcap", "pcapng"))
            sent = 0
            for _, buf in _frames(cap):
                ip = dpkt.ethernet.Ethernet(buf).data
                if not isinstance(ip.data, dpkt.tcp.TCP):
                    continue
                src, dst = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
                if flow.get("direction") == "server_to_client":
                    if src == flow["src_ip"] and dst == flow["dst_ip"] and ip.data.sport == flow["src_port"]:
                        sent += len(ip.data.data)
                elif src == flow["src_ip"] and dst == flow["dst_ip"] and ip.data.dport == flow["dst_port"]:
                    sent += len(ip.data.data)
            # the server->client dump also carries one HTTP response header; allow 1 %
            assert abs(sent - flow["payload_bytes"]) <= 0.01 * flow["payload_bytes"], (name, sent)


def test_tshark_reads_every_capture(generated):
    tshark = need_tool("tshark")
    for name, path, entry in _captures(generated):
        r = subprocess.run([tshark, "-r", str(path), "-q", "-z", "io,stat,0", "-z", "expert,error"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        frames = re.search(r"\|\s+0\.0+\s+<>\s+\S+\s+\|\s+(\d+)\s+\|", r.stdout)
        assert frames and int(frames.group(1)) == entry["packets"], (path.name, r.stdout[-800:])
        assert "Malformed" not in r.stdout, (path.name, r.stdout[-1500:])


# ---- memory image, logs, Windows events ---------------------------------------------------------

def test_pefile_parses_planted_pes_and_strings_at_recorded_offsets(generated):
    import pefile

    n_pe = 0
    for name in ALL:
        d = generated[name]
        for a in _truth(d)["memory_artifacts"]:
            with open(d / a["image"], "rb") as f:
                f.seek(a["offset"])
                data = f.read(a["length"])
            assert hashlib.sha256(data).hexdigest() == a["sha256"]
            if a["kind"] == "pe":
                pe = pefile.PE(data=data)
                assert pe.FILE_HEADER.Machine == 0x14C and pe.verify_checksum()
                assert len(pe.DIRECTORY_ENTRY_IMPORT) >= 2 and pe.get_imphash()
                n_pe += 1
            else:
                assert data.decode(a["encoding"]) == a["text"]
    assert n_pe >= 3
    ransom = _truth(generated["industrial_ransomware"])
    notes = [a for a in ransom["memory_artifacts"] if a["label"] == "ransom note" and a["encoding"] == "ascii"]
    assert notes and ransom["extortion"]["wallet"] in notes[0]["text"]


def test_ransomware_memory_image_is_raw_memory_to_the_product(generated):
    from forensics.magic import detect_type, read_head

    p = generated["industrial_ransomware"] / "evidence" / "FS01.mem"
    assert detect_type(read_head(p), p.name) == "raw_memory"


SYSLOG = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d \S+ [\w/.\-]+(\[\d+\])?: ")
COMBINED = re.compile(r'^\S+ - \S+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "[A-Z]+ \S+ HTTP/1\.1" \d{3} \d+ "[^"]*" "[^"]*"$')


def test_text_logs_are_well_formed(generated):
    for name in ALL:
        d = generated[name]
        for e in _truth(d)["evidence"]:
            pattern = {"syslog": SYSLOG, "auth_log": SYSLOG, "firewall_log": SYSLOG, "web_access_log": COMBINED}.get(e["kind"])
            if pattern is None:
                continue
            lines = (d / e["file"]).read_text(encoding="utf-8").splitlines()
            assert len(lines) == e["lines"] > 0
            bad = [ln for ln in lines if not pattern.match(ln)]
            assert not bad, (e["file"], bad[:3])
    fw = (generated["industrial_ransomware"] / "evidence" / "fw01_firewall.log").read_text()
    assert "[UFW BLOCK]" in fw and "SRC=203.0.113.45" in fw


def test_windows_events_jsonl_shape_and_story(generated):
    d = generated["industrial_ransomware"]
    ids: dict[int, int] = {}
    for e in _truth(d)["evidence"]:
        if e["kind"] != "windows_events_jsonl":
            continue
        last: dict[str, int] = {}
        for line in (d / e["file"]).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            s = rec["Event"]["System"]
            assert set(s) == {"Provider", "EventID", "TimeCreated", "EventRecordID", "Channel", "Computer"}
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", s["TimeCreated"]["#attributes"]["SystemTime"])
            assert s["EventRecordID"] > last.get(s["Channel"], 0)
            last[s["Channel"]] = s["EventRecordID"]
            assert isinstance(rec["Event"]["EventData"], dict)
            ids[s["EventID"]] = ids.get(s["EventID"], 0) + 1
    assert ids[4625] == 60 and ids[7045] == 5 and ids[1102] == 1
    for eid in (4624, 4672, 4688, 1, 3, 11, 7036):
        assert ids.get(eid), eid
    xml = (d / "evidence" / "MES01_System_wevtutil.xml").read_text(encoding="utf-8")
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    assert len(root) >= 4 and root[0].tag.endswith("Event")


# ---- financials, policy -------------------------------------------------------------------------

def test_revenue_is_two_years_hourly_with_the_outage_dip(generated):
    d = generated["industrial_ransomware"]
    truth = _truth(d)
    rev = pd.read_csv(d / "financials" / "revenue.csv")
    ts = pd.to_datetime(rev["timestamp"], utc=True)
    assert (ts.diff().dropna() == pd.Timedelta(hours=1)).all()
    out = truth["outages"][0]
    start, end = pd.Timestamp(out["start"]), pd.Timestamp(out["end"])
    assert start - ts.iloc[0] >= pd.Timedelta(days=730) and ts.iloc[-1] - end >= pd.Timedelta(days=14)
    s = rev.set_index(ts)["revenue"]
    inside = s[(s.index >= start.ceil("h")) & (s.index < end.floor("h"))]
    assert (inside == 0).all() and len(inside) > 30
    week = s[s.index.day_of_week < 5].groupby(s[s.index.day_of_week < 5].index.hour).mean()
    assert week.max() > 2 * week.min(), "daily seasonality"


@pytest.mark.parametrize("name", ALL)
def test_policy_and_financials_validate_with_the_adjusters_models(generated, name):
    from adjusters.financials import load_financials
    from adjusters.policy import load_policy

    d = generated[name]
    policy = load_policy(d / "policy.yaml")
    fin = load_financials(d / "financials", policy=policy)
    assert [s.name for s in policy.sections] == list(_truth(d)["expected_coverage"])
    assert len(fin.revenue) >= 730 * 24


def test_expected_payable_recomputed_independently(generated):
    """industrial_ransomware, recomputed here with pandas from the files on disk."""
    d = generated["industrial_ransomware"]
    truth = _truth(d)
    pol = yaml.safe_load((d / "policy.yaml").read_text(encoding="utf-8"))
    prof = yaml.safe_load((d / "financials" / "profile.yaml").read_text(encoding="utf-8"))
    ledger = pd.read_csv(d / "financials" / "ledger.csv")
    liab = yaml.safe_load((d / "financials" / "liability.yaml").read_text(encoding="utf-8"))
    inv = pd.read_csv(d / "financials" / "data_inventory.csv")
    rev = pd.read_csv(d / "financials" / "revenue.csv")
    s = pd.Series(rev["revenue"].values, index=pd.to_datetime(rev["timestamp"], utc=True))
    sec = {x["name"]: x for x in pol["sections"]}

    o = truth["outages"][0]
    hours = pd.date_range(pd.Timestamp(o["start"]).floor("h"), pd.Timestamp(o["end"]).ceil("h"), freq="h", inclusive="left")
    bi = sec["business_interruption"]
    paid = hours[bi["waiting_period"]["hours"]:bi["period_of_restoration_hours"]]
    standard = sum(s.reindex(paid - pd.Timedelta(weeks=k)).values for k in range(1, 5)) / 4
    lost = (standard - s.reindex(paid).values).clip(min=0).sum()
    icow = prof["increased_cost_of_working"]
    gross = {"business_interruption": lost * prof["gross_profit_rate"] * (1 - prof["savings_rate"])
             + min(icow["amount"], icow["turnover_saved_by_it"] * prof["gross_profit_rate"])}
    net = ledger.groupby("category").apply(lambda g: (g["amount"] - g["betterment_amount"]).sum())
    for head in ("data_restoration", "incident_response", "hardware_replacement", "legal_costs", "public_relations"):
        gross[head] = net.get(head, 0.0)
    gross["extortion"] = net["extortion"]  # CN + bitcoin: the ransom itself pays nothing
    personal = inv[inv["personal"] & inv["record_type"].isin(truth["records_affected"])]
    records = sum(truth["records_affected"][t] for t in personal["record_type"])
    gross["privacy_liability"] = records * sec["privacy_liability"]["cost_per_record"]["amount"]
    n = min(liab["notified_individuals"], sec["notification_costs"]["count_limits"]["notified_individuals"])
    gross["notification_costs"] = net["notification_costs"] + n * (liab["notification_cost_per_individual"]
                                                                     + liab["credit_monitoring_cost_per_individual"])
    # retention group first_party_costs (50,000) is eroded by data_restoration, first in section order
    gross["data_restoration"] -= 50_000
    gross["business_interruption"] *= 1 - bi["coinsurance"]
    gross["public_relations"] = min(gross["public_relations"], sec["public_relations"]["sublimit"])
    expected = {h: min(v, sec[h]["limit"]) for h, v in gross.items()}
    for h, v in expected.items():
        assert truth["expected_payable"][h] == pytest.approx(v, rel=1e-6, abs=0.01), h
    assert truth["expected_payable"]["total"] == pytest.approx(sum(expected.values()), abs=0.05)


# ---- against adjusters.adjust() -----------------------------------------------------------------

def storyline_from_truth(truth: dict):
    """The storyline a perfect forensic pass would derive: truth.json's facts, confidently."""
    from forensics.storyline_model import Exfiltration, Fact, Outage, Storyline

    def fact(name, value):
        return Fact(name=name, value=value, confidence=0.95)
    return Storyline(
        case_id=truth["scenario"], t0=fact("t0", truth["t0"]),
        initial_access=fact("initial_access", truth["initial_access"]["vector"]),
        discovery=fact("discovery", truth.get("discovery", truth["t0"])),
        compromised_hosts=fact("compromised_hosts", truth["compromised_hosts"]),
        outages=[Outage(service=o["service"], host=o["host"], start=o["start"], end=o["end"], confidence=0.95,
                        basis="operator error" if truth.get("operator_error") else "traffic gap")
                 for o in truth["outages"]],
        exfiltration=[Exfiltration(destination=f["dst_ip"], bytes=f["payload_bytes"]) for f in truth.get("exfiltration", [])],
        exfiltrated_bytes=truth["exfiltrated_bytes"], records_affected=truth["records_affected"],
        attacker_infrastructure=fact("attacker_infrastructure", truth["attacker_infrastructure"]),
        malicious=fact("malicious", truth.get("malicious", True)),
        operator_error=fact("operator_error", truth.get("operator_error", False)),
        extortion=fact("extortion", truth.get("extortion")) if truth.get("extortion") else None,
        social_engineering=fact("social_engineering", {"fraudulent_transfers": truth["fraudulent_transfers"]})
        if truth.get("fraudulent_transfers") else None,
        attribution=fact("attribution", truth["attribution"]) if truth.get("attribution") else None,
    )


@pytest.mark.parametrize("name", ALL)
def test_adjusters_agree_with_truth_given_a_perfect_storyline(generated, name):
    """Two independent implementations of the adjustment method (adjusters/ and
    scenarios/payable.py) agree: decisions exactly, money within 0.5 %."""
    from adjusters.adjust import adjust
    from adjusters.financials import load_financials
    from adjusters.policy import load_policy

    d = generated[name]
    truth = _truth(d)
    policy = load_policy(d / "policy.yaml")
    result = adjust(storyline_from_truth(truth), policy, load_financials(d / "financials", policy=policy), n_draws=200)
    decisions = {c.section: c.decision.value for c in result.coverage}
    assert decisions == truth["expected_coverage"]
    payable = {ln.head: ln.payable for ln in result.losses if ln.section_decision is not None}
    for head, amount in truth["expected_payable"].items():
        if head == "total":
            continue
        assert payable.get(head, 0.0) == pytest.approx(amount, rel=0.005, abs=0.01), head
    assert result.totals.payable == pytest.approx(truth["expected_payable"]["total"], rel=0.005, abs=0.01)


# ---- CLI ----------------------------------------------------------------------------------------

def test_cli_list_and_generate(tmp_path):
    from typer.testing import CliRunner

    from app.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["scenario", "list", "--json"])
    assert r.exit_code == 0 and [x["name"] for x in json.loads(r.stdout)] == ALL
    r = runner.invoke(app, ["scenario", "generate", "bec_funds_fraud", "--out", str(tmp_path / "b"), "--seed", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["expected_payable"]["funds_transfer_fraud"] == _truth(tmp_path / "b")["expected_payable"]["funds_transfer_fraud"]
    r = runner.invoke(app, ["scenario", "generate", "nope", "--out", str(tmp_path / "n")])
    assert r.exit_code != 0
