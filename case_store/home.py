"""Where state lives: everything under CYBERCLAIM_HOME (default ~/.cyberclaim)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def home() -> Path:
    p = _resolved(os.environ.get("CYBERCLAIM_HOME") or str(Path.home() / ".cyberclaim"))
    if not os.path.isdir(p):  # a stat, not a failing mkdir: every vault and event path asks
        p.mkdir(parents=True, exist_ok=True)
    return p


@lru_cache(maxsize=16)
def _resolved(raw: str) -> Path:
    """realpath walks every component: once per distinct setting, not once per vault or event path."""
    return Path(raw).expanduser().resolve()


def vault_dir() -> Path:
    return home() / "vault"


def derived_dir() -> Path:
    """Decompressed or carved copies used for analysis; the originals stay in the vault."""
    return home() / "derived"


def events_dir() -> Path:
    return home() / "events"


def case_dir(case_id: str) -> Path:
    return home() / "cases" / case_id


def db_url() -> str:
    return os.environ.get("CYBERCLAIM_DB_URL") or f"sqlite:///{home() / 'cyberclaim.db'}"
