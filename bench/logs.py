"""Text-log throughput: python -m bench.logs [--mb 1024] [--sample-mb 20] [--workers 2]

Generates an auth.log + access log mix of the given size, then prints lines/s
for: `wc -l`, a bare `for line in f` loop, the vectorised columnar parser over
all cores (file split at line boundaries), and the full line-by-line
TextLogIngestor (events + detections) on a sample.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BLOCK = 32 << 20


def generate(path: Path, mb: int, seed: int = 5) -> int:
    rnd = random.Random(seed)
    users = ["root", "admin", "oracle", "ubuntu", "deploy", "alice", "test", "git"]
    urls = ["/", "/index.php", "/login", "/wp-login.php", "/static/app.js", "/api/v1/items?id=3", "/images/logo.png"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    lines = []
    for i in range(50_000):
        ip = f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        mon, day, t = months[i * 6 // 50_000], rnd.randint(1, 28), f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}"
        r = rnd.random()
        if r < 0.35:
            lines.append(f"{mon} {day:2d} {t} web01 sshd[{rnd.randint(100, 65000)}]: Failed password for "
                         f"{'invalid user ' if rnd.random() < .3 else ''}{rnd.choice(users)} from {ip} port {rnd.randint(1024, 65535)} ssh2")
        elif r < 0.45:
            lines.append(f"{mon} {day:2d} {t} web01 sshd[{rnd.randint(100, 65000)}]: Accepted publickey for {rnd.choice(users)} from {ip} port {rnd.randint(1024, 65535)} ssh2")
        elif r < 0.55:
            lines.append(f"{mon} {day:2d} {t} web01 CRON[{rnd.randint(100, 65000)}]: (root) CMD (run-parts /etc/cron.hourly)")
        else:
            lines.append(f'{ip} - - [{day:02d}/{mon}/2024:{t} +0000] "GET {rnd.choice(urls)} HTTP/1.1" {rnd.choice([200, 200, 304, 404, 401])} '
                         f'{rnd.randint(100, 90000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"')
    chunk = ("\n".join(lines) + "\n").encode()
    target = mb << 20
    n = 0
    with open(path, "wb") as f:
        while n < target:
            part = chunk[: target - n]
            if len(part) < len(chunk):  # end on a line boundary
                part = part[: part.rfind(b"\n") + 1] or chunk
            f.write(part)
            n += len(part)
    return n


def split_points(path: Path, parts: int) -> list[tuple[int, int]]:
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(size * k // parts)
            f.readline()
            cuts.append(f.tell())
    cuts.append(size)
    return [(cuts[i], cuts[i + 1]) for i in range(parts)]


def _columnar_range(args: tuple[str, int, int]) -> int:
    from forensics.logs.columnar import parse_block

    path, start, end = args
    rows = 0
    with open(path, "rb") as f:
        f.seek(start)
        pos, carry = start, b""
        while pos < end:
            data = carry + f.read(min(BLOCK, end - pos))
            pos = start + (f.tell() - start)
            cut = data.rfind(b"\n") + 1 if pos < end else len(data)
            block, carry = data[:cut], data[cut:]
            if block:
                # line numbers are per range here; the ingest path numbers them globally
                rows += parse_block(block, 1, pos - len(data), 2024).num_rows
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--sample-mb", type=int, default=20, help="size fed to the full line-by-line ingestor")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        path = Path(d) / "bench_auth_access.log"
        t = time.perf_counter()
        size = generate(path, a.mb)
        print(f"generated {size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        n = int(subprocess.run(["wc", "-l", str(path)], capture_output=True, text=True).stdout.split()[0])
        wc = time.perf_counter() - t
        t = time.perf_counter()
        m = 0
        with open(path, "rb") as f:
            for _ in f:
                m += 1
        bare = time.perf_counter() - t
        assert m == n

        t = time.perf_counter()
        with ProcessPoolExecutor(a.workers) as ex:
            rows = sum(ex.map(_columnar_range, [(str(path), s, e) for s, e in split_points(path, a.workers)]))
        col = time.perf_counter() - t
        assert rows == n, (rows, n)

        from forensics.events import Event
        from forensics.ingestors.base import IngestContext
        from forensics.ingestors.textlog import TextLogIngestor

        sample = Path(d) / "sample.log"
        with open(path, "rb") as src, open(sample, "wb") as dst:
            part = src.read(a.sample_mb << 20)
            dst.write(part[: part.rfind(b"\n") + 1])
        ns = sample.read_bytes().count(b"\n")
        t = time.perf_counter()
        evs = sum(1 for r in TextLogIngestor().ingest(IngestContext(sample, "0" * 64, "text_log", "s", {"year": 2024}))
                  if isinstance(r, Event))
        full = time.perf_counter() - t

        print(f"{n:,} lines, {size / 1e6:.0f} MB, {a.workers} workers")
        print(f"{'path':44s} {'lines/s':>12s} {'vs bare loop':>13s}")
        for name, lines, secs in [("wc -l", n, wc), ("bare `for line in f` (1 core)", n, bare),
                                  (f"columnar parse ({a.workers} processes)", n, col),
                                  (f"full TextLogIngestor, 1 core ({a.sample_mb} MB)", ns, full)]:
            rate = lines / secs
            print(f"{name:44s} {rate:12,.0f} {rate / (n / bare):12.2f}x")
        print(f"full ingestor events: {evs:,}; target 300,000 lines/s")


if __name__ == "__main__":
    main()
