"""Batch reprocessing: wall time with 1 and 2 workers, and a no-change reprocess against the full one.

    python -m bench.reprocess [--cases 40] [--scenario telecom_ddos_tamper] [--home DIR]

Cases are generated scenarios (distinct seeds, so every case has its own
evidence bytes and nothing is shared through the vault). Each measurement runs
in a fresh CYBERCLAIM_HOME (tmpfs when available, like a production database
on a fast disk: SQLite fsyncs would otherwise dominate the driver's share).
Targets: 2-worker speed-up >= 1.7; no-change reprocess <= 5 % of the full one.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def _fresh_home(base: str | None) -> Path:
    d = Path(tempfile.mkdtemp(prefix="cc-bench-reprocess-", dir=base))
    os.environ["CYBERCLAIM_HOME"] = str(d)
    os.environ.pop("CYBERCLAIM_DB_URL", None)
    return d


def _register(sources: list[Path]) -> list[str]:
    from case_store import cases

    ids = []
    for i, src in enumerate(sources):
        c = cases.create_case(f"bench case {i}", policy=src / "policy.yaml", financials=src / "financials")
        for p in sorted((src / "evidence").iterdir()):
            cases.add_evidence(c.id, p)
        ids.append(c.id)
    return ids


def _batch(ids: list[str], workers: int):
    from case_store.reprocess import reprocess
    from forensics.executors import make_executor

    t0 = time.perf_counter()
    with make_executor(workers) as ex:
        s = reprocess(ids, ex)
    return time.perf_counter() - t0, s


def _normalised(summary) -> list[str]:
    """Result hashes with the case id (the only thing that differs between the two homes) taken out."""
    import hashlib

    from case_store.db import session
    from case_store.models import Run

    out = []
    for o in summary.outcomes:
        with session() as s:
            r = s.get(Run, o.run_id)
        out.append(hashlib.sha256(r.result.replace(o.case_id, "CASE").encode()).hexdigest() if r and r.result else "")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--scenario", default="telecom_ddos_tamper")
    ap.add_argument("--home", default="/dev/shm" if os.path.isdir("/dev/shm") else None, help="where temporary homes go")
    args = ap.parse_args()

    import scenarios

    work = Path(tempfile.mkdtemp(prefix="cc-bench-scenarios-"))
    t0 = time.perf_counter()
    sources = [scenarios.generate(args.scenario, work / f"s{i}", seed=i, scale=1) for i in range(args.cases)]
    gen = time.perf_counter() - t0
    size = sum(p.stat().st_size for s in sources for p in (s / "evidence").iterdir())
    print(f"{args.cases} cases of {args.scenario} (seeds 0..{args.cases - 1}), {size / 1e6:.1f} MB evidence; generated in {gen:.1f} s")

    results = {}
    homes = []
    try:
        for workers in (1, 2):
            homes.append(_fresh_home(args.home))
            ids = _register(sources)
            wall, s = _batch(ids, workers)
            bad = [o for o in s.outcomes if o.status == "failed"]
            results[workers] = (wall, s, ids, _normalised(s))
            print(f"full reprocess, {workers} worker(s): {wall:8.1f} s  ({s.count('new')} new, {len(bad)} failed)"
                  + (f"  first failure: {bad[0].error}" if bad else ""))
        wall_nc, s_nc = _batch(results[2][2], 2)  # same home as the 2-worker run: nothing changed
        print(f"no-change reprocess, 2 workers: {wall_nc:8.1f} s  ({s_nc.count('unchanged')} unchanged, "
              f"{sum(o.ran for o in s_nc.outcomes)} units ran)")
        same = results[1][3] == results[2][3]
        speedup = results[1][0] / results[2][0]
        frac = wall_nc / results[2][0]
        print()
        print(f"{'measure':<40}{'value':>10}{'target':>12}")
        print(f"{'speed-up 1 → 2 workers':<40}{speedup:>10.2f}{'>= 1.70':>12}")
        print(f"{'no-change / full (2 workers)':<40}{frac * 100:>9.1f}%{'<= 5.0%':>12}")
        print(f"{'results identical across worker counts':<40}{str(same):>10}{'True':>12}")
    finally:
        for h in homes:
            shutil.rmtree(h, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
