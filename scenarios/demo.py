"""The main job on the built-in sample incident, end to end.

generate the industrial ransomware scenario → case → evidence into the vault →
ingest → storyline → coverage and loss adjustment → Chinese and English
reports. Returns what the CLI prints; no printing here.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

import scenarios


@dataclass
class DemoResult:
    case_id: str
    scenario_dir: Path
    ingest: dict = field(default_factory=dict)
    storyline: dict = field(default_factory=dict)
    adjustment: dict = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)
    truth: dict = field(default_factory=dict)
    steps: list[tuple[str, float]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def run_demo(out_dir: Path, scenario: str = scenarios.DEMO, seed: int = 0,
             step: Callable[[str], None] = lambda s: None) -> DemoResult:
    from case_store import cases

    out_dir = Path(out_dir)
    clock = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        res.steps.append((name, now - clock))
        clock = now

    step(f"generating scenario {scenario}")
    sc_dir = scenarios.generate(scenario, out_dir / "scenario", seed=seed)
    truth = json.loads((sc_dir / "truth.json").read_text(encoding="utf-8"))
    policy = yaml.safe_load((sc_dir / "policy.yaml").read_text(encoding="utf-8"))
    case = cases.create_case(truth.get("title") or scenarios.title(scenario), insured=policy.get("insured"),
                             policy=sc_dir / "policy.yaml", financials=sc_dir / "financials")
    res = DemoResult(case.id, sc_dir, truth=truth)
    mark("generate")

    step("registering evidence in the vault")
    for f in sorted((sc_dir / "evidence").iterdir()):
        cases.add_evidence(case.id, f, source=f"scenario {scenario} seed {seed}", acquired_by="cyberclaim demo")
    mark("register evidence")

    step("ingesting evidence")
    from forensics.pipeline import ingest_case

    summary = ingest_case(case.id)
    res.ingest = {s.name: {"events": s.events, "errors": len(s.errors)} for s in summary.values()}
    mark("ingest")

    step("building the storyline")
    try:
        from forensics.storyline import build_storyline

        res.storyline = build_storyline(case.id).model_dump(mode="json")
    except ImportError:
        res.missing.append("storyline (forensics.storyline)")
    mark("storyline")

    step("adjusting coverage and losses")
    try:
        from adjusters.service import adjust_case, result_dict

        res.adjustment = result_dict(adjust_case(case.id))
    except ImportError:
        res.missing.append("adjusters")
    mark("adjust")

    step("writing reports")
    try:
        from adjusters.report.issue import issue_report

        rep_dir = out_dir / "reports"
        rep_dir.mkdir(parents=True, exist_ok=True)
        for lang in ("zh", "en"):
            for fmt in ("pdf", "docx", "xlsx", "json", "html"):
                res.reports.append(issue_report(case.id, fmt, lang, rep_dir / f"{case.id}-loss-report-{lang}.{fmt}"))
    except ImportError:
        res.missing.append("reports (adjusters.report)")
    mark("reports")
    return res
