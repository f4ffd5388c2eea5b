"""`cyberclaim demo`: the main job on the built-in sample incident (the README's `make demo`)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

from app.cli._common import console, print_table


def _money(x) -> str:
    return "—" if x is None else f"{x:,.2f}"


def demo(out: Path = typer.Option(Path("demo-out"), help="Where the scenario and the reports are written."),
         seed: int = typer.Option(0, help="Scenario seed."),
         ui: bool = typer.Option(True, help="Start the UI on the demo case at the end (NO_UI=1 also turns it off)."),
         port: int = typer.Option(8501, help="UI port.")):
    """Generate the industrial ransomware incident, ingest, adjust and report, then open the UI."""
    from scenarios.demo import run_demo

    if out.exists():
        shutil.rmtree(out)
    res = run_demo(out, seed=seed, step=lambda s: console.print(f"[bold cyan]▶[/bold cyan] {s}"))
    console.print(f"\nCase [bold]{res.case_id}[/bold] · evidence and scenario in {res.scenario_dir}")
    print_table("Ingest", ["evidence", "events", "errors"], [(k, f"{v['events']:,}", v["errors"]) for k, v in res.ingest.items()])
    st, truth = res.storyline, res.truth
    if st:
        t0 = (st.get("t0") or {}).get("value")
        outages = [(o["service"], o["start"], o.get("end"), f"{o.get('duration_hours') or 0:.1f} h") for o in st.get("outages", [])]
        print_table("Storyline (derived) vs truth.json", ["fact", "derived", "truth"], [
            ("T0", t0, truth.get("t0")),
            ("initial access", (st.get("initial_access") or {}).get("value"), (truth.get("initial_access") or {}).get("vector")),
            ("compromised hosts", ", ".join((st.get("compromised_hosts") or {}).get("value") or []), ", ".join(truth.get("compromised_hosts", []))),
            ("exfiltrated bytes", f"{st.get('exfiltrated_bytes', 0):,}", f"{truth.get('exfiltrated_bytes', 0):,}"),
            ("outages", "; ".join(f"{o[0]} {o[1]} → {o[2]}" for o in outages), "; ".join(f"{o['service']} {o['start']} → {o['end']}" for o in truth.get("outages", []))),
        ])
    adj = res.adjustment
    if adj:
        print_table("Coverage (定责)", ["section", "decision", "expected"],
                    [(c["section"], c["decision"], truth.get("expected_coverage", {}).get(c["section"], "")) for c in adj["coverage"]])
        cur = adj["totals"]["currency"]
        exp = truth.get("expected_payable", {})
        print_table(f"Loss (定损), {cur}", ["head", "claimed", "adjusted", "payable", "P10–P90", "expected"],
                    [(l["head"], _money(l["claimed"]), _money(l["adjusted"]), _money(l["payable"]),
                      f"{_money(l.get('p10'))} – {_money(l.get('p90'))}", _money(exp.get(l["head"]))) for l in adj["losses"]])
        t = adj["totals"]
        console.print(f"[bold]Total: claimed {cur} {_money(t['claimed'])} → adjusted {_money(t['adjusted'])} → "
                      f"recommended payable {cur} {_money(t['payable'])}[/bold]   (expected {_money(exp.get('total'))})")
    if res.reports:
        console.print("Reports:")
        for p in res.reports:
            console.print(f"  {p}")
    for m in res.missing:
        console.print(f"[yellow]not built yet:[/yellow] {m}")
    console.print("Timings: " + ", ".join(f"{n} {s:.1f}s" for n, s in res.steps))
    if ui and os.environ.get("NO_UI", "") not in ("1", "true", "yes"):
        from app.cli.ui import ui as start_ui

        # the demo case on this machine only: single-user mode, bound to loopback
        start_ui(port=port, host="127.0.0.1", case=res.case_id, single_user=True, lang="zh", max_upload_mb=4096)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
