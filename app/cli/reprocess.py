"""`cyberclaim reprocess`, `cyberclaim runs`, `cyberclaim diff`: batch recomputation and what changed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from app.cli._common import console, print_json, print_table
from case_store import CyberclaimError


def _fmt(x) -> str:
    return "" if x is None else f"{x:,.2f}"


def reprocess_cmd(
    case_ids: List[str] = typer.Argument(None, help="Case ids (or --all)."),
    all_cases: bool = typer.Option(False, "--all", help="Every open case."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Local worker processes (default: all cores)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Verify and plan only: what would be re-ingested."),
    recompute: bool = typer.Option(False, "--recompute", help="Rebuild storyline and adjustment even when no input changed."),
    no_reports: bool = typer.Option(False, "--no-reports", help="Do not re-issue reports when figures change."),
    timezone: Optional[str] = typer.Option(None, help="Ingest option (default: each case's options of its last run)."),
    year: Optional[int] = typer.Option(None, help="Ingest option: year for syslog lines that carry none."),
    symbols: Optional[Path] = typer.Option(None, help="Ingest option: offline volatility3 symbol directory."),
    yara_rules: List[Path] = typer.Option([], "--yara-rules", help="Ingest option: extra YARA rule directory."),
    sigma_rules: List[Path] = typer.Option([], "--sigma-rules", help="Ingest option: extra Sigma rule directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
):
    """Recompute cases after a parser, rule or policy change: only changed work runs; each case gets a run record and a diff."""
    from case_store import cases
    from case_store.reprocess import all_case_ids, reprocess
    from forensics.executors import make_executor

    if all_cases and case_ids:
        raise CyberclaimError("give case ids or --all, not both")
    ids = all_case_ids() if all_cases else list(case_ids or [])
    if not ids:
        raise CyberclaimError("no cases to reprocess: give case ids or --all")
    for cid in ids:
        cases.get_case(cid)  # unknown ids fail before any work starts
    given = {k: v for k, v in {"timezone": timezone, "year": year, "symbols": str(symbols) if symbols else None,
                               "yara_rules": [str(p) for p in yara_rules], "sigma_rules": [str(p) for p in sigma_rules]}.items() if v}
    options = given or None  # none given: every case keeps the options of its last run
    with make_executor(1 if dry_run else workers, None if dry_run else scheduler) as ex, \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=console, transient=True, disable=as_json) as bar:
        overall = bar.add_task(f"{len(ids)} cases on {ex.where}", total=len(ids))
        per_case: dict = {}

        def on_progress(kind: str, info: dict) -> None:
            cid = info.get("case_id") or (info["outcome"].case_id if "outcome" in info else None)
            if kind == "case_start":
                per_case[cid] = bar.add_task(f"  {cid}", total=info["units"] + 1, completed=info["cached"])
            elif kind == "units_added" and cid in per_case:
                bar.update(per_case[cid], total=bar.tasks[per_case[cid]].total + info["units"])
            elif kind == "unit_done" and cid in per_case:
                bar.advance(per_case[cid])
            elif kind == "case_stage" and cid in per_case:
                bar.update(per_case[cid], description=f"  {cid}: {info['stage']}")
            elif kind == "case_done":
                o = info["outcome"]
                if cid in per_case:
                    bar.remove_task(per_case.pop(cid))
                bar.advance(overall)

        summary = reprocess(ids, ex, options, on_progress, dry_run=dry_run, recompute=recompute, reports=not no_reports)
    rows = [{"case": o.case_id, "status": o.status, "run": o.run_id, "units": o.units, "cached": o.cached, "ran": o.ran,
             "payable": o.payable, "result_sha256": o.result_sha256, "seconds": round(o.seconds, 2), "error": o.error, "reports": o.reports,
             "changes": _change_line(o.diff)} for o in summary.outcomes]
    totals = {s: summary.count(s) for s in ("new", "unchanged", "changed", "failed", "planned")}
    if as_json:
        print_json({"cases": rows, "totals": totals, "seconds": round(summary.seconds, 2), "where": summary.where})
    else:
        title = "Reprocess plan (dry run)" if dry_run else "Reprocess"
        cols = ["case", "status", "units", "cached", "to run" if dry_run else "ran"] + ([] if dry_run else ["run", "payable", "what changed"])
        print_table(title, cols, [
            [r["case"], r["status"], r["units"], r["cached"], r["ran"]]
            + ([] if dry_run else [r["run"], _fmt(r["payable"]), r["error"] or r["changes"]]) for r in rows])
        print_table("Summary", ["unchanged", "changed", "new", "failed", "time", "where"],
                    [(totals["unchanged"], totals["changed"], totals["new"], totals["failed"], f"{summary.seconds:.1f} s", summary.where)])
    if totals["failed"]:
        raise typer.Exit(1)


def _change_line(d: dict | None) -> str:
    if not d:
        return ""
    if d.get("first_run"):
        return "first run"
    parts = []
    for c in d.get("coverage", []):
        parts.append(f"{c['section']}: {c['before']} → {c['after']}")
    if "payable" in d.get("totals", {}):
        t = d["totals"]["payable"]
        parts.append(f"payable {_fmt(t['before'])} → {_fmt(t['after'])} ({t['delta']:+,.2f})" if t["delta"] is not None else "payable changed")
    kinds = sorted({c["kind"] + (f" {c.get('ingestor') or c.get('pack') or c.get('parser') or ''}".rstrip()) for c in d.get("causes", [])})
    if kinds:
        parts.append("because: " + ", ".join(kinds))
    return "; ".join(parts) or "no change"


def runs_cmd(case_id: str = typer.Argument(..., help="Case id."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List the processing runs of a case, newest last."""
    from case_store.reprocess import list_runs

    rows = []
    for r in list_runs(case_id):
        res = json.loads(r.result) if r.result else {}
        payable = ((res.get("adjustment") or {}).get("totals") or {}).get("payable")
        diff = json.loads(r.diff) if r.diff else None
        rows.append({"run": r.id, "status": r.status, "started_at": r.started_at, "finished_at": r.finished_at,
                     "result_sha256": r.result_sha256, "payable": payable, "error": r.error,
                     "changed": None if diff is None else diff.get("changed"), "summary": _change_line(diff)})
    if as_json:
        print_json(rows)
        return
    print_table(f"Runs of {case_id}", ["run", "status", "started", "result sha256", "payable", "what changed"],
                [(r["run"], r["status"], r["started_at"], (r["result_sha256"] or "")[:16], _fmt(r["payable"]),
                  r["error"] or r["summary"]) for r in rows])


def diff_cmd(case_id: str = typer.Argument(..., help="Case id."),
             run_a: int = typer.Argument(..., help="Earlier run id."),
             run_b: int = typer.Argument(..., help="Later run id."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """What changed between two runs of a case: decisions, figures (with deltas) and the causes."""
    from case_store.reprocess import diff_stored

    d = diff_stored(case_id, run_a, run_b)
    if as_json:
        print_json(d)
        return
    console.print(f"Run {run_a} → run {run_b}: " + ("[yellow]changed[/yellow]" if d.get("changed") else "no change in the result"))
    if d.get("coverage"):
        print_table("Coverage decisions", ["section", "before", "after"], [(c["section"], c["before"], c["after"]) for c in d["coverage"]])
    figs = [f for f in d.get("figures", []) if f["field"] != "cited_event_ids"]
    if figs or d.get("totals"):
        print_table("Figures", ["head", "field", "before", "after", "delta"],
                    [(f["head"], f["field"], _fmt(f["before"]), _fmt(f["after"]), _fmt(f["delta"])) for f in figs]
                    + [("TOTAL", k, _fmt(v["before"]), _fmt(v["after"]), _fmt(v["delta"])) for k, v in d.get("totals", {}).items()])
    if d.get("storyline"):
        console.print("Storyline facts that changed: " + ", ".join(d["storyline"]))
    if d.get("causes"):
        rows = []
        for c in d["causes"]:
            if c["kind"] == "events":
                rows.append(("events", c.get("parser", ""), c.get("change", ""), f"{c.get('count', '')} event ids"
                             + (f", e.g. {', '.join(c['sample_event_ids'][:3])}" if c.get("sample_event_ids") else c.get("note", ""))))
            else:
                what = c.get("ingestor") or c.get("pack") or c.get("name") or ""
                rows.append((c["kind"], what, "", f"{c.get('before', '')} → {c.get('after', '')}" if "before" in c else c.get("sha256", "")))
        print_table("Causes", ["kind", "what", "change", "detail"], rows)


def register(app: typer.Typer) -> None:
    app.command("reprocess")(reprocess_cmd)
    app.command("runs")(runs_cmd)
    app.command("diff")(diff_cmd)
