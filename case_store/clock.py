"""Wall-clock and actor for custody entries (the only non-deterministic inputs)."""
from __future__ import annotations

import getpass
from functools import lru_cache
import os
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

# The signed-in user of a UI session: one server process serves many users, so
# the actor cannot come from the process environment alone.
_acting: ContextVar[str | None] = ContextVar("cyberclaim_actor", default=None)


def set_acting(username: str | None) -> None:
    """Custody entries made from now on in this thread/context are by `username`."""
    _acting.set(username)


@contextmanager
def acting_as(username: str):
    token = _acting.set(username)
    try:
        yield
    finally:
        _acting.reset(token)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def current_actor() -> str:
    if _acting.get():
        return _acting.get()
    if os.environ.get("CYBERCLAIM_USER"):
        return os.environ["CYBERCLAIM_USER"]
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


@lru_cache(maxsize=1)
def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cyberclaim {version('cyberclaim')}"
    except PackageNotFoundError:
        return "cyberclaim dev"
