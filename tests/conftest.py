"""Shared fixtures. Tests that need the corpus or a system service skip on a
user's machine that lacks it, but fail (never skip) when CI=true."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, why: str) -> None:
    """Skip when a prerequisite is missing, except under CI where that is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI=true but prerequisite missing: {why}")
        pytest.skip(why)


def corpus_dir() -> Path:
    return Path(os.environ.get("CYBERCLAIM_CORPUS") or ROOT.parent / "shared" / "corpus")


@pytest.fixture(scope="session")
def corpus() -> Path:
    d = corpus_dir()
    need(d.is_dir(), f"evidence corpus not found at {d}")
    return d


def need_tool(name: str) -> str:
    p = shutil.which(name)
    need(p is not None, f"{name} not installed")
    return p  # type: ignore[return-value]


@pytest.fixture()
def cc_home(tmp_path, monkeypatch) -> Path:
    """A private CYBERCLAIM_HOME (and SQLite database) for one test."""
    home = tmp_path / "cchome"
    monkeypatch.setenv("CYBERCLAIM_HOME", str(home))
    if not os.environ.get("CYBERCLAIM_TEST_KEEP_DB_URL"):
        monkeypatch.delenv("CYBERCLAIM_DB_URL", raising=False)
    monkeypatch.setenv("CYBERCLAIM_USER", "tester")
    return home


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, cc_home, monkeypatch) -> str:
    """Runs a test once on SQLite and once on a real PostgreSQL server (a fresh database each time)."""
    if request.param == "postgresql":
        import uuid

        import sqlalchemy as sa

        base = os.environ.get("CYBERCLAIM_TEST_PG_URL")
        need(bool(base), "no PostgreSQL test server (CYBERCLAIM_TEST_PG_URL; `make test` starts one)")
        name = "t_" + uuid.uuid4().hex[:12]
        eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        monkeypatch.setenv("CYBERCLAIM_DB_URL", base.rsplit("/", 1)[0] + "/" + name)
    return request.param


def run_cli(*args: str, env: dict | None = None, check: bool = False, **kw):
    """Runs the real `cyberclaim` console script in a subprocess."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "cyberclaim"
    full_env = dict(os.environ, **(env or {}))
    r = subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"cyberclaim {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def damaged_copy(src: Path, cut: int, mutations, dest: Path) -> Path:
    """The first `cut` bytes of `src` with the (offset, byte) `mutations` that fall inside, written to `dest`."""
    data = bytearray(src.read_bytes()[:cut])
    for off, val in mutations:
        if off < len(data):
            data[off] = val
    dest.write_bytes(bytes(data))
    return dest
