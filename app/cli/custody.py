from __future__ import annotations

import json

import typer

from app.cli._common import console, print_json, print_table

cu_app = typer.Typer(no_args_is_help=True, help="Chain of custody.")


@cu_app.command("show")
def show(case_id: str, as_json: bool = typer.Option(False, "--json")):
    """Print the custody log."""
    from case_store import cases, custody  # noqa: F401  (imported late: keeps `--help` fast)
    from case_store.db import session  # noqa: F401
    cases.get_case(case_id)
    with session() as s:
        es = custody.entries(s, case_id)
    if as_json:
        print_json([{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "evidence_sha256": e.evidence_sha256,
                     "tool_version": e.tool_version, "details": json.loads(e.details), "entry_hash": e.entry_hash} for e in es])
    else:
        print_table(f"Custody of {case_id}", ["#", "at", "actor", "action", "evidence", "details"],
                    [(e.seq, e.at, e.actor, e.action, (e.evidence_sha256 or "")[:16], e.details[:80]) for e in es])


@cu_app.command("verify")
def verify(case_id: str):
    """Check the hash chain; exit non-zero naming each edited, deleted, inserted or reordered entry."""
    from case_store import cases, custody  # noqa: F401  (imported late: keeps `--help` fast)
    from case_store.db import session  # noqa: F401
    cases.get_case(case_id)
    with session() as s:
        es = custody.entries(s, case_id)
    problems = custody.verify_entries(es)
    for p in problems:
        console.print(f"[red]BROKEN[/red] {p}")
    if problems:
        raise typer.Exit(1)
    console.print(f"custody chain intact ({len(es)} entries)")


def register(app: typer.Typer) -> None:
    app.add_typer(cu_app, name="custody")
