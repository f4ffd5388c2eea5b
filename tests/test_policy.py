"""Policy and financials validation: every error names the field and the line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from adjusters.financials import FinancialsError, load_financials
from adjusters.policy import PolicyError, json_schema, load_policy, parse_policy
from test_adjust_support import policy, write_financials, bi_section

ROOT = Path(__file__).resolve().parent.parent
POLICIES = sorted((ROOT / "adjusters" / "policies").glob("*.yaml"))
EXAMPLE = (ROOT / "adjusters" / "policies" / "enterprise_telecom_internet.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def problems(text: str):
    with pytest.raises(PolicyError) as ei:
        parse_policy(text)
    return ei.value.problems


def test_every_product_type_has_a_valid_example():
    types = {load_policy(p).product_type.split(":")[0] for p in POLICIES}
    assert types >= {"telecom_internet", "industrial_internet", "connected_vehicles", "other_sector",
                     "security_product", "security_service", "it_product"}
    kinds = {load_policy(p).product_type for p in POLICIES if "security_product" in p.name}
    assert kinds == {f"security_product:{k}" for k in ("anti_ddos", "dlp", "anti_ransomware", "edr", "waf")}


def test_json_schema_in_docs_is_current():
    on_disk = json.loads((ROOT / "docs" / "policy.schema.json").read_text(encoding="utf-8"))
    assert on_disk == json_schema(), "regenerate: python -m adjusters.policy --schema > docs/policy.schema.json"


@pytest.mark.parametrize("old,new,field,needle", [
    ("    sublimit: 200000", "    sublimt: 200000", "sections[3].sublimt", "sublimt"),
    ("currency: CNY", "currency: RMB", "currency", "currency: RMB"),
    ("mode: time_deductible", "mode: deductible", "sections[0].waiting_period.mode", "mode: deductible"),
    ("retention: {amount: 20000}", "retention: {amount: -5}", "sections[4].retention.amount", "amount: -5"),
    ("coinsurance: 0.1", "coinsurance: 1.5", "sections[0].coinsurance", "coinsurance: 1.5"),
    ("trigger_basis: discovery", "trigger_basis: sometimes", "trigger_basis", "trigger_basis"),
    ("timezone: Asia/Shanghai", "timezone: Asia/Beijing", "timezone", "timezone"),
    ("    triggers: [extortion_threat]", "    triggers: [ransom]", "sections[4].triggers[0]", "triggers: [ransom]"),
    ("  - {code: bodily_injury,", "  - {code: bodily_harm,", "exclusions[4].code", "bodily_harm"),
])
def test_errors_name_field_and_line(old, new, field, needle):
    assert old in EXAMPLE
    text = EXAMPLE.replace(old, new, 1)
    (f, line, msg), *_ = problems(text)
    assert f == field and line == line_of(text, needle), (f, line, msg)


def test_cross_field_rules_point_at_their_section():
    text = EXAMPLE.replace("retention: {amount: 20000}", "retention: {hours: 5}")
    (f, line, msg), = problems(text)
    assert f == "sections[4]" and "hours applies only to business interruption" in msg
    assert line == line_of(text, "- name: extortion")
    (f, _, msg), = problems(EXAMPLE.replace("sublimit: 200000", "sublimit: 900000"))
    assert "exceeds the section limit" in msg
    (f, _, msg), = problems(EXAMPLE.replace("application_order: [retention, coinsurance, sublimit, limit, aggregate]",
                                            "application_order: [aggregate, retention, coinsurance, sublimit, limit]"))
    assert f == "application_order" and "last" in msg
    # sections sharing a retention group must state the same retention
    (f, _, msg), = problems(EXAMPLE.replace("retention: {amount: 50000}\n    retention_group: first_party\n  - name: data",
                                            "retention: {amount: 60000}\n    retention_group: first_party\n  - name: data"))
    assert "different retentions" in msg


def test_missing_field_and_yaml_syntax():
    text = EXAMPLE.replace("aggregate_limit: 10000000\n", "")
    assert ("aggregate_limit", line_of(text, "policy_number"), "Field required") in problems(text)
    (f, line, _), = problems(EXAMPLE.replace("bi_basis: gross_profit", "bi_basis: [gross_profit"))
    assert f == "(yaml)" and line is not None
    with pytest.raises(Exception, match="no such policy file"):
        load_policy("/nonexistent/policy.yaml")


# --- financials -----------------------------------------------------------------


@pytest.fixture()
def fin_dir(tmp_path):
    pol = policy([bi_section()])
    write_financials(tmp_path / "fin", weeks=2, ledger=[("I1", "IR", "incident_response", 100)], pol=pol)
    return tmp_path / "fin", pol


def _edit_revenue(d: Path, fn):
    lines = (d / "revenue.csv").read_text().splitlines()
    fn(lines)
    (d / "revenue.csv").write_text("\n".join(lines) + "\n")


def fin_problems(d, pol):
    with pytest.raises(FinancialsError) as ei:
        load_financials(d, pol)
    return ei.value.problems


def test_financials_load_and_cite(fin_dir):
    d, pol = fin_dir
    fin = load_financials(d, pol)
    assert fin.granularity == "hourly" and len(fin.revenue) == 2 * 168
    assert set(fin.documents) == {"revenue.csv", "profile.yaml", "ledger.csv"}


@pytest.mark.parametrize("edit,line,field,text", [
    (lambda L: L.__setitem__(10, L[10].split(",")[0] + ",-5"), 11, "revenue", "negative revenue"),
    (lambda L: L.insert(31, L[30]), 32, "timestamp", "duplicate period"),
    (lambda L: L.__delitem__(slice(20, 23)), 21, "timestamp", "gap: 3 hour(s) missing"),
    (lambda L: L.__setitem__(50, L[50].replace(":00:00Z", ":30:00Z")), 51, "timestamp", "grid"),
    (lambda L: L.__setitem__(7, L[7].replace("Z,", ",")), 8, "timestamp", "no UTC offset"),
    (lambda L: L.__setitem__(9, "yesterday,5"), 10, "timestamp", "not an ISO 8601"),
])
def test_revenue_errors(fin_dir, edit, line, field, text):
    d, pol = fin_dir
    _edit_revenue(d, edit)
    probs = fin_problems(d, pol)
    assert any(f == "revenue.csv" and ln == line and fld == field and text in m for f, ln, fld, m in probs), probs


def test_ledger_and_profile_errors(fin_dir):
    d, pol = fin_dir
    with open(d / "ledger.csv", "a") as fh:
        fh.write("I2,X,incident_response,5,RMB,2026-02-01,,\n")  # line 3: unknown currency
        fh.write("I3,X,incident_response,5,CNY,2024-06-01,,\n")  # line 4: before the retroactive date
        fh.write("I4,X,incident_response,5,CNY,2026-02-01,,9\n")  # line 5: betterment above the amount
        fh.write("I5,X,party,5,CNY,2026-02-01,,\n")  # line 6: not a head
    (d / "profile.yaml").write_text("currency: CNY\ngross_profit_rate: 1.4\n")
    probs = {(f, ln, fld) for f, ln, fld, _ in fin_problems(d, pol)}
    assert {("ledger.csv", 3, "currency"), ("ledger.csv", 4, "date"), ("ledger.csv", 6, "category"),
            ("profile.yaml", 2, "gross_profit_rate")} <= probs
    assert any(f == "ledger.csv" and ln == 5 for f, ln, _ in probs)  # betterment above the amount (a row rule)


def test_unknown_currency_and_daily_revenue(tmp_path):
    pol = policy([bi_section()])
    d = tmp_path / "fin"
    write_financials(d, weeks=1, pol=pol)
    (d / "profile.yaml").write_text("currency: CYN\ngross_profit_rate: 0.3\n")
    assert any(fld == "currency" and "unknown currency" in m for _, _, fld, m in fin_problems(d, pol))
    (d / "profile.yaml").write_text("currency: CNY\ngross_profit_rate: 0.3\n")
    (d / "revenue.csv").write_text("timestamp,revenue\n" + "".join(
        f"2026-02-{day:02d}T00:00:00+08:00,{2400 * day}\n" for day in range(1, 11)))
    fin = load_financials(d, pol)
    assert fin.granularity == "daily" and len(fin.revenue) == 240 and fin.revenue[0] == 100.0
    assert any("daily" in n for n in fin.notes)
    (d / "revenue.csv").write_text("timestamp,revenue\n2020-01-01T00:00:00Z,1\n2020-01-01T01:00:00Z,1\n")
    assert any("outside the policy period" in m for *_, m in fin_problems(d, pol))
