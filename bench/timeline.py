"""Timeline scale: N synthetic events across 500 hosts -> graph, storyline, filtered page queries.

    .venv/bin/python -m bench.timeline [--events 10000000] [--dir /tmp/cc_bench_timeline]

Events are written as pyarrow tables in EventWriter's schema (vectorised, no
Event objects). Prints build times, peak RSS and page-query latency next to the
targets (build <= 120 s, RSS <= 3 GB, p95 <= 300 ms). Reference: Timesketch's
tracker reports server errors at about 3 million events in one timeline.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forensics.events import EVENT_SCHEMA

T0 = 1_772_400_000_000_000
HOSTS = 500
CHUNK = 1_000_000


def write_events(dest: Path, n: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    host_names = np.array([f"WS{i:03d}.corp.local" for i in range(HOSTS)], dtype=object)
    users = np.array([f"CORP\\user{i:03d}" for i in range(2000)], dtype=object)
    kinds = np.array(["windows:evtx:record", "network:flow", "linux:syslog", "windows:sysmon:network"], dtype=object)
    for c, start in enumerate(range(0, n, CHUNK)):
        m = min(CHUNK, n - start)
        idx = np.arange(start, start + m)
        h = rng.integers(0, HOSTS, m)
        kind = rng.integers(0, 4, m)
        ts = T0 + np.sort(rng.integers(0, 30 * 86_400_000_000, m))
        flow = kind == 1
        login = kind == 0
        cols = {f.name: pa.nulls(m, f.type) for f in EVENT_SCHEMA}
        cols.update(
            event_id=pa.array(np.char.add("e", idx.astype("U12")).astype(object)),
            timestamp=pa.array(ts, pa.int64()),
            datetime=pa.array(np.datetime_as_string(ts.astype("datetime64[us]"), unit="us").astype(object) + "Z"),
            timestamp_desc=pa.array(["Event Time"] * m), data_type=pa.array(kinds[kind]), parser=pa.array(["bench@1"] * m),
            message=pa.array(np.char.add("synthetic event ", idx.astype("U12")).astype(object)),
            evidence_sha256=pa.array([f"{c:064x}"] * m), locator=pa.array(np.char.add("row ", idx.astype("U12")).astype(object)),
            host=pa.array(np.where(flow, None, host_names[h])),
            user=pa.array(np.where(login, users[rng.integers(0, 2000, m)], None)),
            src_ip=pa.array(np.where(flow | login, np.char.add("10.1.", (h % 250).astype("U3")).astype(object) + "." + (h // 250 + 1).astype("U3").astype(object), None)),
            dst_ip=pa.array(np.where(flow, np.char.add("93.184.", rng.integers(0, 50, m).astype("U3")).astype(object) + ".1", None)),
            bytes_out=pa.array(np.where(flow, rng.integers(40, 100_000, m), 0), pa.int64()),
            process_pid=pa.array(np.where(kind == 3, rng.integers(100, 5000, m), None), pa.int64()),
            tags=pa.array([["login"] if x else [] for x in login], pa.list_(pa.string())),
            attack=pa.array([[]] * m, pa.list_(pa.string())), severity=pa.array(["info"] * m), attributes=pa.array(["{}"] * m),
        )
        t = pa.table(cols, schema=EVENT_SCHEMA)
        p = dest / f"chunk{c:03d}.parquet"
        pq.write_table(t, p, compression="zstd", row_group_size=100_000)
        files.append(str(p))
    return files


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--dir", default="/tmp/cc_bench_timeline")
    ap.add_argument("--queries", type=int, default=40)
    a = ap.parse_args()
    from case_store.eventstore import EventQuery
    from forensics import graph, timecorrect
    from forensics.storyline import build_storyline

    d = Path(a.dir) / f"n{a.events}"
    t = time.perf_counter()
    files = sorted(str(p) for p in d.glob("*.parquet")) if d.exists() else []
    if not files:
        files = write_events(d, a.events)
    print(f"events: {a.events:,} across {HOSTS} hosts; write {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    con = timecorrect.case_connection(None, files, offsets={})
    g = graph.build_graph(con)
    con.close()
    tg = time.perf_counter() - t
    print(f"graph: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges in {tg:.1f} s")
    t = time.perf_counter()
    build_storyline("bench", files=files, offsets={}, data_inventory=[], case_docs=[])
    ts = time.perf_counter() - t
    print(f"storyline: {ts:.1f} s")
    rng = np.random.default_rng(1)
    lat = []
    for i in range(a.queries):
        h = int(rng.integers(0, HOSTS))
        start = T0 + int(rng.integers(0, 29)) * 86_400_000_000
        q = EventQuery(start_us=start, end_us=start + 86_400_000_000, tag="login" if i % 2 else None, limit=100,
                       offset=int(rng.integers(0, 3)) * 100)
        t = time.perf_counter()
        timecorrect.query(None, q, files=files, offsets={}, host_entity=f"ws{h:03d}")
        lat.append((time.perf_counter() - t) * 1000)
    p50, p95 = np.percentile(lat, [50, 95])
    rss = peak_rss_mb()
    print()
    print(f"{'measure':<28}{'cyberclaim':>14}{'target':>12}{'ratio':>8}")
    for name, val, target in (("graph + storyline build s", tg + ts, 120.0), ("peak RSS MB", rss, 3072.0),
                              ("page query p50 ms", p50, 300.0), ("page query p95 ms", p95, 300.0)):
        print(f"{name:<28}{val:>14.1f}{target:>12.1f}{val / target:>8.2f}")
    print(f"(Timesketch reference: server errors reported at ~3,000,000 events in one timeline; this run: {a.events:,})")


if __name__ == "__main__":
    main()
