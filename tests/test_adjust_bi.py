"""Business interruption worked by hand: an online retailer whose outage starts
at its busiest hour (20:00; revenue 1000 at 20:00, 600 at 21:00, 100 otherwise,
the same every day, so the 4-week standard turnover is exactly that pattern)."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from adjusters.adjust import adjust
from adjusters.baseline import seasonal_trend_projection, standard_turnover
from test_adjust_support import T_START, bi_section, policy, story, write_financials

DAY = T_START + timedelta(days=36)  # Tuesday of week 6: four full weeks of history before it
REV_OUT = (DAY + timedelta(hours=20), DAY + timedelta(hours=24))  # revenue is 0 for hours 20, 21, 22, 23
STORY_OUT = (DAY + timedelta(hours=20, minutes=20), DAY + timedelta(hours=23, minutes=40))  # floors/ceils to the same
LOST = 1000 + 600 + 100 + 100  # lost turnover over the 4 loss hours = 1800


def run(tmp_path, sec: dict, profile=None, outage=STORY_OUT, rev_out=REV_OUT):
    pol = policy([bi_section(**sec)])
    fin = write_financials(tmp_path / "fin", outage=rev_out, profile=profile, pol=pol)
    res = adjust(story(outage), pol, fin, n_draws=2000)
    (line,) = [x for x in res.losses if x.head == "business_interruption"]
    return line, res


def test_time_deductible_vs_franchise_at_the_busiest_hour(tmp_path):
    # time deductible of 2 h removes the peak hours 20:00 and 21:00: (100 + 100) × 0.5 = 100
    td, _ = run(tmp_path / "a", {"waiting_period": {"hours": 2, "mode": "time_deductible"}})
    assert td.adjusted == 100.0 and td.payable == 100.0
    assert td.inputs["loss_hours"] == 4 and td.inputs["paid_hours"] == 2
    # franchise of 2 h: the 4-hour outage passes it, so every hour is paid: 1800 × 0.5 = 900
    fr, _ = run(tmp_path / "b", {"waiting_period": {"hours": 2, "mode": "franchise"}})
    assert fr.adjusted == 900.0 and fr.inputs["franchise_met"] is True
    # franchise of 6 h: the 4-hour outage does not reach it: nothing
    fr6, _ = run(tmp_path / "c", {"waiting_period": {"hours": 6, "mode": "franchise"}})
    assert fr6.adjusted == 0.0 and fr6.inputs["franchise_met"] is False
    # no waiting period: everything
    none, _ = run(tmp_path / "d", {})
    assert none.adjusted == LOST * 0.5


def test_hourly_table_and_inputs(tmp_path):
    line, res = run(tmp_path, {"waiting_period": {"hours": 1, "mode": "time_deductible"}})
    rows = line.inputs["hourly"]["rows"]
    assert [r[0][-10:] for r in rows] == ["T20:00:00Z", "T21:00:00Z", "T22:00:00Z", "T23:00:00Z"]
    assert [r[1] for r in rows] == [1000.0, 600.0, 100.0, 100.0]  # standard
    assert [r[2] for r in rows] == [0.0, 0.0, 0.0, 0.0]  # actual
    assert [r[4] for r in rows] == [False, True, True, True]  # paid
    assert line.inputs["standard_turnover_total"] == 1800.0
    assert "ev-outage" in line.cited_event_ids
    assert any(d.startswith("revenue.csv@sha256:") for d in line.cited_documents)
    # the seasonal+trend projection agrees on a perfectly periodic history
    assert line.inputs["projection_check_lost_turnover"] == pytest.approx(1800.0, abs=0.01)


def test_period_of_restoration(tmp_path):
    # P = 3 h keeps hours 20, 21, 22; the 1 h time deductible drops 20: (600 + 100) × 0.5 = 350
    line, _ = run(tmp_path, {"waiting_period": {"hours": 1, "mode": "time_deductible"}, "period_of_restoration_hours": 3})
    assert line.adjusted == 350.0


def test_hours_retention_adds_to_time_deductible(tmp_path):
    # waiting 1 h + retention 1 h = first 2 hours unpaid: (100 + 100) × 0.5
    line, _ = run(tmp_path, {"waiting_period": {"hours": 1, "mode": "time_deductible"}, "retention": {"hours": 1}})
    assert line.adjusted == 100.0


def test_gross_profit_savings_make_up_and_icow(tmp_path):
    # 1800 × (1 − 0.2 make-up) × 0.5 × (1 − 0.1 savings) = 648; ICOW min(300, 500 × 0.5) = 250 → 898
    line, _ = run(tmp_path, {}, profile={"make_up_rate": 0.2, "savings_rate": 0.1,
                                         "increased_cost_of_working": {"amount": 300, "turnover_saved_by_it": 500}})
    assert line.adjusted == pytest.approx(898.0)


def test_net_income_basis(tmp_path):
    # franchise passed: 1800 × 0.1 + 50 × 4 hours = 380
    fr, _ = run(tmp_path / "a", {"bi_basis": "net_income", "waiting_period": {"hours": 2, "mode": "franchise"}})
    assert fr.adjusted == 380.0
    # time deductible 2 h: (100 + 100) × 0.1 + 50 × 2 = 120; extra expense reported, not added
    td, _ = run(tmp_path / "b", {"bi_basis": "net_income", "waiting_period": {"hours": 2, "mode": "time_deductible"}},
                profile={"increased_cost_of_working": {"amount": 300, "turnover_saved_by_it": 500}})
    assert td.adjusted == 120.0 and td.inputs["extra_expense_reported_separately"] == 300


def test_partial_revenue_and_outage_spanning_midnight(tmp_path):
    # outage 22:00 → 02:00 next day, revenue down to a quarter: lost per hour 75 × 4 = 300 → × 0.5 = 150
    out = (DAY + timedelta(hours=22), DAY + timedelta(hours=26))
    pol = policy([bi_section()])

    def rev(t):
        base = {20: 1000.0, 21: 600.0}.get(t.hour, 100.0)
        return base / 4 if out[0] <= t < out[1] else base

    fin = write_financials(tmp_path / "fin", revenue_fn=rev, pol=pol)
    res = adjust(story(out), pol, fin)
    assert res.losses[0].adjusted == 150.0


def test_outage_without_end_is_inferred_from_revenue(tmp_path):
    pol = policy([bi_section()])
    fin = write_financials(tmp_path / "fin", outage=REV_OUT, pol=pol)
    res = adjust(story((STORY_OUT[0], None)), pol, fin, n_draws=500)
    line = res.losses[0]
    assert line.inputs["outage_end_inferred"] is True
    assert line.inputs["loss_hours"] == 4 and line.adjusted == 900.0  # revenue back to normal at 00:00
    assert any("inferred" in n for n in line.notes)


def test_dependent_bi(tmp_path):
    from test_adjust_support import fact
    pol = policy([bi_section(), {"name": "dependent_business_interruption", "triggers": ["dependent_outage"],
                                 "limit": 1e6, "dependent_providers": ["CloudCo"]}])
    fin = write_financials(tmp_path / "fin", outage=REV_OUT, pol=pol)
    s = story(STORY_OUT, dependent_provider=fact("dependent_provider", "cloudco"))
    res = adjust(s, pol, fin)
    cov = {c.section: c.decision.value for c in res.coverage}
    assert cov == {"business_interruption": "not_triggered", "dependent_business_interruption": "triggered"}
    (line,) = res.losses
    assert line.head == "dependent_business_interruption" and line.payable == 900.0


def test_standard_turnover_is_the_four_week_same_hour_mean():
    rev = np.zeros(5 * 168)
    h = 4 * 168 + 20
    rev[[h - 168, h - 336, h - 504, h - 672]] = [1000, 1100, 900, 1200]
    std, used = standard_turnover(rev, np.array([h, 10]))
    assert std[0] == 1050.0 and used.tolist() == [4, 0] and np.isnan(std[1])


def test_projection_follows_trend():
    t = np.arange(20 * 168)
    rev = 100 + 10 * np.sin(2 * np.pi * (t % 168) / 168) + 0.05 * t
    at = np.array([20 * 168 + 5])
    assert seasonal_trend_projection(rev, 20 * 168, at)[0] == pytest.approx(100 + 10 * np.sin(2 * np.pi * 5 / 168) + 0.05 * at[0])


@pytest.mark.parametrize("start_off,end_off", [(-240, -216), (720, 960), (3, 10), (360, None), (503, None), (360, 336)])
def test_outages_at_the_edges_of_the_history_never_raise(tmp_path, start_off, end_off):
    # before the history, past its end, without 4 weeks before, open-ended, at the last hour, end before start
    pol = policy([bi_section(waiting_period={"hours": 3, "mode": "franchise"}, period_of_restoration_hours=5)])
    fin = write_financials(tmp_path / "fin", weeks=3, pol=pol)
    out = (T_START + timedelta(hours=start_off), T_START + timedelta(hours=end_off) if end_off is not None else None)
    res = adjust(story(out), pol, fin, n_draws=50)
    assert all(x.payable >= 0 for x in res.losses) and res.totals.payable >= 0
