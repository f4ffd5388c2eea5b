"""What every line parser shares: where a line is, per-file state, address helpers."""
from __future__ import annotations

import ipaddress
import re
from re import _constants as _sre, _parser as _sre_parse
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
    parts = text.split(".")
    if len(parts) == 4 and _OCTET.get(parts[0]) and _OCTET.get(parts[1]) and _OCTET.get(parts[2]) and _OCTET.get(parts[3]):
        return text  # canonical dotted IPv4, the usual case
    t = text.strip("[]()")
    if t.lower().startswith("::ffff:") and "." in t:
        t = t[7:]
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        return None


# "0".."255" without leading zeros: exactly the octets ipaddress prints back unchanged
_OCTET = {str(i): True for i in range(256)}


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


def first_chars(rx: re.Pattern) -> frozenset[str] | None:
    """The characters a match of `rx` can begin with, or None when it could begin with any.

    Lets a long ordered list of patterns be narrowed by the first character of
    the text without changing which pattern matches first.
    """
    if rx.flags & re.IGNORECASE:
        return None
    chars, nullable = _first(list(_sre_parse.parse(rx.pattern)))
    return None if chars is None or nullable else frozenset(chars)


def _first(seq) -> tuple[set[str] | None, bool]:
    out: set[str] = set()
    for op, av in seq:
        if op is _sre.LITERAL:
            return out | {chr(av)}, False
        if op is _sre.IN:
            if not all(o is _sre.LITERAL for o, _ in av):
                return None, False
            return out | {chr(a) for _, a in av}, False
        if op is _sre.AT:
            continue
        if op is _sre.SUBPATTERN:
            chars, nullable = _first(av[3])
        elif op is _sre.BRANCH:
            chars, nullable = set(), False
            for alt in av[1]:
                c, n = _first(alt)
                if c is None:
                    return None, False
                chars |= c
                nullable = nullable or n
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            chars, nullable = _first(av[2])
            nullable = nullable or av[0] == 0
        else:
            return None, False
        if chars is None:
            return None, False
        out |= chars
        if not nullable:
            return out, False
    return out, True


def by_first_char(entries: list[tuple]) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """Index (pattern, ...) entries by the first character a match can have, keeping their order."""
    firsts = [first_chars(e[0]) for e in entries]
    alphabet = set().union(*(f for f in firsts if f))
    index = {c: [e for e, f in zip(entries, firsts) if f is None or c in f] for c in alphabet}
    return index, [e for e, f in zip(entries, firsts) if f is None]
