"""Every other head of loss, and the policy terms, worked by hand."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from adjusters.adjust import adjust
from adjusters.limits import apply_terms
from test_adjust_support import T_START, fact, policy, section, story, write_financials

T0 = T_START + timedelta(days=30)


def lines(res):
    return {x.head: x for x in res.losses}


def test_cost_heads_and_betterment(tmp_path):
    secs = [section("incident_response", ["security_failure"]), section("hardware_replacement", ["security_failure"]),
            section("legal_costs", ["security_failure"])]
    ledger = [("I1", "IR firm", "incident_response", 120000), ("I2", "IR firm", "incident_response", 30000),
              ("H1", "HW vendor", "hardware_replacement", 80000, "2026-02-21", 20000),
              ("L1", "Law firm", "legal_costs", 45000.5)]
    pol = policy(secs)
    res = adjust(story(t0=T0), pol, write_financials(tmp_path / "a", ledger=ledger, pol=pol))
    L = lines(res)
    assert L["incident_response"].adjusted == 150000.0
    assert L["hardware_replacement"].adjusted == 60000.0  # 80,000 − 20,000 betterment
    assert L["hardware_replacement"].inputs["betterment_removed"] == 20000.0
    assert L["legal_costs"].payable == 45000.5
    pol2 = policy(secs, hardware_improvement_covered=True)
    res2 = adjust(story(t0=T0), pol2, write_financials(tmp_path / "b", ledger=ledger, pol=pol2))
    assert lines(res2)["hardware_replacement"].adjusted == 80000.0


RANSOM = {"demand_amount": 2, "demand_currency": "BTC", "demand_value_in_policy_currency": 500000,
          "payment_method": "bitcoin", "wallet": "bc1qxyz", "paid": True, "paid_value_in_policy_currency": 500000}


@pytest.mark.parametrize("jur,method,expected", [("CN", "bitcoin", 40000.0), ("US", "bitcoin", 540000.0),
                                                 ("CN", "bank_transfer", 540000.0)])
def test_extortion_virtual_currency_rule(tmp_path, jur, method, expected):
    pol = policy([section("extortion", ["extortion_threat"])], jurisdiction=jur,
                 exclusions=[{"code": "virtual_currency_payment", "wording": "银发〔2021〕237号"}])
    r = dict(RANSOM, payment_method=method, demand_currency="BTC" if method == "bitcoin" else "CNY")
    fin = write_financials(tmp_path, ransom=r, ledger=[("N1", "Negotiator", "extortion", 40000)], pol=pol)
    s = story(t0=T0, extortion=fact("extortion", {"demand": 2, "currency": "BTC", "payment_method": method}))
    res = adjust(s, pol, fin)
    (cov,) = res.coverage
    assert cov.decision.value == "triggered"  # the section stays triggered; only the ransom part goes
    assert lines(res)["extortion"].payable == expected
    if expected == 40000.0:
        assert any("237" in r for r in cov.reasons)
        assert lines(res)["extortion"].inputs["virtual_currency_ransom_excluded"] is True


def test_funds_transfer_fraud(tmp_path):
    pol = policy([section("funds_transfer_fraud", ["social_engineering_fraud"])])
    fraud = {"transfers": [
        {"date": "2026-02-10", "amount": 300000, "currency": "CNY", "beneficiary": "X Ltd", "beneficiary_account": "1",
         "recovered_amount": 50000},
        {"date": "2026-02-11", "amount": 200000, "currency": "CNY", "beneficiary": "X Ltd", "beneficiary_account": "1"}]}
    s = story(t0=T0, social_engineering=fact("social_engineering", {"fraudulent_transfers": 2}))
    res = adjust(s, pol, write_financials(tmp_path, fraud=fraud, pol=pol))
    assert lines(res)["funds_transfer_fraud"].payable == 450000.0
    # no social engineering in the storyline → not triggered → pays 0
    res2 = adjust(story(t0=T0), pol, write_financials(tmp_path / "b", fraud=fraud, pol=pol))
    assert res2.coverage[0].decision.value == "not_triggered" and lines(res2)["funds_transfer_fraud"].payable == 0.0


def test_privacy_notification_settlements_fines(tmp_path):
    cpr = {"amount": 35, "source": "IBM/Ponemon Cost of a Data Breach", "year": 2024}
    secs = [section("privacy_liability", ["privacy_event"], cost_per_record=cpr),
            section("notification_costs", ["privacy_event"], count_limits={"notified_individuals": 100000}),
            section("network_security_liability", ["privacy_event", "security_failure"]),
            section("regulatory_fines", ["privacy_event"])]
    liab = {"notified_individuals": 150000, "notification_cost_per_individual": 2,
            "credit_monitoring_cost_per_individual": 8, "settlements": [{"party": "A", "amount": 100000},
                                                                        {"party": "B", "amount": 25000}],
            "fines": [{"regulator": "CAC", "law": "PIPL", "amount": 2000000}]}
    inv = [("crm", "db01", "customer", 10000, "true"), ("iot", "gw1", "telemetry", 99999, "false")]
    s = story(t0=T0, records_affected={"customer": 10000, "telemetry": 5000})
    for jur, fines_payable, fines_decision in (("CN", 0.0, "excluded"), ("US", 2000000.0, "triggered")):
        pol = policy(secs, jurisdiction=jur, exclusions=[{"code": "uninsurable_fines"}])
        fin = write_financials(tmp_path / jur, liability=liab, inventory=inv,
                               ledger=[("NC1", "Mailer", "notification_costs", 20000)], pol=pol)
        res = adjust(s, pol, fin)
        L = lines(res)
        # 10,000 personal records × 35 (telemetry is not personal data)
        assert L["privacy_liability"].adjusted == 350000.0
        assert L["privacy_liability"].inputs["cost_per_record_source"].startswith("IBM")
        assert L["privacy_liability"].inputs["non_personal_dropped"] == {"telemetry": 5000}
        # 20,000 ledger + min(150,000, 100,000) × (2 + 8)
        assert L["notification_costs"].adjusted == 1020000.0
        assert L["network_security_liability"].adjusted == 125000.0
        cov = {c.section: c.decision.value for c in res.coverage}
        assert cov["regulatory_fines"] == fines_decision
        assert L["regulatory_fines"].payable == min(fines_payable, 10_000_000)
        assert L["regulatory_fines"].inputs["fines"][0]["tier"] == "PIPL Art. 66 tier 2 (serious)"


def test_claimed_adjusted_payable_and_uncovered_heads(tmp_path):
    pol = policy([section("incident_response", ["security_failure"], retention={"amount": 10000})])
    fin = write_financials(tmp_path, ledger=[("I1", "IR", "incident_response", 50000), ("P1", "PR", "public_relations", 8000)],
                           claim={"claimed": {"incident_response": 60000, "public_relations": 8000}}, pol=pol)
    res = adjust(story(t0=T0), pol, fin)
    L = lines(res)
    assert (L["incident_response"].claimed, L["incident_response"].adjusted, L["incident_response"].payable) == (60000, 50000, 40000)
    assert L["public_relations"].payable == 0.0 and L["public_relations"].section_decision is None
    assert res.totals.claimed == 68000 and res.totals.adjusted == 58000 and res.totals.payable == 40000


# --- policy terms -----------------------------------------------------------------

def _terms(sections, order=None, aggregate=1e9):
    kw = {"aggregate_limit": aggregate}
    if order:
        kw["application_order"] = order
    return policy(sections, **kw)


def test_retention_once_per_group_in_section_order():
    pol = _terms([section("business_interruption", ["security_failure"], retention={"amount": 1200}, retention_group="fp"),
                  section("incident_response", ["security_failure"], retention={"amount": 1200}, retention_group="fp"),
                  section("legal_costs", ["security_failure"], retention={"amount": 100})])
    pay = apply_terms(pol, np.array([[1000.0, 500.0, 500.0]]), np.array([True, True, True]))
    # group retention 1200: BI absorbs 1000, IR the remaining 200; legal its own 100
    assert pay.tolist() == [[0.0, 300.0, 400.0]]


def test_application_order_matters():
    sec = [section("incident_response", ["security_failure"], retention={"amount": 100}, coinsurance=0.2)]
    default = apply_terms(_terms(sec), np.array([[1000.0]]), np.array([True]))
    coins_first = apply_terms(_terms(sec, ["coinsurance", "retention", "sublimit", "limit", "aggregate"]),
                              np.array([[1000.0]]), np.array([True]))
    assert default[0, 0] == pytest.approx(720.0)  # (1000 − 100) × 0.8
    assert coins_first[0, 0] == pytest.approx(700.0)  # 1000 × 0.8 − 100


def test_sublimit_limit_aggregate():
    pol = _terms([section("incident_response", ["security_failure"], limit=5000, sublimit=3000),
                  section("legal_costs", ["security_failure"], limit=5000),
                  section("public_relations", ["security_failure"], limit=5000)], aggregate=7000)
    pay = apply_terms(pol, np.array([[4000.0, 6000.0, 2000.0]]), np.array([True, True, True]))
    # 3000 (sublimit), 4000 (limit 5000 but only 4000 left of the aggregate), 0 (aggregate used up)
    assert pay.tolist() == [[3000.0, 4000.0, 0.0]]
    not_covered = apply_terms(pol, np.array([[4000.0, 6000.0, 2000.0]]), np.array([True, False, True]))
    assert not_covered.tolist() == [[3000.0, 0.0, 2000.0]]


def test_monte_carlo_range_and_determinism(tmp_path):
    from test_adjust_bi import REV_OUT, STORY_OUT
    from test_adjust_support import bi_section
    pol = policy([bi_section()])
    fin = write_financials(tmp_path, outage=REV_OUT, profile={"ranges": {"gross_profit_rate": [0.3, 0.7]}}, pol=pol)
    a = adjust(story(STORY_OUT), pol, fin, n_draws=20000)
    b = adjust(story(STORY_OUT), pol, fin, n_draws=20000)
    assert a.to_json() == b.to_json()
    bi = a.losses[0]
    # symmetric triangular 0.3..0.7 with mode 0.5: P50 ≈ 1800 × 0.5; P10 = 1800 × (0.3 + 0.4·√0.2 / √2 …) — check order and spread
    assert bi.p10 < bi.p50 < bi.p90
    assert bi.p50 == pytest.approx(900.0, rel=0.01)
    assert bi.p10 == pytest.approx(1800 * (0.3 + np.sqrt(0.1 * 0.4 * 0.2)), rel=0.01)  # triangular inverse CDF at 0.1
    assert a.totals.p50 == pytest.approx(900.0, rel=0.01)
    assert a.monte_carlo["draws"] == 20000


def test_data_restoration_by_volume_and_rate_until_invoiced(tmp_path):
    pol = policy([section("data_restoration", ["security_failure"])])
    d = tmp_path / "fin"
    write_financials(d, pol=pol)
    (d / "restoration.csv").write_text("system,volume,unit,rate\nMES,1200,GB,150\nfile shares,800,GB,90.5\n")
    from adjusters.financials import load_financials
    res = adjust(story(t0=T0), pol, load_financials(d, pol))
    # 1200 × 150 + 800 × 90.5 = 180,000 + 72,400
    assert lines(res)["data_restoration"].payable == 252400.0
    # once invoiced, the invoices are the measure
    res2 = adjust(story(t0=T0), pol, write_financials(d, ledger=[("D1", "Restorer", "data_restoration", 240000)], pol=pol))
    assert lines(res2)["data_restoration"].payable == 240000.0
