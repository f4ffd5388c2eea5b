"""Raw-image YARA scan: our windowed scan vs the `yara` command-line tool.

Generates a memory-like image (zero pages, random pages, text pages with a few
planted hits) of --mb MiB, scans it with the default pack both ways, and prints
seconds, MB/s, peak RSS and matched rules side by side. Each side runs in its
own child process so peak RSS is its own.

    .venv/bin/python -m bench.yara [--mb 1024] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 16 << 20
PLANTS = [b"sekurlsa::logonpasswords privilege::debug", b"<?php @eval($_POST['x']); ?>",
          b"your files have been encrypted. to decrypt send bitcoin to bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh via tor browser",
          b"beacon.x64.dll\x00ReflectiveLoader"]
TEXT = (b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
        b"/usr/lib/x86_64-linux-gnu/libc.so.6 PATH=/usr/bin:/bin HOME=/root 10.0.2.15 ") * 64


def generate(path: Path, mb: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    page = 4096
    with open(path, "wb") as f:
        for c in range((mb << 20) // CHUNK):
            kinds = rng.integers(0, 10, CHUNK // page)  # 0-4 zero, 5-7 random, 8-9 text
            buf = np.zeros(CHUNK, dtype=np.uint8)
            rnd = kinds.repeat(page)
            randbytes = rng.integers(0, 256, CHUNK, dtype=np.uint8)
            buf[(rnd >= 5) & (rnd <= 7)] = randbytes[(rnd >= 5) & (rnd <= 7)]
            text = np.frombuffer((TEXT * (CHUNK // len(TEXT) + 1))[:CHUNK], dtype=np.uint8)
            buf[rnd >= 8] = text[rnd >= 8]
            b = bytearray(buf.tobytes())
            p = PLANTS[c % len(PLANTS)]
            at = (c * 7919 * page) % (CHUNK - len(p))
            b[at:at + len(p)] = p
            f.write(b)


def ours(path: str, workers: int = 2) -> dict:
    from forensics.memory.scan import clustered_matches, scan_image
    from forensics.memory.layout import Segment
    from forensics.yara_rules import load_pack

    pack = load_pack(cache=False)
    t = time.perf_counter()
    hits = scan_image(Path(path), [Segment(0, 0, os.path.getsize(path))], pack, workers=workers)
    secs = time.perf_counter() - t
    rules = sorted({m["rule"] for m in clustered_matches(hits)})
    # this process + each YARA worker process (upper bound: every worker at the largest one's peak)
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": secs, "rules": rules, "rss_mb": _hwm_mb() + workers * child}


def _hwm_mb() -> float:
    """Peak RSS of this process image (VmHWM resets at exec, unlike ru_maxrss which inherits the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cli(path: str) -> dict:
    from forensics.yara_rules import DEFAULT_PACK_DIR

    exe = shutil.which("yara")
    if not exe:
        return {"error": "yara CLI not installed (Debian package yara)"}
    rules = [str(p) for p in sorted(DEFAULT_PACK_DIR.glob("*.yar"))]
    t = time.perf_counter()
    out = subprocess.run([exe, "-w", *rules, path], capture_output=True, text=True)
    secs = time.perf_counter() - t
    return {"seconds": secs, "rules": sorted({ln.split()[0] for ln in out.stdout.splitlines() if ln.strip()}),
            "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "rc": out.returncode}


def _child(side: str, path: str, workers: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.yara", "--child", side, path, "--workers", str(workers)],
                         capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024, help="image size in MiB (default 1024)")
    ap.add_argument("--keep", action="store_true", help="keep the generated image")
    ap.add_argument("--workers", type=int, default=2, help="YARA worker processes for our scan (default 2)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child and a.child[0] == "generate":
        generate(Path(a.child[1]), a.mb)
        return
    if a.child:
        print(json.dumps(ours(a.child[1], a.workers) if a.child[0] == "ours" else cli(a.child[1])))
        return
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-yara-"))
    img = tmp / "image.raw"
    t = time.perf_counter()
    # generated in a child so this process (whose RSS the scan children would inherit in ru_maxrss) stays small
    subprocess.run([sys.executable, "-m", "bench.yara", "--mb", str(a.mb), "--child", "generate", str(img)], check=True)
    print(f"generated {a.mb} MiB image in {time.perf_counter() - t:.1f} s: {img}")
    # warm the page cache so neither side pays the first read
    with open(img, "rb") as f:
        while f.read(CHUNK):
            pass
    o, c = _child("ours", str(img), a.workers), _child("cli", str(img), a.workers)
    try:
        if "error" in o or "error" in c:
            print("ours:", o, "\ncli:", c)
            return
        mb = a.mb
        print(f"{'':22}{'cyberclaim windowed':>22}{'yara CLI':>14}")
        print(f"{'seconds':22}{o['seconds']:>22.2f}{c['seconds']:>14.2f}")
        print(f"{'MB/s':22}{mb / o['seconds']:>22.1f}{mb / c['seconds']:>14.1f}")
        print(f"{'peak RSS (MB)':22}{o['rss_mb']:>22.1f}{c['rss_mb']:>14.1f}")
        print(f"{'rules matched':22}{len(o['rules']):>22}{len(c['rules']):>14}")
        ratio = c["seconds"] / o["seconds"]
        print(f"throughput ratio ours/CLI = {ratio:.2f} (target >= 0.9); same rules matched: {o['rules'] == c['rules']}; "
              f"peak RSS {o['rss_mb']:.0f} MB (target < 500)")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
