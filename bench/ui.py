"""Timeline filter change on a 1,000,000-event case: what the Timeline page computes
per rerun (bucket counts for the chart + one page of rows + the total), against the
naive reference of loading the matching rows into pandas and bucketing them there.

    .venv/bin/python -m bench.ui [N]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _synthetic_case(n: int) -> str:
    from case_store import cases
    from case_store.clock import now_iso
    from case_store.db import session
    from case_store.eventstore import parquet_path
    from case_store.models import IngestResult
    from forensics.events import EVENT_SCHEMA

    c = cases.create_case("bench 1M", "bench")
    sha = "ab" * 32
    with session() as s:
        from case_store.models import Evidence

        s.add(Evidence(case_id=c.id, sha256=sha, size=0, original_name="synthetic", evidence_type="jsonl",
                       added_at=now_iso(), added_by="bench"))
    rng = np.random.default_rng(0)
    ts = np.sort(1_772_000_000_000_000 + rng.integers(0, 30 * 86_400_000_000, n))
    hosts = np.array([f"HOST{i:03d}" for i in range(200)])[rng.integers(0, 200, n)]
    users = np.array([f"user{i:04d}" for i in range(2000)])[rng.integers(0, 2000, n)]
    sev = np.array(["info", "low", "medium", "high"])[rng.choice(4, n, p=[0.9, 0.06, 0.03, 0.01])]
    words = np.array(["logon", "sshd accepted", "process start", "dns query", "http get", "file write"])[rng.integers(0, 6, n)]
    cols = {
        "event_id": [f"{i:032x}" for i in range(n)], "timestamp": ts,
        "datetime": np.char.add(np.datetime_as_string(ts.astype("datetime64[us]"), unit="us"), "Z"),
        "timestamp_desc": ["Event Time"] * n, "data_type": ["bench:event"] * n, "parser": ["bench@1"] * n,
        "message": np.char.add(np.char.add(words, " by "), users), "evidence_sha256": [sha] * n,
        "locator": [f"line={i}" for i in range(n)], "host": hosts, "user": users, "severity": sev,
        "src_ip": np.char.add("10.0.", (rng.integers(0, 255, n)).astype(str)),
        "tags": [[]] * n, "attack": [[]] * n, "attributes": ["{}"] * n,
    }
    arrays = [pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(n, f.type) for f in EVENT_SCHEMA]
    dest = parquet_path(sha, "bench@1")
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA), dest, compression="zstd", row_group_size=100_000)
    with session() as s:
        s.add(IngestResult(evidence_sha256=sha, parser="bench@1", config_hash="", status="ok", events=n, errors="[]",
                           parquet_path=str(dest), created_at=now_iso(), seconds=0))
    return c.id


def main(n: int = 1_000_000) -> None:
    os.environ["CYBERCLAIM_HOME"] = tempfile.mkdtemp(prefix="bench-ui-")
    from case_store import eventstats
    from case_store.eventstore import EventQuery, case_parquet_files, query

    t = time.perf_counter()
    cid = _synthetic_case(n)
    print(f"synthetic case: {n:,} events written in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    query(cid, EventQuery(limit=1))
    print(f"first open (compaction, once per file set): {time.perf_counter() - t:.2f} s")
    filters = [EventQuery(), EventQuery(host="HOST042"), EventQuery(text="sshd"), EventQuery(user="user0007"),
               EventQuery(start_us=1_772_500_000_000_000, end_us=1_772_900_000_000_000, host="HOST001")]
    print(f"{'filter':44} {'matches':>9} {'page':>7} {'ref pandas':>11} {'ratio':>6}")
    import duckdb

    files = case_parquet_files(cid)
    for q in filters:
        t = time.perf_counter()
        eventstats.histogram(cid, q)
        page, total = query(cid, EventQuery(**{**q.__dict__, "limit": 100, "offset": 0}))
        ours = time.perf_counter() - t
        # reference: ship the matching rows to pandas, bucket and page there (what a naive page would do)
        t = time.perf_counter()
        where, params = q.where()
        df = duckdb.connect().execute(f"SELECT * FROM read_parquet({files!r}){where}", params).df()
        df.groupby(df["timestamp"] // 3_600_000_000).size()
        df.sort_values(["timestamp", "event_id"]).head(100)
        ref = time.perf_counter() - t
        label = ", ".join(f"{k}={v}" for k, v in q.__dict__.items() if v not in (None, 100, 0) and k != "columns") or "(none)"
        print(f"{label[:44]:44} {total:>9,} {ours * 1000:>5.0f}ms {ref * 1000:>9.0f}ms {ref / ours:>5.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
