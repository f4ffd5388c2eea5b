"""Finds ingestors: the built-ins listed here plus any third-party ones
registered under the `cyberclaim.ingestors` entry-point group."""
from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from forensics.ingestors.base import Ingestor

# module:Class of built-in ingestors; a module that fails to import (a missing
# optional library) is skipped, and `registry_problems()` says why.
BUILTIN = [
    "forensics.ingestors.pcap:PcapIngestor",
    "forensics.ingestors.evtx:EvtxIngestor",
    "forensics.ingestors.winevent_export:WinEventExportIngestor",
    "forensics.ingestors.textlog:TextLogIngestor",
    "forensics.ingestors.tabular:TabularIngestor",
    "forensics.ingestors.memory:MemoryIngestor",
    "forensics.ingestors.pe:PeIngestor",
    "forensics.ingestors.yarascan:YaraIngestor",
    "forensics.ingestors.plaso:PlasoJsonlIngestor",
    "forensics.ingestors.hayabusa:HayabusaIngestor",
]

_problems: list[str] = []


def _load(spec: str) -> type[Ingestor] | None:
    mod, _, cls = spec.partition(":")
    try:
        return getattr(importlib.import_module(mod), cls)
    except ModuleNotFoundError as e:
        if e.name and e.name == mod:  # not written yet
            return None
        _problems.append(f"{spec}: {e}")
    except Exception as e:  # a broken plug-in must not stop the others
        _problems.append(f"{spec}: {e}")
    return None


@lru_cache(maxsize=1)
def all_ingestors() -> tuple[type[Ingestor], ...]:
    found: list[type[Ingestor]] = []
    for spec in BUILTIN:
        c = _load(spec)
        if c is not None:
            found.append(c)
    for ep in entry_points(group="cyberclaim.ingestors"):
        c = _load(ep.value)
        if c is not None:
            found.append(c)
    return tuple(found)


def registry_problems() -> list[str]:
    all_ingestors()
    return list(_problems)


def by_name(name: str) -> type[Ingestor]:
    for c in all_ingestors():
        if c.name == name:
            return c
    raise KeyError(f"no ingestor named {name!r}")


def applicable(head: bytes, path: Path, evidence_type: str) -> list[type[Ingestor]]:
    return [c for c in all_ingestors() if c.detect(head, path, evidence_type)]
