"""A prepared case for the workbench tests: a generated scenario (policy, financials,
evidence), a few small evidence items ingested for real, and one user per role."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

SUBSET = ("winevents_MES01.jsonl", "gw-mes_syslog.log", "gw-mes_access.log")
PASSWORD = "correct-horse-1"
ROLES = {"ada": "admin", "ana": "analyst", "adj": "adjuster", "law": "lawyer", "out": "analyst"}  # out: no access


@lru_cache(maxsize=2)
def scenario(base: str) -> Path:
    import scenarios

    return scenarios.generate(scenarios.DEMO, Path(base) / "scenario")


def prepare(home: Path, scn: Path) -> str:
    """Populate CYBERCLAIM_HOME=home (must already be set) and return the case id."""
    assert os.environ["CYBERCLAIM_HOME"] == str(home)
    from case_store import cases, users
    from forensics.pipeline import ingest_case

    for name, role in ROLES.items():
        users.add_user(name, role, PASSWORD)
    c = users.create_case(users.get_user("ana"), "Line 3 ransomware", "HDPM Manufacturing",
                          scn / "policy.yaml", None)
    cases.set_inputs(c.id, financials=scn / "financials")
    for n in ("adj", "law"):
        users.grant(n, c.id)
    for n in SUBSET:
        cases.add_evidence(c.id, scn / "evidence" / n)
    ingest_case(c.id, workers=1)
    return c.id
