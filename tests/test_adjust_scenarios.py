"""The adjusters against the scenario generator's known answers: a Storyline
built directly from each scenario's truth.json facts (not from ingestion — that
is the integration test), the generated policy.yaml and financials/ through the
real loaders; expected_coverage exactly, expected_payable within 0.5 %."""
from __future__ import annotations

import json

import pytest

scenarios = pytest.importorskip("scenarios")

from adjusters.adjust import adjust  # noqa: E402
from adjusters.financials import load_financials  # noqa: E402
from adjusters.policy import load_policy  # noqa: E402
from adjusters.truth_storyline import storyline_from_truth  # noqa: E402

NAMES = sorted(getattr(scenarios, "SCENARIOS", {}))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenarios")
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = scenarios.generate(name, root / name, seed=0, scale=1)
        return cache[name]
    return get


@pytest.mark.parametrize("name", NAMES)
def test_scenario_matches_truth(generated, name):
    d = generated(name)
    truth = json.loads((d / "truth.json").read_text(encoding="utf-8"))
    pol = load_policy(d / "policy.yaml")
    fin = load_financials(d / "financials", pol)
    res = adjust(storyline_from_truth(truth), pol, fin, n_draws=2000)
    assert {c.section: c.decision.value for c in res.coverage} == truth["expected_coverage"]
    payable = {x.head: x.payable for x in res.losses}
    for head, expected in truth["expected_payable"].items():
        got = res.totals.payable if head == "total" else payable.get(head, 0.0)
        assert got == pytest.approx(expected, rel=0.005, abs=0.01), head
    # every payable head cites something a lawyer can follow
    for x in res.losses:
        if x.payable > 0:
            assert x.cited_documents, x.head
