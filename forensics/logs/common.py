"""What every line parser shares: where a line is, per-file state, address helpers."""
from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from forensics.logs.timeparse import Clock


@dataclass(slots=True)
class Where:
    """Provenance of one line: a lawyer goes from here to the exact bytes."""

    number: int
    offset: int
    encoding: str = "utf-8"

    @property
    def locator(self) -> str:
        return f"line={self.number};off={self.offset}"


class BoundedMap(OrderedDict):
    """A dict that forgets its oldest keys past `limit` (per-connection memory must not grow with the file)."""

    def __init__(self, limit: int = 65536):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        if len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class FileState:
    """Per-file parse state: the clock, the W3C header in force, sshd connection memory."""

    clock: Clock
    options: dict[str, Any] = field(default_factory=dict)
    w3c_fields: list[str] | None = None
    w3c_software: str = ""
    w3c_local_time: bool = False
    # (host, pid) -> remote address learnt from an earlier sshd line of the same connection
    ssh_peer: BoundedMap = field(default_factory=BoundedMap)
    # (host, pid) -> "failure" | "probe": a failure seen before its address was known
    ssh_pending: BoundedMap = field(default_factory=BoundedMap)


@lru_cache(maxsize=65536)  # addresses repeat: a brute force is the same few thousand over and over
def clean_ip(text: str | None) -> str | None:
    """A canonical IP address, or None when `text` is not one (a hostname, '-')."""
    if not text:
        return None
    t = text.strip("[]()")
    if t.lower().startswith("::ffff:") and "." in t:
        t = t[7:]
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        return None


def to_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def peer(text: str | None) -> tuple[str | None, str | None]:
    """(src_ip, domain) for a remote-host field that may be an address or a name."""
    ip = clean_ip(text)
    if ip:
        return ip, None
    if text and text not in ("-", "?", "UNKNOWN"):
        return None, text
    return None, None
