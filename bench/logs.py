"""Text-log throughput: python -m bench.logs [--mb 1024] [--ingest-mb N] [--repeat R] [--workers 2] [--alternating]

Generates an auth.log + access log mix of the given size, then prints lines/s
for: `wc -l`, a bare `for line in f` loop, the vectorised columnar parser over
all cores (file split at line boundaries), and the REAL ingest path: what
`forensics.pipeline.run_unit` does for a text log — TextLogIngestor (parse,
events, detections) into the case event store's EventWriter, committed to
Parquet — on the first `--ingest-mb` of the file (default: all of it).

Each figure is the median of `--repeat` runs (default 3, or 1 from 256 MB up,
where one run is long enough to be stable); wall and CPU time are both
printed because the machine is shared (the load average is printed too). The
real path is timed twice: in one process, and with parse workers (files of at
least forensics.logs.batchpath.PARALLEL_MIN_BYTES, on machines of at least
PARALLEL_MIN_CORES cores, are parsed block-wise in worker processes while the
parent runs the detections and the event store; the CPU column then counts the
parent only, the indented rows the workers). One of the two is what ships on
this machine, and its row says so; the other is forced.

--alternating adds a row for a file of the same size whose sshd lines alternate with GBK
syslog lines (the line parser's), ingested as shipped; its CPU column counts all processes.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
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
    return _write_repeated(path, ("\n".join(lines) + "\n").encode(), mb)


def generate_alternating(path: Path, mb: int, seed: int = 5) -> int:
    """sshd lines (the compiled path's) alternating with GBK-encoded syslog lines (the line
    parser's): the worst case for the merge of the two in file order (issue #5)."""
    rnd = random.Random(seed)
    users = ["root", "admin", "oracle", "ubuntu", "deploy", "alice", "test", "git"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    lines = []
    for i in range(50_000):
        ip = f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        mon, day, t = months[i * 6 // 50_000], rnd.randint(1, 28), f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}"
        if i % 2:
            lines.append(f"{mon} {day:2d} {t} web01 app[{rnd.randint(100, 65000)}]: 中文 消息 {i}".encode("gbk"))
        elif rnd.random() < 0.8:
            lines.append(f"{mon} {day:2d} {t} web01 sshd[{rnd.randint(100, 65000)}]: Failed password for "
                         f"{rnd.choice(users)} from {ip} port {rnd.randint(1024, 65535)} ssh2".encode())
        else:
            lines.append(f"{mon} {day:2d} {t} web01 sshd[{rnd.randint(100, 65000)}]: Accepted publickey for "
                         f"{rnd.choice(users)} from {ip} port {rnd.randint(1024, 65535)} ssh2".encode())
    return _write_repeated(path, b"\n".join(lines) + b"\n", mb)


def _write_repeated(path: Path, chunk: bytes, mb: int) -> int:
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


def real_ingest(path: Path, home: Path, one_process: bool = False, workers: bool = False) -> tuple[int, str]:
    """One text log through forensics.pipeline.run_unit (ingestor -> EventWriter -> Parquet); forced
    into one process, or (workers) into parse workers whatever the number of cores."""
    os.environ["CYBERCLAIM_HOME"] = str(home)
    from forensics.ingestors import textlog
    from forensics.ingestors.textlog import TextLogIngestor
    from forensics.pipeline import Unit, run_unit

    from forensics.logs import batchpath

    shipped = getattr(textlog, "PARALLEL_MIN_BYTES", None)
    shipped_batch, shipped_cores = batchpath.PARALLEL_MIN_BYTES, batchpath.PARALLEL_MIN_CORES
    if workers:
        batchpath.PARALLEL_MIN_CORES = 1
    if one_process and shipped is not None:
        textlog.PARALLEL_MIN_BYTES = 1 << 62
    if one_process:
        batchpath.PARALLEL_MIN_BYTES = 1 << 62

    sha = f"{random.getrandbits(256):064x}"  # a fresh event-store file per run
    u = Unit("bench", sha, path.name, str(path), "text_log", TextLogIngestor.name, TextLogIngestor.parser_id(), "",
             {"year": 2024})
    try:
        r = run_unit(u)
    finally:
        if shipped is not None:
            textlog.PARALLEL_MIN_BYTES = shipped
        batchpath.PARALLEL_MIN_BYTES, batchpath.PARALLEL_MIN_CORES = shipped_batch, shipped_cores
    return r.events, r.status


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(fn, *args):
    """(wall s, CPU s of this process, CPU s of the child processes it waited for, result)."""
    w, c, k = time.perf_counter(), time.process_time(), _children_cpu()
    out = fn(*args)
    return time.perf_counter() - w, time.process_time() - c, _children_cpu() - k, out


def _bare(path: Path) -> int:
    m = 0
    with open(path, "rb") as f:
        for _ in f:
            m += 1
    return m


def _columnar(path: Path, workers: int) -> int:
    with ProcessPoolExecutor(workers) as ex:
        return sum(ex.map(_columnar_range, [(str(path), s, e) for s, e in split_points(path, workers)]))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _calibration() -> float:
    """µs for sum(range(1000)): ~8-10 on an idle modern core; higher means a busy or slow machine."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(200):
            sum(range(1000))
        best = min(best, (time.perf_counter() - t) / 200 * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--ingest-mb", type=int, default=None, help="size fed to the real ingest path (default: --mb)")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--skip-columnar", action="store_true")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--alternating", action="store_true",
                    help="also time the real ingest (as shipped) of a file of the same size whose sshd lines "
                         "alternate with GBK syslog lines (the line parser's)")
    a = ap.parse_args()
    if a.repeat is None:
        a.repeat = 3 if a.mb < 256 else 1
    print(f"load average before: {_load()}; calibration sum(range(1000)) = {_calibration():.1f} µs")
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        path = Path(d) / "bench_auth_access.log"
        t = time.perf_counter()
        size = generate(path, a.mb)
        print(f"generated {size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")
        sample = path
        if a.ingest_mb and a.ingest_mb < a.mb:
            sample = Path(d) / "sample.log"
            with open(path, "rb") as src, open(sample, "wb") as dst:
                part = src.read(a.ingest_mb << 20)
                dst.write(part[: part.rfind(b"\n") + 1])
        n = int(subprocess.run(["wc", "-l", str(path)], capture_output=True, text=True).stdout.split()[0])
        ns = int(subprocess.run(["wc", "-l", str(sample)], capture_output=True, text=True).stdout.split()[0])

        runs: dict[str, list[tuple[float, float]]] = {}
        counts: dict[str, int] = {}  # lines of the rows not over the plain file
        events = 0
        alt = None
        if a.alternating:
            alt = Path(d) / "bench_alternating.log"
            generate_alternating(alt, a.ingest_mb or a.mb)
            na = int(subprocess.run(["wc", "-l", str(alt)], capture_output=True, text=True).stdout.split()[0])
        for _ in range(a.repeat):
            w, c, _, _ = _timed(lambda: subprocess.run(["wc", "-l", str(path)], capture_output=True))
            runs.setdefault("wc -l", []).append((w, c))
            w, c, _, m = _timed(_bare, path)
            assert m == n
            runs.setdefault("bare `for line in f` (1 core)", []).append((w, c))
            if not a.skip_columnar:
                w, c, _, rows = _timed(_columnar, path, a.workers)
                assert rows == n, (rows, n)
                runs.setdefault(f"columnar parse only ({a.workers} processes)", []).append((w, float("nan")))
            from forensics.logs import batchpath
            cores = os.cpu_count() or 1
            if cores >= batchpath.PARALLEL_MIN_CORES:
                variants = [("REAL ingest, 1 process", True, False), ("REAL ingest as shipped (CPU: parent)", False, False)]
            else:  # shipped as one process on this machine (batchpath.PARALLEL_MIN_CORES)
                variants = [(f"REAL ingest as shipped on {cores} cores: 1 process", True, False),
                            ("REAL ingest, parse workers forced (CPU: parent)", False, True)]
            for label, one, forced in variants:
                batchpath.WORKER_CPU["seconds"] = 0.0
                with tempfile.TemporaryDirectory(dir=a.dir) as home:
                    w, c, k, (events, status) = _timed(real_ingest, sample, Path(home), one, forced)
                k += batchpath.WORKER_CPU["seconds"]  # parse workers (children of the fork server)
                assert status in ("ok", "partial"), status
                runs.setdefault(label, []).append((w, c))
                if k > 0.05 * c:  # parse processes ran: their CPU time, and the busier side (the 2-core bound)
                    runs.setdefault("  child processes CPU", []).append((float("nan"), k))
                    runs.setdefault("  parent + children CPU (all work)", []).append((float("nan"), c + k))
                    runs.setdefault("  2-core bound: lines / max(parent, children) CPU", []).append(
                        (float("nan"), max(c, k)))
            if alt is not None:
                from forensics.logs import batchpath
                batchpath.WORKER_CPU["seconds"] = 0.0
                with tempfile.TemporaryDirectory(dir=a.dir) as home:
                    w, c, k, (_, status) = _timed(real_ingest, alt, Path(home), False)
                k += batchpath.WORKER_CPU["seconds"]
                assert status in ("ok", "partial"), status
                label = "REAL ingest, alternating sshd/GBK (CPU: all)"
                runs.setdefault(label, []).append((w, c + k))
                counts[label] = na

        bare_rate = n / statistics.median(w for w, _ in runs["bare `for line in f` (1 core)"])
        bare_cpu_rate = n / statistics.median(c for _, c in runs["bare `for line in f` (1 core)"])
        print(f"{n:,} lines, {size / 1e6:.0f} MB; real ingest over {ns:,} lines ({sample.stat().st_size / 1e6:.0f} MB), "
              f"{events:,} events; median of {a.repeat}")
        print(f"{'path':46s} {'lines/s wall':>13s} {'lines/s CPU':>12s} {'vs bare loop':>13s}  (CPU-only rows: vs its CPU rate)")
        for name, rs in runs.items():
            lines = counts.get(name, ns if name.startswith(("REAL", "  ")) else n)
            wall = statistics.median(w for w, _ in rs)
            cpu = statistics.median(c for _, c in rs)
            cpu_rate = f"{lines / cpu:12,.0f}" if cpu == cpu and cpu > 0 and not name.startswith("wc") else f"{'-':>12s}"
            wall_rate = f"{lines / wall:13,.0f}" if wall == wall else f"{'-':>13s}"
            ratio = f"{lines / wall / bare_rate:12.4f}x" if wall == wall else f"{lines / cpu / bare_cpu_rate:12.4f}x"
            print(f"{name:46s} {wall_rate} {cpu_rate} {ratio}")
        print(f"target: 300,000 lines/s on the real path; load average after: {_load()}")


if __name__ == "__main__":
    main()
