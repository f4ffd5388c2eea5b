"""Synthetic incident scenarios with a known answer.

`generate(name, out_dir, seed=0, scale=1)` writes a coherent evidence set
(`evidence/`), `policy.yaml`, `financials/` and `truth.json` into `out_dir` and
returns that path. The same name, seed and scale give byte-identical files;
`scale` multiplies background volume (benign traffic, log lines) only."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

# name -> module under scenarios/, in the order the MIIT pilot notice lists the insured situations
SCENARIOS: dict[str, str] = {
    "telecom_ddos_tamper": "scenarios.telecom_ddos_tamper",
    "industrial_ransomware": "scenarios.industrial_ransomware",
    "vehicle_design_theft": "scenarios.vehicle_design_theft",
    "hospital_operator_error": "scenarios.hospital_operator_error",
    "waf_product_failure": "scenarios.waf_product_failure",
    "bec_funds_fraud": "scenarios.bec_funds_fraud",
    "state_wiper_war": "scenarios.state_wiper_war",
}
DEMO = "industrial_ransomware"


def title(name: str) -> str:
    return importlib.import_module(SCENARIOS[name]).TITLE


def generate(name: str, out_dir: str | Path, seed: int = 0, scale: int = 1) -> Path:
    from scenarios.kit import Builder

    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if int(scale) < 1 or int(seed) < 0:
        raise ValueError("scale must be >= 1 and seed >= 0")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "truth.json").exists():
        raise FileExistsError(f"{out} is not empty and is not a generated scenario; refusing to write into it")
    out.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(SCENARIOS[name])
    module.build(Builder(name, out, int(seed), int(scale)))
    return out
