"""Timeline scale: N synthetic events across 500 hosts -> graph, storyline, filtered page queries.

    .venv/bin/python -m bench.timeline [--events 10000000] [--dir /tmp/cc_bench_timeline] [--queries 50]

The synthetic case looks like an enterprise collection: 500 Windows hosts
(each with its own address and a hundred or so logged processes), a few
thousand accounts (each host has its regular users; a few dozen admin and
service accounts log on everywhere), a few thousand Internet addresses of
very unequal popularity plus internal servers. Events are dominated by flows,
logons and process activity (starts and per-process connections), with DNS
queries and a small incident (detections, an outbound transfer) on top. Hosts
and accounts are spelled the way different sources spell them (`WS001`,
`WS001.corp.local`; `CORP\\user0001`, `user0001@corp.local`) so entity
resolution does real work. Every event feeds at least one graph edge, so the
graph aggregates all N events.

Events are written as pyarrow tables in EventWriter's schema (vectorised, no
Event objects), one file per synthetic evidence item. Writing the data and
building the case's time-sorted compacted copy (a read-only DuckDB database
file; what the first query after ingest does) run in a child process and are
timed separately: they are ingest-side costs, and the peak RSS reported is that
of the process that builds the graph and storyline and serves the page queries.
Both are cached under --dir: the first run on a machine writes the 10M events
(~10 min) and the compacted copy (~2-3 min on 2 busy cores); later runs reuse
them and take about 1-2 minutes. CPU times (all threads) are printed beside
wall times, as the machine may be shared.

Prints build times, peak RSS and page-query latency next to the targets
(build <= 120 s, RSS <= 3 GB, p95 <= 300 ms). Reference: Timesketch's tracker
reports server errors at about 3 million events in one timeline.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forensics.events import EVENT_SCHEMA

T0 = 1_772_400_000_000_000
DAY = 86_400_000_000
DAYS = 30
HOSTS = 500
ACCOUNTS = 3000
ADMINS = 40            # admin / service accounts that log on to any host
USERS_PER_HOST = 6
PROCS_PER_HOST = 120   # logged process instances per host over the period
EXTERNAL = 4000        # Internet addresses, Zipf-popular
SERVERS = 40           # internal servers (DCs, file servers, proxies)
DOMAINS = 3000
CHUNK = 1_000_000      # events per synthetic evidence item
IMAGES = np.array(["svchost.exe", "chrome.exe", "msedge.exe", "outlook.exe", "teams.exe", "explorer.exe",
                   "powershell.exe", "cmd.exe", "onedrive.exe", "winword.exe", "excel.exe", "lsass.exe",
                   "services.exe", "wmiprvse.exe", "taskhostw.exe", "searchindexer.exe", "msmpeng.exe",
                   "rundll32.exe", "conhost.exe", "spoolsv.exe"], dtype=object)
FILES = 20_000         # distinct file hashes written by processes
# event mix (fractions of N): flows, logons, process network activity, DNS; the rest are process file
# writes. Each process instance also has exactly one start event (4688 / Sysmon 1).
MIX = {"flow": 0.45, "logon": 0.28, "procnet": 0.20, "dns": 0.05}


def _s(a) -> np.ndarray:
    return np.asarray(a).astype(str).astype(object)


def _cat(*parts) -> np.ndarray:
    out = _s(parts[0])
    for p in parts[1:]:
        out = out + (_s(p) if isinstance(p, np.ndarray) else p)
    return out


class Population:
    """The fixed things events talk about: hosts, accounts, addresses, processes."""

    def __init__(self, rng: np.random.Generator, procs_per_host: int):
        h = np.arange(HOSTS)
        self.netbios = _cat("WS", np.char.zfill(_s(h).astype(str), 3))
        self.fqdn = self.netbios + ".corp.local"
        self.host_ip = _cat("10.1.", h // 250, ".", h % 250 + 1)
        self.server_ip = _cat("10.0.0.", np.arange(SERVERS) + 1)
        e = np.arange(EXTERNAL)
        self.external_ip = _cat((e % 200) + 23, ".", (e * 7) % 251, ".", (e * 13) % 253, ".", e % 249 + 1)
        a = np.char.zfill(_s(np.arange(ACCOUNTS)).astype(str), 4)
        self.account_dom = _cat("CORP\\user", a)
        self.account_upn = _cat("user", a, "@corp.local")
        self.domains = _cat("site", np.arange(DOMAINS), ".example.com")
        self.file_hash = np.array([f"{i:064x}" for i in range(FILES)], dtype=object)
        # each host's process instances: pid, start, image
        n = HOSTS * procs_per_host
        self.proc_host = np.repeat(h, procs_per_host)
        self.proc_pid = rng.integers(100, 65_000, n)
        self.proc_start = T0 + rng.integers(0, DAYS * DAY - DAY, n)
        self.proc_image = IMAGES[rng.integers(0, len(IMAGES), n)]
        # a process talks to a couple of places (its update server, a share, a proxy) and writes a few
        # files worth hashing (downloads, dropped executables)
        self.proc_dst = np.where(rng.random((n, 2)) < 0.3, self.server_ip[self.zipf(rng, (n, 2), SERVERS)],
                                 self.external_ip[self.zipf(rng, (n, 2), EXTERNAL)])
        self.proc_file = self.zipf(rng, (n, 2), FILES)
        self.procs_per_host = procs_per_host

    def zipf(self, rng, n: int, k: int) -> np.ndarray:
        return (rng.zipf(1.6, n) - 1) % k


def _chunk(pop: Population, rng: np.random.Generator, start: int, m: int, c: int, chunks: int) -> pa.Table:
    idx = np.arange(start, start + m)
    cum = np.cumsum(list(MIX.values()))
    u = rng.random(m)
    kind = np.searchsorted(cum, u)  # 0 flow, 1 logon, 2 procnet, 3 dns, 4 file write
    flow, logon, procnet, dns, pfile = (kind == i for i in range(5))
    # this evidence item also holds the start events of its share of the processes
    share = np.array_split(np.arange(len(pop.proc_pid)), chunks)[c][:m]
    pstart = np.zeros(m, bool)
    pstart[:len(share)] = True
    kind[:len(share)] = 5
    flow, logon, procnet, dns, pfile = (x & ~pstart for x in (flow, logon, procnet, dns, pfile))
    h = rng.integers(0, HOSTS, m)
    ts = T0 + rng.integers(0, DAYS * DAY, m)
    # process events belong to one of the host's processes, after its start
    p = h * pop.procs_per_host + rng.integers(0, pop.procs_per_host, m)
    p[:len(share)] = share
    h = np.where(pstart, pop.proc_host[p], h)
    pstart_ts = pop.proc_start[p]
    pact = procnet | pfile
    ts = np.where(pact, pstart_ts + (ts - T0) % (T0 + DAYS * DAY - pstart_ts), ts)
    ts = np.where(pstart, pstart_ts, ts)
    # logons: a host's own users, or an admin account (10 %); a few fail
    own = (h * USERS_PER_HOST + rng.integers(0, USERS_PER_HOST, m)) % ACCOUNTS
    acct = np.where(rng.random(m) < 0.1, ACCOUNTS - 1 - rng.integers(0, ADMINS, m), own)
    failed = logon & (rng.random(m) < 0.04)
    user = np.where(rng.random(m) < 0.5, pop.account_dom[acct], pop.account_upn[acct])
    # where traffic goes: Internet (Zipf) or an internal server
    to_server = rng.random(m) < 0.3
    dst = np.where(to_server, pop.server_ip[pop.zipf(rng, m, SERVERS)], pop.external_ip[pop.zipf(rng, m, EXTERNAL)])
    # logons come from the host itself (interactive) or from a jump server
    logon_src = np.where(rng.random(m) < 0.7, pop.host_ip[h], pop.server_ip[rng.integers(0, 4, m)])
    host = np.where(pact | pstart, pop.netbios[h], pop.fqdn[h])
    dtype = np.array(["network:flow", "windows:evtx:record", "windows:sysmon:network", "windows:sysmon:dns",
                      "windows:sysmon:file", "windows:evtx:record"], dtype=object)[kind]
    tags = np.where(logon, np.where(failed, "login_failed", "login"), np.where(pstart, "application_execution", ""))
    nul = np.array(None, dtype=object)
    cols = {f.name: pa.nulls(m, f.type) for f in EVENT_SCHEMA}
    cols.update(
        event_id=pa.array(_cat(f"b{c:03d}-", idx)),
        timestamp=pa.array(ts, pa.int64()),
        datetime=pa.array(np.char.add(np.datetime_as_string(ts.astype("datetime64[us]"), unit="us"), "Z")),
        timestamp_desc=pa.array(np.where(flow, "Flow Start", "Event Time").astype(object)),
        data_type=pa.array(dtype), parser=pa.array(np.full(m, "bench@1", dtype=object)),
        message=pa.array(_cat(dtype, " event ", idx)),
        evidence_sha256=pa.array(np.full(m, f"{c + 1:064x}", dtype=object)),
        locator=pa.array(_cat("row ", idx - start)),
        host=pa.array(np.where(flow, nul, host)),
        user=pa.array(np.where(logon | pstart, user, nul)),
        src_ip=pa.array(np.where(flow | procnet | dns, pop.host_ip[h], np.where(logon, logon_src, nul))),
        dst_ip=pa.array(np.where(flow, dst, np.where(procnet, pop.proc_dst[p, rng.integers(0, 2, m)],
                                                     np.where(dns, pop.server_ip[0], nul)))),
        dst_port=pa.array(np.where(flow | procnet, np.where(to_server, 445, 443), np.where(dns, 53, nul)), pa.int64()),
        proto=pa.array(np.where(flow | procnet | dns, np.where(dns, "udp", "tcp"), nul)),
        bytes_out=pa.array(np.where(flow, rng.integers(40, 100_000, m), nul), pa.int64()),
        bytes_in=pa.array(np.where(flow, rng.integers(40, 1_000_000, m), nul), pa.int64()),
        domain=pa.array(np.where(dns, pop.domains[pop.zipf(rng, m, DOMAINS)], nul)),
        process_pid=pa.array(np.where(pact | pstart, pop.proc_pid[p], nul), pa.int64()),
        process_name=pa.array(np.where(pact | pstart, pop.proc_image[p], nul)),
        file_sha256=pa.array(np.where(pfile, pop.file_hash[pop.proc_file[p, rng.integers(0, 2, m)]], nul)),
        tags=pa.array([[t] if t else [] for t in tags], pa.list_(pa.string())),
        attack=pa.array([[]] * m, pa.list_(pa.string())),
        severity=pa.array(np.full(m, "info", dtype=object)),
        attributes=pa.array(np.full(m, "{}", dtype=object)),
    )
    return pa.table(cols, schema=EVENT_SCHEMA)


def _incident(pop: Population, c: int, start: int) -> pa.Table:
    """A small intrusion on top of the noise: detections on three hosts, then a large transfer out."""
    rows = []
    t = T0 + 20 * DAY
    for i, hx in enumerate((17, 42, 311)):
        rows.append(dict(data_type="detection", host=pop.fqdn[hx], severity="high", attack=["T1021.002"],
                         tags=["lateral_movement"], src_ip=pop.host_ip[17], message=f"PsExec service on {pop.netbios[hx]}",
                         timestamp=t + i * 600_000_000))
    rows.append(dict(data_type="network:flow", src_ip=pop.host_ip[311], dst_ip="203.0.113.66", bytes_out=4_800_000_000,
                     bytes_in=20_000, dst_port=443, proto="tcp", message="large outbound transfer", severity="high",
                     attack=["T1048"], tags=[], timestamp=t + 3_600_000_000))
    cols = {f.name: [None] * len(rows) for f in EVENT_SCHEMA}
    for i, r in enumerate(rows):
        for k, v in r.items():
            cols[k][i] = v
        cols["event_id"][i] = f"b{c:03d}-incident-{i}"
        cols["datetime"][i] = str(np.datetime64(r["timestamp"], "us")) + "Z"
        cols["timestamp_desc"][i], cols["parser"][i] = "Event Time", "bench@1"
        cols["evidence_sha256"][i], cols["locator"][i] = f"{c + 1:064x}", f"row incident {i}"
        cols["attributes"][i] = "{}"
    return pa.table(cols, schema=EVENT_SCHEMA)


def write_events(dest: Path, n: int, seed: int = 7, procs_per_host: int = PROCS_PER_HOST) -> list[str]:
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    pop = Population(rng, procs_per_host)
    files = []
    starts = range(0, n, CHUNK)
    for c, start in enumerate(starts):
        t = _chunk(pop, rng, start, min(CHUNK, n - start), c, len(starts))
        if c == 0:
            t = pa.concat_tables([t, _incident(pop, c, start)])
        p = dest / f"evidence{c:03d}.parquet"
        tmp = p.with_suffix(".tmp")
        pq.write_table(t, tmp, compression="zstd", row_group_size=100_000)
        os.replace(tmp, p)
        files.append(str(p))
    return files


def _prepare(d: str, n: int, procs_per_host: int, q: mp.Queue) -> None:
    """Child process: write the synthetic evidence (if absent) and the case's compacted copy."""
    from case_store.eventstore import connect

    t = time.perf_counter()
    dd = Path(d)
    files = sorted(str(p) for p in dd.glob("evidence*.parquet")) if dd.exists() else []
    wrote = not files
    if wrote:
        files = write_events(dd, n, procs_per_host=procs_per_host)
    tw = time.perf_counter() - t
    t = time.perf_counter()
    connect(files).close()
    q.put((files, wrote, tw, time.perf_counter() - t,
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def page_queries(files: list[str], n: int, seed: int = 1) -> tuple[list[float], list[str], list[float]]:
    """Latency (ms), filter shape and CPU time (ms, all threads) of n varied filtered page queries, the way
    the timeline page asks them.

    Shapes rotate: tag (+ host), host + data type, free text, address; windows of
    1, 3, 7 or 30 days; pages 1-5. The first query also pays the per-file-set
    set-up (host spellings, day counts), as the first page view of a case does.
    """
    from case_store.eventstore import EventQuery
    from forensics import timecorrect

    rng = np.random.default_rng(seed)
    lat, shapes, cpu = [], [], []
    for i in range(n):
        h = int(rng.integers(0, HOSTS))
        day = int(rng.integers(0, DAYS - 1))
        span = DAY * int(rng.choice([1, 1, 3, 7, 30]))
        start = T0 + day * DAY
        shape = i % 5
        q = EventQuery(start_us=start, end_us=start + span, limit=100, offset=int(rng.integers(0, 5)) * 100,
                       tag=("login", "login_failed", None)[i % 3] if shape in (0, 1) else None,
                       data_type="windows:sysmon:*" if shape == 2 else None,
                       text=f"event {int(rng.integers(0, 9))}" if shape == 3 else None,
                       ip=f"10.1.0.{h % 250 + 1}" if shape == 4 else None)
        host = f"ws{h:03d}" if shape in (0, 2) else None
        t, c = time.perf_counter(), time.process_time()
        page, total = timecorrect.query(None, q, files=files, offsets={}, host_entity=host)
        lat.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        shapes.append("text" if shape == 3 else "address" if shape == 4 else "host/tag/type")
        assert len(page) <= 100 and total >= len(page)
    return lat, shapes, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--dir", default="/tmp/cc_bench_timeline")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--procs-per-host", type=int, default=PROCS_PER_HOST)
    a = ap.parse_args()
    d = Path(a.dir) / f"n{a.events}-p{a.procs_per_host}"
    os.environ.setdefault("CYBERCLAIM_HOME", str(Path(a.dir) / "home"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    q: mp.Queue = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=_prepare, args=(str(d), a.events, a.procs_per_host, q))
    child.start()
    files, wrote, tw, tc, child_rss = q.get()
    child.join()
    print(f"events: {a.events:,} across {HOSTS} hosts in {len(files)} evidence files; "
          f"write {tw:.1f} s{'' if wrote else ' (reused)'}; compacted copy {tc:.1f} s; prepare peak RSS {child_rss:,.0f} MB")

    from forensics import graph, timecorrect
    from forensics.storyline import build_storyline

    t, c = time.perf_counter(), time.process_time()
    con = timecorrect.case_connection(None, files, offsets={})
    g = graph.build_graph(con)
    con.close()
    tg, cg = time.perf_counter() - t, time.process_time() - c
    agg = sum(c for *_, c in g.edges(data="count"))
    print(f"graph: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} edges aggregating {agg:,} event links "
          f"in {tg:.1f} s wall, {cg:.1f} s CPU (RSS so far {peak_rss_mb():,.0f} MB)")
    del g
    t, c = time.perf_counter(), time.process_time()
    story = build_storyline("bench", files=files, offsets={}, data_inventory=[], case_docs=[])
    ts, cs = time.perf_counter() - t, time.process_time() - c
    print(f"storyline: {ts:.1f} s wall, {cs:.1f} s CPU (malicious={story.malicious.value if story.malicious else None}, "
          f"exfiltrated {story.exfiltrated_bytes:,} bytes)")
    print(f"(load average before the page queries {os.getloadavg()[0]:.1f})")
    lat, shapes, cpu = page_queries(files, a.queries)
    p50, p95 = np.percentile(lat, [50, 95])
    c50, c95 = np.percentile(cpu, [50, 95])
    for kind in ("host/tag/type", "text", "address"):
        sel = [x for x, s in zip(lat, shapes) if s == kind]
        selc = [x for x, s in zip(cpu, shapes) if s == kind]
        print(f"page queries by {kind:<14} n={len(sel):>3}  p50 {np.percentile(sel, 50):7.1f} ms  p95 {np.percentile(sel, 95):7.1f} ms"
              f"   (CPU p50 {np.percentile(selc, 50):6.1f} ms  p95 {np.percentile(selc, 95):6.1f} ms)")
    print(f"first page query (builds the per-file-set host spellings and day counts): {lat[0]:.0f} ms")
    rss = peak_rss_mb()
    print()
    print(f"{'measure':<28}{'cyberclaim':>14}{'target':>12}{'ratio':>8}")
    for name, val, target in (("graph build s", tg, None), ("storyline build s", ts, None),
                              ("graph + storyline build s", tg + ts, 120.0),
                              ("  same, CPU s / 2 cores", (cg + cs) / 2, 120.0), ("peak RSS MB", rss, 3072.0),
                              ("page query p50 ms", p50, 300.0), ("page query p95 ms", p95, 300.0),
                              ("  same, CPU ms (all threads)", c95, None)):
        tgt, ratio = (f"{target:>12.1f}", f"{val / target:>8.2f}") if target else (f"{'':>12}", f"{'':>8}")
        print(f"{name:<28}{val:>14.1f}{tgt}{ratio}")
    print(f"({a.queries} page queries: max {max(lat):.0f} ms; load average now {os.getloadavg()[0]:.1f})")
    print(f"(Timesketch reference: server errors reported at ~3,000,000 events in one timeline; this run: {a.events:,})")


if __name__ == "__main__":
    main()
