from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli._common import print_json, print_table

case_app = typer.Typer(no_args_is_help=True, help="Create, list and show cases.")


def _case_dict(c) -> dict:
    return {"id": c.id, "title": c.title, "insured": c.insured, "status": c.status, "created_at": c.created_at,
            "created_by": c.created_by, "policy": c.policy_path, "policy_sha256": c.policy_sha256, "financials": c.financials_path}


@case_app.command("new")
def new(title: str, insured: Optional[str] = typer.Option(None, help="Name of the insured."),
        policy: Optional[Path] = typer.Option(None, help="Policy YAML."),
        financials: Optional[Path] = typer.Option(None, help="Directory of financial inputs."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON object with the case id.")):
    """Create a case and print its id."""
    from case_store import cases  # imported late: keeps `--help` fast
    c = cases.create_case(title, insured, policy, financials)
    print_json({"id": c.id}) if as_json else print(c.id)


@case_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json")):
    """List cases."""
    from case_store import cases  # imported late: keeps `--help` fast
    cs = cases.list_cases()
    if as_json:
        print_json([_case_dict(c) for c in cs])
    else:
        print_table("Cases", ["id", "title", "insured", "status", "created"], [(c.id, c.title, c.insured, c.status, c.created_at) for c in cs])


@case_app.command("show")
def show(case_id: str, as_json: bool = typer.Option(False, "--json")):
    """Show one case with its evidence count."""
    from case_store import cases  # imported late: keeps `--help` fast
    c = cases.get_case(case_id)
    d = _case_dict(c) | {"evidence": len(cases.list_evidence(case_id))}
    if as_json:
        print_json(d)
    else:
        print_table(f"Case {c.id}", ["field", "value"], d.items())


@case_app.command("status")
def status(case_id: str, new_status: str = typer.Argument(..., help="open | on_hold | closed")):
    """Set a case's status (recorded in the chain of custody)."""
    from case_store import cases  # imported late: keeps `--help` fast

    c = cases.set_status(case_id, new_status)
    print(f"{case_id}: {getattr(c, 'status', new_status)}")


def register(app: typer.Typer) -> None:
    app.add_typer(case_app, name="case")
