"""`cyberclaim report CASE --format pdf|docx|xlsx|json|html --lang zh|en -o FILE`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from app.cli._common import print_json, print_table


def report(
    case_id: str = typer.Argument(..., help="Case id."),
    fmt: str = typer.Option("pdf", "--format", "-f", help="pdf | docx | xlsx | json | html"),
    lang: str = typer.Option("zh", "--lang", "-l", help="zh | en"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output file (default: REPORT-NUMBER.LANG.FORMAT here)."),
    list_only: bool = typer.Option(False, "--list", help="List the reports issued for the case instead."),
    as_json: bool = typer.Option(False, "--json", help="With --list: print JSON."),
):
    """Issue the loss adjustment report for a case (refuses if evidence verification fails)."""
    from adjusters.report.issue import issue_report, list_reports, report_number

    if list_only:
        rows = [{"number": r.number, "version": r.version, "format": r.format, "lang": r.lang, "path": r.path,
                 "sha256": r.sha256, "created_at": r.created_at} for r in list_reports(case_id)]
        if as_json:
            print_json(rows)
        else:
            print_table(f"Reports of {case_id}", ["number", "version", "format", "lang", "created", "sha256"],
                        [(r["number"], r["version"], r["format"], r["lang"], r["created_at"], r["sha256"][:16]) for r in rows])
        return
    path = issue_report(case_id, fmt.lower(), lang.lower(), out or Path(f"{report_number(case_id)}.{lang}.{fmt}"))
    print(path)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
