"""Wall-clock and actor for custody entries (the only non-deterministic inputs)."""
from __future__ import annotations

import getpass
import os
from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def current_actor() -> str:
    if os.environ.get("CYBERCLAIM_USER"):
        return os.environ["CYBERCLAIM_USER"]
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cyberclaim {version('cyberclaim')}"
    except PackageNotFoundError:
        return "cyberclaim dev"
