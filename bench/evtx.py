"""EVTX ingest and Sigma matching throughput, side by side with bare `evtx` iteration.

    .venv/bin/python -m bench.evtx [--mb 200] [--workers 2] [--rules 200]

The corpus EVTX files are repeated until --mb of input is reached. The ceiling
is bare iteration of the same files with the evtx package (records_json, one
process per file on --workers processes); ingest is our EvtxIngestor plus
writing Parquet event rows, also one process per file. Sigma matching runs the
default pack expanded to --rules variants over all ingested rows.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CORPUS = Path(os.environ.get("CYBERCLAIM_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")


def _bare(path: str) -> int:
    import evtx
    n = 0
    try:
        for _ in evtx.PyEvtxParser(path, number_of_threads=1).records_json():
            n += 1
    except RuntimeError:
        pass
    return n


def _ingest(job: tuple[str, str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forensics.events import EVENT_SCHEMA, Event
    from forensics.ingestors.base import IngestContext
    from forensics.ingestors.evtx import EvtxIngestor
    path, out = job
    rows = []
    n = 0
    w = pq.ParquetWriter(out, EVENT_SCHEMA)
    for e in EvtxIngestor().ingest(IngestContext(Path(path), Path(out).stem, "evtx", Path(path).name)):
        if isinstance(e, Event):
            rows.append(e.to_row())
            n += 1
            if len(rows) >= 20_000:
                w.write_table(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))
                rows = []
    if rows:
        w.write_table(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA))
    w.close()
    return n


def _rule_variants(n: int, dest: Path) -> None:
    """The default pack, then copies with fresh ids and an extra literal, until n rules."""
    from forensics.sigma import DEFAULT_RULES
    docs = []
    for p in sorted(DEFAULT_RULES.glob("*.yml")):
        docs += [d for d in p.read_text().split("\n---\n") if "correlation:" not in d]
    shutil.copytree(DEFAULT_RULES, dest, dirs_exist_ok=True)
    count, i = sum(p.read_text().count("title:") for p in DEFAULT_RULES.glob("*.yml")), 0
    while count < n:
        d = docs[i % len(docs)]
        d = re.sub(r"^id: .*$", f"id: {uuid.UUID(int=i + 1)}", d, flags=re.M)
        d = re.sub(r"^title: (.*)$", rf"title: \1 (variant {i})", d, flags=re.M)
        d = re.sub(r"^name: .*$", "", d, flags=re.M)
        (dest / f"variant_{i:04d}.yml").write_text(d)
        i += 1
        count += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rules", type=int, default=200)
    a = ap.parse_args()
    files = sorted(p for p in (CORPUS / "evtx").glob("*.evtx"))
    jobs, total = [], 0
    while total < a.mb * 1e6:
        for f in files:
            jobs.append(str(f))
            total += f.stat().st_size
    tmp = Path(tempfile.mkdtemp(prefix="bench_evtx_"))
    try:
        print(f"input: {len(jobs)} files, {total / 1e6:.0f} MB, {a.workers} worker processes")
        with ProcessPoolExecutor(a.workers) as ex:
            t = time.perf_counter()
            bare = sum(ex.map(_bare, jobs, chunksize=4))
            tb = time.perf_counter() - t
            t = time.perf_counter()
            ours = sum(ex.map(_ingest, [(j, str(tmp / f"{i:05d}.parquet")) for i, j in enumerate(jobs)], chunksize=4))
            ti = time.perf_counter() - t
        print(f"bare evtx iteration (ceiling): {bare:>10,} records  {tb:7.1f} s  {bare / tb:>10,.0f} records/s")
        print(f"ingest to Parquet event rows : {ours:>10,} records  {ti:7.1f} s  {ours / ti:>10,.0f} records/s"
              f"  = {100 * (ours / ti) / (bare / tb):.0f} % of ceiling (target 50 %)")
        from forensics import sigma
        rules = tmp / "rules"
        _rule_variants(a.rules, rules)
        coll, probs = sigma.load_rules([rules])
        t = time.perf_counter()
        dets = sum(1 for _ in sigma.match(sorted(tmp.glob("*.parquet")), [rules]))
        ts = time.perf_counter() - t
        print(f"sigma: {len(coll.rules)} rules over {ours:,} events: {ts:.1f} s  {ours / ts:,.0f} events/s "
              f"(target 20,000; Hayabusa ~17,000 on 4 cores)  {dets:,} detections")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
