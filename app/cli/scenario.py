"""`cyberclaim scenario`: list and generate synthetic incidents with a known answer."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from app.cli._common import print_json, print_table
from case_store import CyberclaimError

scenario_app = typer.Typer(no_args_is_help=True, help="Synthetic incident scenarios with a known answer (truth.json).")


@scenario_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")):
    """List the scenarios that can be generated."""
    import scenarios

    rows = [{"name": n, "title": scenarios.title(n), "demo": n == scenarios.DEMO} for n in scenarios.SCENARIOS]
    if as_json:
        print_json(rows)
    else:
        print_table("Scenarios", ["name", "title"], [(r["name"] + (" (demo)" if r["demo"] else ""), r["title"]) for r in rows])


@scenario_app.command("generate")
def generate(name: str = typer.Argument(..., help="Scenario name (see `cyberclaim scenario list`)."),
             out: Path = typer.Option(..., "--out", help="Output directory (created; must be empty or a previous scenario)."),
             seed: int = typer.Option(0, "--seed", help="Seed: same name, seed and scale give byte-identical files."),
             scale: int = typer.Option(1, "--scale", help="Multiply background volume (benign traffic, log lines)."),
             as_json: bool = typer.Option(False, "--json", help="Print the truth.json summary as JSON.")):
    """Write evidence/, policy.yaml, financials/ and truth.json for one scenario."""
    import scenarios

    if name not in scenarios.SCENARIOS:
        raise CyberclaimError(f"unknown scenario {name!r}; choose one of: {', '.join(scenarios.SCENARIOS)}")
    if scale < 1 or seed < 0:
        raise CyberclaimError("--scale must be at least 1 and --seed must not be negative")
    try:
        path = scenarios.generate(name, out, seed=seed, scale=scale)
    except FileExistsError as e:
        raise CyberclaimError(str(e)) from None
    truth = json.loads((path / "truth.json").read_text(encoding="utf-8"))
    summary = {"scenario": name, "out": str(path), "evidence": [e["file"] for e in truth["evidence"]],
               "t0": truth["t0"], "expected_coverage": truth["expected_coverage"],
               "expected_payable": truth["expected_payable"]}
    if as_json:
        print_json(summary)
    else:
        print(f"{name} written to {path}")
        print_table("Evidence", ["file", "kind"], [(e["file"], e["kind"]) for e in truth["evidence"]])
        print_table("Expected (truth.json)", ["section", "decision", "payable"],
                    [(k, v, f"{truth['expected_payable'].get(k, 0):,.2f}") for k, v in truth["expected_coverage"].items()]
                    + [("total", "", f"{truth['expected_payable']['total']:,.2f}")])


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")
