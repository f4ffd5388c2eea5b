"""A prepared case for the workbench tests: a generated scenario (policy, financials,
evidence), a few small evidence items ingested for real, and one user per role.

The generated scenario is kept in pytest's cache directory, keyed by the generator's
source: regenerating the whole demo (packet capture and memory image included) is most
of the set-up time, and the same source always generates the same files."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

SUBSET = ("winevents_MES01.jsonl", "gw-mes_syslog.log", "gw-mes_access.log")
PASSWORD = "correct-horse-1"
ROLES = {"ada": "admin", "ana": "analyst", "adj": "adjuster", "law": "lawyer", "out": "analyst"}  # out: no access
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def cache_root(request) -> Path:
    """pytest's cache directory (kept between runs), or the session's temp dir when the cache plugin is off."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("cyberclaim-ui-scenario"))
    return request.getfixturevalue("tmp_path_factory").getbasetemp()


def _generator_key() -> str:
    h = hashlib.sha256()
    for p in sorted(SCENARIOS.rglob("*.py")):
        h.update(p.relative_to(SCENARIOS).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def scenario(root: str | Path) -> Path:
    """The demo scenario's policy, financials and the evidence items the UI tests use."""
    import scenarios

    dest = Path(root) / f"demo-{_generator_key()}"
    if (dest / "policy.yaml").exists():
        return dest
    tmp = Path(root) / f".{dest.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    scenarios.generate(scenarios.DEMO, tmp)
    for f in (tmp / "evidence").iterdir():
        if f.name not in SUBSET:  # keep the cache small: the capture and memory image are not used here
            f.unlink() if f.is_file() else shutil.rmtree(f)
    try:
        os.replace(tmp, dest)
    except OSError:  # another worker got there first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


@contextlib.contextmanager
def quick_hashes():
    """argon2id at its lowest cost while the test users are created: the same scheme, checked the same way
    (verification reads the parameters from the hash), without seconds per user on a busy machine."""
    from argon2 import PasswordHasher

    from case_store import users

    saved = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        yield
    finally:
        users._hasher = saved


def prepare(home: Path, scn: Path) -> str:
    """Populate CYBERCLAIM_HOME=home (must already be set) and return the case id."""
    assert os.environ["CYBERCLAIM_HOME"] == str(home)
    from case_store import cases, users
    from forensics.pipeline import ingest_case

    with quick_hashes():
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
