from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

from app.cli._common import console, print_table


def ingest(case_id: str,
           workers: Optional[int] = typer.Option(None, help="Worker processes (default: all cores)."),
           timezone: Optional[str] = typer.Option(None, help="IANA zone for evidence times without one (default UTC)."),
           year: Optional[int] = typer.Option(None, help="Year for syslog lines that carry none."),
           symbols: Optional[Path] = typer.Option(None, envvar="CYBERCLAIM_SYMBOLS", help="Offline volatility3 symbol directory."),
           yara_rules: List[Path] = typer.Option([], "--yara-rules", help="Extra YARA rule directory or tarball."),
           sigma_rules: List[Path] = typer.Option([], "--sigma-rules", help="Extra Sigma rule directory.")):
    """Run every applicable ingestor over every evidence item (cached when nothing changed)."""
    from case_store import cases
    from forensics.pipeline import ingest_case

    cases.get_case(case_id)
    options = {k: v for k, v in {
        "timezone": timezone, "year": year, "symbols": str(symbols) if symbols else None,
        "yara_rules": [str(p) for p in yara_rules], "sigma_rules": [str(p) for p in sigma_rules],
    }.items() if v}
    with Progress(SpinnerColumn(), "[progress.description]{task.description}", TimeElapsedColumn(), console=console, transient=True) as bar:
        tasks: dict = {}

        def on_progress(kind: str, info: dict) -> None:
            u = info.get("unit")
            key = (u.evidence_sha256, u.parser_id, u.locator_prefix) if u else None
            if kind == "start":
                tasks[key] = bar.add_task(f"{u.display_name} · {u.parser_id}", total=1)
            elif kind == "done":
                r = info["result"]
                bar.update(tasks[key], completed=1, description=f"{u.display_name} · {u.parser_id}: {r.events:,} events")

        summary = ingest_case(case_id, options, workers, on_progress)
    rows = []
    for s in summary.values():
        rows.append((s.name, s.sha256[:16], ",".join(sorted(set(s.parsers))), f"{s.events:,}", len(s.errors),
                     "cached" if s.ran == 0 and s.cached else f"{s.ran} run"))
    print_table(f"Ingest of {case_id}", ["evidence", "sha256", "ingestors", "events", "errors", "work"], rows)
    for s in summary.values():
        for e in s.errors[:5]:
            where = f"line {e['line']}" if e.get("line") is not None else f"offset {e['offset']}" if e.get("offset") is not None else ""
            console.print(f"[yellow]{e['file']}[/yellow] {where}: {e['reason']}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
