"""Evidence registration throughput: vault copy + SHA-256 vs `sha256sum` on the same file.

    python -m bench.hashing [--mb 1024]

Target: ratio >= 0.8, peak RSS < 150 MB and flat in file size. The registration
runs in a child process so its peak RSS is measured alone.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _make_file(path: Path, mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mb):
            f.write(block[i % 7 :] + block[: i % 7])


CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from case_store import cases
c = cases.create_case("bench")
t = time.perf_counter()
r = cases.add_evidence(c.id, Path(sys.argv[1]))
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "sha256": r.evidence.sha256, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(mb: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-hash-") as d:
        src = Path(d) / "evidence.bin"
        _make_file(src, mb)
        subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache for both
        t = time.perf_counter()
        ref = subprocess.run(["sha256sum", str(src)], capture_output=True, text=True, check=True)
        ref_s = time.perf_counter() - t
        env = dict(os.environ, CYBERCLAIM_HOME=str(Path(d) / "home"))
        env.pop("CYBERCLAIM_DB_URL", None)
        out = subprocess.run([sys.executable, "-c", CHILD, str(src)], capture_output=True, text=True, env=env, check=True)
        ours = json.loads(out.stdout.strip().splitlines()[-1])
        assert ours["sha256"] == ref.stdout.split()[0], "hash mismatch with sha256sum"
    return {"mb": mb, "sha256sum_MBps": mb / ref_s, "ours_MBps": mb / ours["seconds"],
            "ratio": (mb / ours["seconds"]) / (mb / ref_s), "peak_rss_mb": ours["rss_mb"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=1024)
    args = ap.parse_args()
    sizes = sorted({max(64, args.mb // 8), args.mb})
    print(f"{'size MB':>8} {'sha256sum MB/s':>15} {'register MB/s':>14} {'ratio':>6} {'peak RSS MB':>12}")
    for mb in sizes:
        r = run(mb)
        print(f"{r['mb']:>8} {r['sha256sum_MBps']:>15.0f} {r['ours_MBps']:>14.0f} {r['ratio']:>6.2f} {r['peak_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
