"""Event store: write N synthetic events through the one schema, then query.

    python -m bench.events [--events 1000000]

Targets: write >= 200,000 events/s; a filtered page query < 200 ms; peak RSS < 1 GB.
The reference beside our writer is pyarrow writing the same rows straight from
columns (no per-event record), the ceiling for the file format.
"""
from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench._util import peak_rss_mb


def _columns(n: int) -> dict:
    rng = np.random.default_rng(7)
    ts = 1_767_225_600_000_000 + np.sort(rng.integers(0, 30 * 86400 * 10**6, n))
    hosts = np.array([f"host{i:03d}" for i in range(200)])[rng.integers(0, 200, n)]
    ips = np.array([f"10.{i // 256}.{i % 256}.1" for i in range(1000)])[rng.integers(0, 1000, n)]
    return {"ts": ts, "host": hosts, "ip": ips}


def _write_part(job: tuple[str, str, int, int]) -> str:
    """Build and write events start..end of the synthetic stream (a worker process)."""
    from case_store.eventstore import EventWriter, parquet_path
    from forensics.events import Event

    sha, parser, start, end = job
    cols = _columns(end)
    ts, hosts, ips = cols["ts"].tolist(), cols["host"].tolist(), cols["ip"].tolist()
    w = EventWriter(parquet_path(sha, parser))
    for i in range(start, end):
        w.add(Event(timestamp=ts[i], data_type="linux:auth" if i % 3 else "network:flow",
                    message=f"sshd login attempt {i}", locator=f"line={i}", parser=parser, evidence_sha256=sha,
                    host=hosts[i], user="root" if i % 5 == 0 else "alice", src_ip=ips[i],
                    tags=["brute_force"] if i % 50 == 0 else [], attributes={"i": i}))
    return str(w.commit())


def _write_batches(job: tuple[str, str, int, int]) -> str:
    """The same events built as columns and written through EventWriter.add_batch (bulk ingestors' path)."""
    import pyarrow.compute as pc

    from case_store.eventstore import EventWriter, parquet_path
    from forensics.events import EVENT_SCHEMA, EventBatch

    sha, parser, start, end = job
    cols = _columns(end)
    w = EventWriter(parquet_path(sha, parser))
    step = 50_000
    for a in range(start, end, step):
        b = min(end, a + step)
        i = pa.array(np.arange(a, b))
        istr = pc.cast(i, pa.string())
        n = b - a
        data = {
            "timestamp": pa.array(cols["ts"][a:b]), "timestamp_desc": pa.array(["Event Time"] * n),
            "data_type": pa.array(np.where(np.arange(a, b) % 3 == 0, "network:flow", "linux:auth")),
            "parser": pa.array([parser] * n), "message": pc.binary_join_element_wise("sshd login attempt ", istr, ""),
            "evidence_sha256": pa.array([sha] * n), "locator": pc.binary_join_element_wise("line=", istr, ""),
            "host": pa.array(cols["host"][a:b]), "user": pa.array(np.where(np.arange(a, b) % 5 == 0, "root", "alice")),
            "src_ip": pa.array(cols["ip"][a:b]),
            "tags": pa.array([["brute_force"] if k % 50 == 0 else [] for k in range(a, b)], pa.list_(pa.string())),
            "attack": pa.array([[]] * n, pa.list_(pa.string())), "severity": pa.array(["info"] * n),
            "attributes": pc.binary_join_element_wise('{"i":', istr, "}", ""),
            "discriminator": pa.array([""] * n),
        }
        fields = [f for f in EVENT_SCHEMA if f.name not in ("event_id", "datetime")] + [pa.field("discriminator", pa.string())]
        arrays = [data[f.name].cast(f.type) if f.name in data else pa.nulls(n, f.type) for f in fields]
        w.add_batch(EventBatch(pa.Table.from_arrays(arrays, schema=pa.schema(fields))))
    return str(w.commit())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    n = args.events
    with tempfile.TemporaryDirectory(prefix="bench-events-") as d:
        os.environ["CYBERCLAIM_HOME"] = str(Path(d) / "home")
        os.environ.pop("CYBERCLAIM_DB_URL", None)
        from case_store import cases
        from case_store.clock import now_iso
        from case_store.db import session
        from case_store.eventstore import EventQuery, EventWriter, parquet_path, query
        from case_store.models import IngestResult
        from forensics.events import EVENT_SCHEMA, Event

        cols = _columns(n)
        c = cases.create_case("bench")
        f = Path(d) / "ev.log"
        f.write_text("bench\n")
        sha = cases.add_evidence(c.id, f).evidence.sha256

        # Two evidence items written by two processes, as the ingest pipeline does on 2 cores.
        half = n // 2
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2) as pool:
            paths = list(pool.map(_write_part, [(sha, "bench@1", 0, half), (sha, "bench-b@1", half, n)]))
        write2_s = time.perf_counter() - t
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2) as pool:
            for p in pool.map(_write_batches, [(sha, "bench-cols@1", 0, half), (sha, "bench-cols-b@1", half, n)]):
                os.unlink(p)
        batch_s = time.perf_counter() - t
        t = time.perf_counter()
        one = _write_part((sha, "bench-single@1", 0, half))
        write_s = (time.perf_counter() - t) * n / half
        os.unlink(one)
        with session() as s:
            for parser, path in zip(("bench@1", "bench-b@1"), paths):
                s.add(IngestResult(evidence_sha256=sha, parser=parser, config_hash="", status="ok", events=half,
                                   errors="[]", parquet_path=str(path), created_at=now_iso()))
        path = Path(paths[0])

        t = time.perf_counter()  # reference: the same columns written by pyarrow directly
        table = pa.table({"timestamp": cols["ts"], "host": cols["host"], "src_ip": cols["ip"],
                          "message": [f"sshd login attempt {i}" for i in range(n)]})
        pq.write_table(table, Path(d) / "ref.parquet", compression="zstd")
        ref_s = time.perf_counter() - t

        queries = {
            "host + time window": EventQuery(host="host042", start_us=int(cols["ts"][n // 3]), end_us=int(cols["ts"][n // 2])),
            "tag": EventQuery(tag="brute_force"),
            "ip": EventQuery(ip="10.1.17.1"),
            "free text": EventQuery(text="attempt 99999"),
            "page 100": EventQuery(offset=100 * 100),
        }
        print(f"events: {n:,}   file: {path.stat().st_size / 1e6:.1f} MB")
        print(f"write: {n / write2_s:,.0f} events/s with 2 processes, {n / write_s:,.0f} events/s in one "
              f"(Event records built and written)  vs {n / ref_s:,.0f} rows/s pyarrow from columns (no records): "
              f"ratio {ref_s / write2_s:.2f}")
        print(f"write, columnar EventBatch path (bulk ingestors), 2 processes: {n / batch_s:,.0f} events/s")
        for name, q in queries.items():
            times = []
            for _ in range(5):
                t = time.perf_counter()
                _, total = query(c.id, q)
                times.append(time.perf_counter() - t)
            print(f"query {name:<20} {total:>9,} hits   median {statistics.median(times) * 1000:7.1f} ms   max {max(times) * 1000:7.1f} ms")
        print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
