"""`cyberclaim timeline | graph | storyline | evidence-time`: reading a case as a story."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from app.cli._common import console, print_json, print_table
from app.cli.events import parse_time
from case_store import CyberclaimError

FORMATS = ("table", "jsonl", "csv", "timesketch")


def timeline(case_id: str,
             frm: Optional[str] = typer.Option(None, "--from", help="ISO 8601 start (UTC if no offset)."),
             to: Optional[str] = typer.Option(None, "--to", help="ISO 8601 end."),
             host: Optional[str] = typer.Option(None, help="Host name."),
             tag: Optional[str] = typer.Option(None, help="Tag, e.g. login_failed."),
             q: Optional[str] = typer.Option(None, "--q", help="Free text in message or attributes."),
             limit: int = typer.Option(100, help="Rows per page (0: all)."), offset: int = 0,
             fmt: str = typer.Option("table", "--format", help="table | jsonl | csv | timesketch (Timesketch JSONL)."),
             timesketch_csv: bool = typer.Option(False, "--csv-timesketch", help="With --format timesketch: CSV instead of JSONL.")):
    """The case's events in time order, clock corrections applied (original time kept)."""
    from forensics import interchange, timecorrect

    from case_store import cases
    from case_store.eventstore import EventQuery  # noqa: F401  (late: keeps startup fast)
    cases.get_case(case_id)
    if fmt not in FORMATS:
        raise CyberclaimError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    eq = EventQuery(parse_time(frm, "--from"), parse_time(to, "--to"), tag=tag, text=q,
                    limit=limit if limit > 0 else 2**62, offset=offset)
    df, total = timecorrect.query(case_id, eq, host_entity=host)
    if fmt == "timesketch":
        rows = interchange.timesketch_rows(df)
        (interchange.write_csv if timesketch_csv else interchange.write_jsonl)(rows, sys.stdout)
    elif fmt == "jsonl":
        interchange.write_jsonl(({k: (list(v) if hasattr(v, "tolist") else v) for k, v in r.items()}
                                 for r in df.astype(object).where(df.notna(), None).to_dict(orient="records")), sys.stdout)
    elif fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        shown = f"{offset + 1 if len(df) else 0}–{offset + len(df)}"
        print_table(f"{total:,} events (showing {shown})", ["datetime", "type", "host", "message", "event_id"],
                    df[["datetime", "data_type", "host", "message", "event_id"]].itertuples(index=False))


def graph(case_id: str, fmt: str = typer.Option("json", "--format", help="json (node-link) | graphml | dot"),
          out: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout.")):
    """The entity graph (hosts, accounts, processes, IPs, domains, URLs, files, services, rules)."""
    from forensics import graph as g

    from case_store import cases
    from case_store.eventstore import EventQuery  # noqa: F401  (late: keeps startup fast)
    cases.get_case(case_id)
    if fmt not in g.EXPORTERS:
        raise CyberclaimError(f"--format must be one of {', '.join(g.EXPORTERS)}, not {fmt!r}")
    gr = g.case_graph(case_id)
    text = g.export(gr, fmt, out)
    if out is None:
        sys.stdout.write(text)
    else:
        console.print(f"{gr.number_of_nodes():,} nodes, {gr.number_of_edges():,} edges -> {out}")


def storyline(case_id: str, as_json: bool = typer.Option(False, "--json", help="Machine-readable: every fact with value, confidence, cited event ids.")):
    """The incident storyline: T0, access, lateral movement, impact, outages, exfiltration, classification."""
    from forensics.storyline import build_storyline

    from case_store import cases
    from case_store.eventstore import EventQuery  # noqa: F401  (late: keeps startup fast)
    cases.get_case(case_id)
    s = build_storyline(case_id)
    if as_json:
        print_json(s.model_dump(mode="json"))
        return
    rows = []
    for name, val in s:
        facts = val if isinstance(val, list) else [val]
        for f in facts:
            if f is None or not hasattr(f, "model_dump"):
                continue
            d = f.model_dump(mode="json")
            label = d.get("name") or f"{name}: {d.get('service') or d.get('destination')}"
            value = d.get("value", {k: v for k, v in d.items() if k not in ("cited_event_ids", "name")})
            rows.append((label, str(value)[:300], d.get("confidence", ""), len(d.get("cited_event_ids", []))))
    print_table(f"Storyline of {case_id}", ["fact", "value", "confidence", "citations"], rows)
    if s.exfiltrated_bytes:
        console.print(f"exfiltrated: {s.exfiltrated_bytes:,} bytes; records: {s.records_affected}")


def evidence_time(case_id: str, sha256: str = typer.Argument(..., help="Evidence sha256 (a unique prefix will do)."),
                  offset: Optional[str] = typer.Option(None, "--offset", help="Seconds to add to the evidence's times (or [-]h:mm:ss)."),
                  tz: Optional[str] = typer.Option(None, "--tz", help="IANA zone of the evidence's naive times (applied at the next ingest).")):
    """Record a clock offset / timezone correction for one evidence item (logged in custody)."""
    from forensics import timecorrect

    if offset is None and tz is None:
        raise CyberclaimError("give --offset and/or --tz")
    c = timecorrect.set_correction(case_id, sha256, timecorrect.parse_offset(offset) if offset is not None else None, tz)
    console.print(f"{c.evidence_sha256[:16]}…: clock offset {c.offset_us / 1e6:+.6f} s, timezone {c.timezone or 'UTC'}"
                  + ("; run `cyberclaim ingest` to re-read local times in the new zone" if tz else ""))


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline)
    app.command("graph")(graph)
    app.command("storyline")(storyline)
    app.command("evidence-time")(evidence_time)
