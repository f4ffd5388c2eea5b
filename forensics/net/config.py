"""Thresholds as configuration (thresholds.yaml), with per-run overrides."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

_PATH = Path(__file__).with_name("thresholds.yaml")


@lru_cache(maxsize=1)
def _defaults() -> dict:
    with open(_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load(overrides: dict | None = None) -> dict:
    cfg = copy.deepcopy(_defaults())
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
    return cfg
