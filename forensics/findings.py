"""Findings: the events an analyst reviews first (YARA matches, PE files, Sigma
hits, network and log detections), grouped by kind, counted in DuckDB."""
from __future__ import annotations

import pandas as pd

from case_store.eventstore import EventQuery, query

# kind -> SQL predicate over the events view; first match wins (Sigma hits are `detection` events from sigma@)
KINDS: dict[str, str] = {
    "yara": "data_type = 'yara:match'",
    "pe": "data_type = 'pe:file'",
    "sigma": "data_type = 'detection' AND parser LIKE 'sigma@%'",
    "network": "data_type = 'detection' AND (parser LIKE 'pcap@%' OR parser LIKE 'memory@%')",
    "log": "data_type = 'detection' AND parser NOT LIKE 'sigma@%' AND parser NOT LIKE 'pcap@%' AND parser NOT LIKE 'memory@%'",
}
COLUMNS = ["event_id", "datetime", "severity", "message", "host", "src_ip", "dst_ip", "file_path", "file_sha256",
           "tags", "attack", "parser", "evidence_sha256", "locator", "attributes"]
SEVERITY_ORDER = "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END"


def counts(case_id: str, files: list[str] | None = None) -> dict[str, int]:
    from case_store.eventstore import _shared_connection, case_parquet_files

    con = _shared_connection(tuple(case_parquet_files(case_id) if files is None else files)).cursor()
    try:
        sel = ", ".join(f"count(*) FILTER (WHERE {pred})" for pred in KINDS.values())
        row = con.execute(f"SELECT {sel} FROM events WHERE data_type IN ('yara:match', 'pe:file', 'detection')").fetchone()
        return {k: int(v or 0) for k, v in zip(KINDS, row)}
    finally:
        con.close()


def list_findings(case_id: str, kind: str, limit: int = 500, files: list[str] | None = None) -> pd.DataFrame:
    """Findings of one kind, most severe first, then in time order."""
    from case_store.eventstore import _shared_connection, case_parquet_files

    if kind not in KINDS:
        raise ValueError(f"unknown finding kind {kind!r}")
    con = _shared_connection(tuple(case_parquet_files(case_id) if files is None else files)).cursor()
    try:
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        return con.execute(f"SELECT {cols} FROM events WHERE {KINDS[kind]} "
                           f"ORDER BY {SEVERITY_ORDER}, timestamp, event_id LIMIT {int(limit)}").df()
    finally:
        con.close()


def events_by_id(case_id: str, event_ids: list[str], limit: int = 500) -> pd.DataFrame:
    """The cited events, in time order (what a fact, decision or figure rests on)."""
    if not event_ids:
        return pd.DataFrame(columns=COLUMNS)
    df, _ = query(case_id, EventQuery(event_ids=list(event_ids), limit=limit,
                                      columns=["event_id", "datetime", "data_type", "message", "host", "user",
                                               "evidence_sha256", "locator", "parser"]))
    return df
