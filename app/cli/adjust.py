"""`cyberclaim adjust CASE`: coverage decisions (定责) and the loss schedule (定损)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli._common import console, print_json, print_table


def _fmt(x) -> str:
    return "" if x is None else f"{x:,.2f}"


def adjust_cmd(
    case_id: str = typer.Argument(..., help="Case id."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Policy YAML (default: the case's policy)."),
    financials: Optional[Path] = typer.Option(None, "--financials", help="Financials directory (default: the case's)."),
    storyline: Optional[Path] = typer.Option(None, "--storyline", help="Storyline JSON instead of building it from the case."),
    draws: Optional[int] = typer.Option(None, "--draws", min=1, max=10_000_000, help="Monte Carlo draws (default 100,000)."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine-readable result."),
):
    """Decide coverage per policy section and adjust each head of loss: claimed → adjusted → payable."""
    from adjusters.service import adjust_case, result_dict

    res = adjust_case(case_id, policy, financials, storyline, draws)
    if as_json:
        print_json(result_dict(res))
        return
    print_table(f"Coverage — {res.policy_number} ({res.insured})", ["section", "decision", "reasons"],
                [(c.section, c.decision.value, "\n".join(c.reasons)) for c in res.coverage])
    print_table(f"Loss schedule ({res.currency})", ["head", "decision", "claimed", "adjusted", "payable", "P10", "P50", "P90"],
                [(f"{x.head} {x.head_zh}", x.section_decision or "—", _fmt(x.claimed), _fmt(x.adjusted), _fmt(x.payable),
                  _fmt(x.p10), _fmt(x.p50), _fmt(x.p90)) for x in res.losses])
    t = res.totals
    console.print(f"Total: claimed {_fmt(t.claimed)} → adjusted {_fmt(t.adjusted)} → payable {_fmt(t.payable)} {t.currency}"
                  f"  (P10 {_fmt(t.p10)} / P50 {_fmt(t.p50)} / P90 {_fmt(t.p90)})")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def register(app: typer.Typer) -> None:
    app.command("adjust")(adjust_cmd)
