from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from app.cli._common import console, print_json, print_table
from case_store import CyberclaimError

ev_app = typer.Typer(no_args_is_help=True, help="Register, list and verify evidence.")


@ev_app.command("add")
def add(case_id: str, paths: List[Path], source: Optional[str] = typer.Option(None, help="Where the evidence came from."),
        acquired_by: Optional[str] = typer.Option(None, help="Who acquired it.")):
    """Register evidence files: hashed while copied into the read-only vault."""
    from case_store import cases  # imported late: keeps `--help` fast
    cases.get_case(case_id)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=console, transient=True) as bar:
        for p in paths:
            if not p.exists():
                raise CyberclaimError(f"{p}: no such file")
            if p.is_dir():
                raise CyberclaimError(f"{p}: is a directory, expected a file")
            task = bar.add_task(p.name, total=p.stat().st_size)
            r = cases.add_evidence(case_id, p, source, acquired_by, progress=lambda n, t=task: bar.advance(t, n))
            e = r.evidence
            note = "already registered (same bytes)" if r.duplicate else "registered"
            print(f"{e.sha256}  {e.evidence_type:<11} {e.size:>12,}  {p.name}  [{note}]", flush=True)


@ev_app.command("list")
def list_(case_id: str, as_json: bool = typer.Option(False, "--json")):
    """List a case's evidence with hashes and types."""
    from case_store import cases  # imported late: keeps `--help` fast
    items = cases.list_evidence(case_id)
    rows = [{"id": e.id, "sha256": e.sha256, "size": e.size, "name": e.original_name, "type": e.evidence_type,
             "source": e.source, "acquired_by": e.acquired_by, "added_at": e.added_at, "added_by": e.added_by,
             "parent_sha256": e.parent_sha256, "derivation": e.derivation} for e in items]
    if as_json:
        print_json(rows)
    else:
        print_table(f"Evidence of {case_id}", ["sha256", "type", "size", "name", "added"],
                    [(r["sha256"], r["type"], f"{r['size']:,}", r["name"], r["added_at"]) for r in rows])


@ev_app.command("verify")
def verify(case_id: str):
    """Re-hash every item; exit non-zero naming each item whose bytes changed or went missing."""
    from case_store import cases  # imported late: keeps `--help` fast
    bad = cases.verify_evidence(case_id)
    total = len(cases.list_evidence(case_id))
    for e, problem in bad:
        console.print(f"[red]FAILED[/red] {e.original_name} {e.sha256}: {problem}")
    if bad:
        raise typer.Exit(1)
    console.print(f"all {total} evidence items verified")


def register(app: typer.Typer) -> None:
    app.add_typer(ev_app, name="evidence")
