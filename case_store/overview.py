"""Read-only summaries of a case for the workbench: ingest results per evidence item."""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import select

from case_store.db import session
from case_store.models import Evidence, IngestResult


def ingest_results(case_id: str) -> pd.DataFrame:
    """One row per stored parse of the case's evidence: item, parser, status, events, errors."""
    with session() as s:
        rows = s.execute(
            select(Evidence.original_name, Evidence.sha256, IngestResult.parser, IngestResult.status,
                   IngestResult.events, IngestResult.errors, IngestResult.created_at, IngestResult.seconds)
            .join(IngestResult, IngestResult.evidence_sha256 == Evidence.sha256)
            .where(Evidence.case_id == case_id).order_by(Evidence.id, IngestResult.id)).all()
    return pd.DataFrame([{"evidence": n, "sha256": sha, "parser": p, "status": st, "events": ev,
                          "errors": len(json.loads(err or "[]")), "at": at, "seconds": round(sec or 0, 2)}
                         for n, sha, p, st, ev, err, at, sec in rows],
                        columns=["evidence", "sha256", "parser", "status", "events", "errors", "at", "seconds"])


def ingest_errors(case_id: str) -> pd.DataFrame:
    """Every stored ingest error of the case: file, offset, line, reason, parser."""
    with session() as s:
        rows = s.execute(
            select(IngestResult.parser, IngestResult.errors, Evidence.original_name)
            .join(Evidence, IngestResult.evidence_sha256 == Evidence.sha256)
            .where(Evidence.case_id == case_id).order_by(Evidence.id, IngestResult.id)).all()
    out = []
    for parser, errors, name in rows:
        for e in json.loads(errors or "[]"):
            out.append({"file": e.get("file") or name, "offset": e.get("offset"), "line": e.get("line"),
                        "reason": e.get("reason"), "parser": parser})
    return pd.DataFrame(out, columns=["file", "offset", "line", "reason", "parser"])
