"""Coverage decisions (定责): triggers, period and retroactive date per trigger
basis, each exclusion, weak evidence → needs review; with reasons and citations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adjusters.coverage import decide_coverage
from adjusters.heads import Decision
from test_adjust_support import T_START, fact, iso, policy, section, story, write_financials

T0 = T_START + timedelta(days=30)  # 2026-02-04, inside the 2026 policy year
OUT = (T0 + timedelta(hours=2), T0 + timedelta(hours=8))
BI = section("business_interruption", ["security_failure", "system_failure"])


def decide(s, pol, fin=None):
    return {c.section: c for c in decide_coverage(s, pol, fin)}


def test_security_failure_triggers_with_citations():
    c = decide(story(OUT), policy([BI]))["business_interruption"]
    assert c.decision == Decision.triggered
    assert {"ev-malicious", "ev-t0", "ev-discovery"} <= set(c.cited_event_ids)
    assert any("within the policy period" in r for r in c.reasons) and any("/" in r for r in c.reasons)  # en / zh
    assert c.cited_documents == ["policy T-1 sections[0] business_interruption"]


def test_operator_error_is_a_system_failure():
    s = story(OUT, malicious=False, operator_error=fact("operator_error", True))
    c = decide(s, policy([BI]))["business_interruption"]
    assert c.decision == Decision.triggered and any("operator error" in r for r in c.reasons)
    only_security = section("business_interruption", ["security_failure"])
    assert decide(s, policy([only_security]))["business_interruption"].decision == Decision.not_triggered


def test_no_outage_bi_triggered_but_says_no_loss():
    c = decide(story(t0=T0), policy([BI]))["business_interruption"]
    assert c.decision == Decision.triggered and any("no interruption loss" in r for r in c.reasons)


@pytest.mark.parametrize("basis,t0,disc,expected", [
    ("discovery", "2025-12-20T00:00:00Z", "2026-01-10T00:00:00Z", "triggered"),  # started before, discovered in period
    ("occurrence", "2025-12-20T00:00:00Z", "2026-01-10T00:00:00Z", "not_triggered"),  # occurred before the period
    ("occurrence", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", "triggered"),
    ("discovery", "2024-12-20T00:00:00Z", "2026-01-10T00:00:00Z", "not_triggered"),  # before the retroactive date
    ("discovery", "2026-12-30T00:00:00Z", "2027-01-02T00:00:00Z", "not_triggered"),  # discovered after expiry
    ("claims_made_and_reported", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "triggered"),
])
def test_trigger_basis_period_and_retroactive_date(basis, t0, disc, expected):
    s = story(t0=datetime.fromisoformat(t0), discovery=datetime.fromisoformat(disc))
    pol = policy([section("incident_response", ["security_failure"])], trigger_basis=basis)
    assert decide(s, pol)["incident_response"].decision.value == expected


def test_policy_period_in_local_timezone():
    # the period starts 2026-01-01 00:00 in Shanghai = 2025-12-31T16:00Z; discovery at 17:00Z is inside
    pol = policy([section("incident_response", ["security_failure"])], timezone="Asia/Shanghai",
                 period={"start": "2026-01-01T00:00:00", "end": "2027-01-01T00:00:00"})
    s = story(t0=datetime(2025, 12, 31, 16, 30, tzinfo=timezone.utc), discovery=datetime(2025, 12, 31, 17, tzinfo=timezone.utc))
    assert decide(s, pol)["incident_response"].decision == Decision.triggered


WAR = {"code": "war", "wording": "LMA5567A", "attribution_basis": "government_of_state_where_system_located",
       "major_detrimental_impact": True}


@pytest.mark.parametrize("attr,conf,expected", [
    ({"state_actor": True, "actor": "APT-X", "basis": "government of the state where the system is located",
      "major_detrimental_impact": True}, 0.9, "excluded"),
    ({"state_actor": True, "actor": "APT-X", "basis": "government attribution", "major_detrimental_impact": False},
     0.9, "triggered"),  # no major detrimental impact: the LMA5567A limb does not bite
    ({"state_actor": True, "actor": "APT-X", "basis": "vendor blog", "major_detrimental_impact": True}, 0.9,
     "needs_review"),  # no attribution the policy accepts
    ({"state_actor": True, "basis": "government attribution", "major_detrimental_impact": True}, 0.3, "needs_review"),
    ({"state_actor": False}, 0.9, "triggered"),
])
def test_war_exclusion(attr, conf, expected):
    s = story(OUT, attribution=fact("attribution", attr, conf))
    c = decide(s, policy([BI], exclusions=[WAR]))["business_interruption"]
    assert c.decision.value == expected
    if expected == "excluded":
        assert "ev-attribution" in c.cited_event_ids
        assert "policy T-1 exclusions[0] war" in c.cited_documents and "“LMA5567A”" in c.reasons


@pytest.mark.parametrize("code,flag", [
    ("infrastructure_outage", "infrastructure_outage"), ("unencrypted_portable_devices", "unencrypted_portable_device"),
    ("insider_dishonesty", "insider_dishonesty"), ("bodily_injury", "bodily_injury"),
    ("prior_known_circumstances", "known_before_inception"),
])
def test_flag_exclusions(code, flag):
    pol = policy([BI], exclusions=[{"code": code, "wording": code}])
    assert decide(story(OUT), pol)["business_interruption"].decision == Decision.triggered
    s = story(OUT, facts=[fact(flag, True)])
    c = decide(s, pol)["business_interruption"]
    assert c.decision == Decision.excluded and f"ev-{flag}" in c.cited_event_ids
    # the same fact without the exclusion in the policy does not exclude
    assert decide(s, policy([BI]))["business_interruption"].decision == Decision.triggered


@pytest.mark.parametrize("conf,expected", [(0.5, Decision.needs_review), (0.3, Decision.needs_review),
                                           (0.51, Decision.excluded)])
def test_suspected_exclusion_goes_to_review(conf, expected):
    """An exclusion is the insurer's to establish: a flag at review confidence is a suspicion, not a finding."""
    pol = policy([BI], exclusions=[{"code": "insider_dishonesty", "wording": "insider"}])
    c = decide(story(OUT, facts=[fact("insider_dishonesty", {"suspected": True}, conf)]), pol)["business_interruption"]
    assert c.decision == expected and "ev-insider_dishonesty" in c.cited_event_ids
    if expected == Decision.needs_review:
        assert any("suspected" in r and "adjuster must decide" in r for r in c.reasons), c.reasons


def test_prior_known_when_discovered_before_inception():
    pol = policy([section("incident_response", ["security_failure"])], trigger_basis="occurrence",
                 exclusions=[{"code": "prior_known_circumstances"}])
    s = story(t0=datetime(2025, 12, 1, tzinfo=timezone.utc), discovery=datetime(2025, 12, 2, tzinfo=timezone.utc))
    # occurrence basis: outside the period already
    assert decide(s, pol)["incident_response"].decision == Decision.not_triggered
    pol_d = policy([section("incident_response", ["security_failure"])], trigger_basis="claims_made_and_reported",
                   exclusions=[{"code": "prior_known_circumstances"}])
    fin_claim = type("F", (), {"claim": type("C", (), {"reported": datetime(2026, 2, 1, tzinfo=timezone.utc)})(),
                               "liability": None, "inventory": [], "ransom": None})()
    assert decide(s, pol_d, fin_claim)["incident_response"].decision == Decision.excluded


def test_infrastructure_outage_from_outage_basis():
    from forensics.storyline_model import Outage
    s = story(t0=T0, outages=[Outage(service="shop", start=iso(OUT[0]), end=iso(OUT[1]), basis="power failure at the DC",
                                     cited_event_ids=["ev-pwr"])])
    c = decide(s, policy([BI], exclusions=[{"code": "infrastructure_outage"}]))["business_interruption"]
    assert c.decision == Decision.excluded and "ev-pwr" in c.cited_event_ids


def test_weak_evidence_needs_review():
    s = story(OUT).model_copy(update={"malicious": fact("malicious", True, conf=0.2)})
    assert decide(s, policy([BI]))["business_interruption"].decision == Decision.needs_review


def test_privacy_event_from_exfiltration_and_inventory(tmp_path):
    from forensics.storyline_model import Exfiltration
    pol = policy([section("privacy_liability", ["privacy_event"],
                          cost_per_record={"amount": 10, "source": "s", "year": 2024})])
    fin = write_financials(tmp_path, inventory=[("crm", "db1", "customer", 4000, "true"), ("crm", "db1", "sku", 90, "false")],
                           pol=pol)
    s = story(t0=T0, exfiltration=[Exfiltration(destination="203.0.113.9", bytes=10**8, source_systems=["crm"],
                                                cited_event_ids=["ev-exfil"])])
    c = decide(s, pol, fin)["privacy_liability"]
    assert c.decision == Decision.triggered and "ev-exfil" in c.cited_event_ids
    assert any("4,000 personal records" in r for r in c.reasons)
    assert decide(story(t0=T0), pol, fin)["privacy_liability"].decision == Decision.not_triggered
