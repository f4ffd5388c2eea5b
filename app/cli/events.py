from __future__ import annotations

import sys
from datetime import datetime
from typing import Optional

import typer

from app.cli._common import console, print_table
from case_store import CyberclaimError


def parse_time(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    from forensics.events import to_us

    try:
        return to_us(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise CyberclaimError(f"{flag}: {value!r} is not an ISO 8601 time (e.g. 2026-03-01T02:00:00Z)") from None


def events(case_id: str,
           frm: Optional[str] = typer.Option(None, "--from", help="ISO 8601 start (UTC if no offset)."),
           to: Optional[str] = typer.Option(None, "--to", help="ISO 8601 end."),
           host: Optional[str] = None, user: Optional[str] = None, ip: Optional[str] = None,
           tag: Optional[str] = None, type_: Optional[str] = typer.Option(None, "--type", help="data_type (prefix with *)."),
           q: Optional[str] = typer.Option(None, "--q", help="Free text in message or attributes."),
           limit: int = 50, offset: int = 0,
           fmt: str = typer.Option("table", "--format", help="table | jsonl | csv")):
    """Query the case's normalized events."""
    from case_store import cases
    from case_store.eventstore import EventQuery, query

    cases.get_case(case_id)
    if fmt not in ("table", "jsonl", "csv"):
        raise CyberclaimError(f"--format must be table, jsonl or csv, not {fmt!r}")
    eq = EventQuery(parse_time(frm, "--from"), parse_time(to, "--to"), host, user, ip, tag, type_, q, limit=limit, offset=offset)
    df, total = query(case_id, eq)
    if fmt == "jsonl":
        sys.stdout.write(df.to_json(orient="records", lines=True, force_ascii=False))
        if len(df):
            sys.stdout.write("\n")
    elif fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        print_table(f"{total:,} events (showing {offset + 1 if len(df) else 0}–{offset + len(df)})",
                    ["datetime", "type", "host", "message", "event_id"],
                    df[["datetime", "data_type", "host", "message", "event_id"]].itertuples(index=False))


def register(app: typer.Typer) -> None:
    app.command("events")(events)
