"""Benchmark: PCAP ingestor vs `tshark -q -z conv,tcp` vs a bare dpkt read loop.

    .venv/bin/python -m bench.pcap [--mb 500] [--keep PATH]

Generates its own capture (TLS-like bulk transfers, HTTP downloads that get
carved, SMB2 file uploads and SMTP mails with attachments that get carved too,
DNS), then times each reader in a separate process so peak RSS is
that reader's own. Targets: >= 1.5x tshark, >= 40% of the bare loop, RSS < 500 MB.

The ingestor splits a large capture over worker processes (forensics.net.parallel),
so its CPU seconds are the sum over processes; the per-process breakdown after the
table (parent, each worker, and the critical path = parent + slowest worker) is
what to compare with the single-threaded readers' CPU on a busy machine. The peak
RSS in the table is that of the largest single process; the breakdown gives each.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forensics.net import synth


def generate(path: Path, mb: int) -> int:
    """Write about `mb` MB of traffic; returns the packet count."""
    target = mb * 1_000_000
    t = 1_700_000_000_000_000
    n = 0
    body = bytes(range(256)) * 4096  # 1 MiB HTTP download
    http_resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    bulk = os.urandom(200_000)
    smb_turns = _smb_upload(bulk * 5)  # 1 MB written to a share over SMB2, carved
    smtp_turns = _smtp_mail(bulk)  # one mail with a 200 kB attachment, carved
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        i = 0
        while f.tell() < target:
            i += 1
            client = f"10.{(i >> 8) & 255}.{i & 255}.{(i >> 16) & 255 or 1}"
            if i % 20 == 5:
                conv = synth.tcp_exchange(client, "10.0.0.20", 10000 + i % 50000, 445, t, smb_turns, step_us=50)
            elif i % 20 == 10:
                conv = synth.tcp_exchange(client, "10.0.0.25", 10000 + i % 50000, 25, t, smtp_turns, step_us=50)
            elif i % 20 == 0:
                conv = synth.tcp_conversation(client, "93.184.216.34", 10000 + i % 50000, 80, t,
                                              b"GET /f%d.bin HTTP/1.1\r\nHost: cdn.example\r\n\r\n" % i, http_resp,
                                              step_us=50)
            else:
                conv = synth.tcp_conversation(client, "151.101.1.69", 10000 + i % 50000, 443, t,
                                              b"\x16\x03\x01" + bulk[:300], bulk, step_us=50)
            q = struct.pack("!HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
            conv.append((t, synth.udp_frame(client, "10.0.0.53", 20000 + i % 40000, 53, q)))
            for ts, fr in conv:
                f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)))
                f.write(fr)
            n += len(conv)
            t += 20_000
    return n


def _smb_upload(data: bytes) -> list[tuple[bool, bytes]]:
    s = synth.Smb2Script()
    s.negotiate()
    s.logon("bench", "CORP", "WS")
    s.tree("\\\\fs\\share")
    fid = s.create("upload.bin")
    for off in range(0, len(data), 65536):
        s.write(fid, off, data[off:off + 65536])
    s.close(fid)
    return s.turns


def _smtp_mail(attachment: bytes) -> list[tuple[bool, bytes]]:
    b64 = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    mail = (b"Subject: report\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=r.bin\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--zz--\r\n")
    return [(False, b"220 mx ESMTP\r\n"), (True, b"EHLO ws\r\n"), (False, b"250 ok\r\n"),
            (True, b"MAIL FROM:<a@corp.example>\r\n"), (False, b"250 ok\r\n"),
            (True, b"RCPT TO:<b@ext.example>\r\n"), (False, b"250 ok\r\n"), (True, b"DATA\r\n"),
            (False, b"354 go\r\n"), (True, mail + b".\r\n"), (False, b"250 queued\r\n"),
            (True, b"QUIT\r\n"), (False, b"221 bye\r\n")]


BARE = "import dpkt,sys\nn=0\nfor ts,buf in dpkt.pcap.Reader(open(sys.argv[1],'rb')): n+=1\nprint(n)"
OURS = ("import json,resource,sys\nfrom pathlib import Path\nfrom forensics.ingestors.base import IngestContext\n"
        "from forensics.ingestors.pcap import PcapIngestor\nfrom forensics.net import parallel\n"
        "ctx=IngestContext(Path(sys.argv[1]),'0'*64,'pcap','bench.pcap')\n"
        # the worker processes' own CPU and peak RSS, from their end-of-capture summaries
        "seen=[]\nrecords=parallel.Merged.records\n"
        "def spy(self):\n    yield from records(self)\n    seen.append(self.summaries)\n"
        "parallel.Merged.records=spy\n"
        "n=0\nfor r in PcapIngestor().ingest(ctx): n+=1\n"
        "u=resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(json.dumps({'records':n,'parent_cpu':u.ru_utime+u.ru_stime,'parent_rss':u.ru_maxrss/1024,"
        "'workers':[[s['cpu_s'],s['maxrss_mb']] for s in (seen[0] if seen else [])]}))")


def run_one(cmd: list[str]) -> tuple[float, float, float, str]:
    """(wall seconds, peak RSS MB, CPU seconds, last output line) of one reader.

    A fresh interpreter per measurement so RUSAGE_CHILDREN is this child's. CPU
    seconds (user + system) are reported beside wall time because on a shared
    machine wall time mostly measures the other tenants."""
    code = ("import resource,subprocess,sys,time\nt=time.perf_counter()\n"
            "o=subprocess.run(sys.argv[1:],capture_output=True,text=True).stdout\n"
            "w=time.perf_counter()-t\nu=resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print(w,u.ru_maxrss/1024,u.ru_utime+u.ru_stime,o.strip().splitlines()[-1] if o.strip() else '')")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True).stdout.split(" ", 3)
    return float(out[0]), float(out[1]), float(out[2]), out[3].strip()


def _processes(d: dict, bare_cpu: float, tshark_cpu: float | None, size: float, packets: int) -> None:
    """The ingestor's processes one by one: on a shared machine the CPU of the slowest one is the
    figure that predicts wall time on a quiet 2-core machine (the workers run side by side)."""
    w = d["workers"]
    print(f"ingestor processes: parent {d['parent_cpu']:.2f} CPU s (start-up, merge, detections), "
          f"{len(w)} workers {[round(c, 2) for c, _ in w]} CPU s")
    if not w:
        return
    path = d["parent_cpu"] + max(c for c, _ in w)  # an upper bound: the parent mostly works while the workers do
    print(f"  critical path <= parent + slowest worker = {path:.2f} CPU s -> {size / path:.1f} MB/s, "
          f"{packets / path:.0f} pkts/s")
    print(f"  bare loop CPU / critical path: {bare_cpu / path:.0%}  (target >= 40%)"
          + (f";  tshark CPU / critical path: {tshark_cpu / path:.2f}x  (target >= 1.5x)" if tshark_cpu else ""))
    total = d["parent_rss"] + sum(r for _, r in w)
    print(f"  peak RSS per process: parent {d['parent_rss']:.0f} MB, workers {[round(r) for _, r in w]} MB; "
          f"sum {total:.0f} MB (upper bound: pages shared since the fork count once per process)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--keep", type=Path, default=None, help="reuse/keep the generated capture here")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pcap-"))
    path = a.keep or tmp / "bench.pcap"
    try:
        if not path.exists():
            t = time.perf_counter()
            generate(path, a.mb)
            print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        size = path.stat().st_size / 1e6
        print("load average before: %.2f %.2f %.2f" % os.getloadavg())
        rows = []
        bare = run_one([sys.executable, "-c", BARE, str(path)])
        packets = int(bare[3])
        rows.append(("bare dpkt read loop", *bare))
        rows.append(("cyberclaim pcap ingestor", *run_one([sys.executable, "-c", OURS, str(path)])))
        tshark = shutil.which("tshark")
        if tshark:
            rows.append(("tshark -q -z conv,tcp", *run_one([tshark, "-q", "-n", "-z", "conv,tcp", "-r", str(path)])))
        print(f"capture: {size:.0f} MB, {packets} packets")
        print(f"{'reader':28} {'wall s':>8} {'MB/s':>8} {'pkts/s':>10} {'CPU s':>8} {'MB/CPU-s':>9} {'peak RSS MB':>12}")
        for name, wall, rss, cpu, *_ in rows:
            print(f"{name:28} {wall:8.2f} {size / wall:8.1f} {packets / wall:10.0f} {cpu:8.2f} {size / cpu:9.1f} "
                  f"{rss:12.0f}")
        ours, ours_cpu = rows[1][1], rows[1][3]
        print(f"ingestor / bare loop throughput: {rows[0][1] / ours:.0%} wall, {rows[0][3] / ours_cpu:.0%} CPU"
              f"  (target >= 40%)")
        if tshark:
            print(f"ingestor vs tshark throughput:   {rows[2][1] / ours:.2f}x wall, {rows[2][3] / ours_cpu:.2f}x CPU"
                  f"  (target >= 1.5x)")
        print(f"ingestor peak RSS: {rows[1][2]:.0f} MB  (target < 500 MB)")
        _processes(json.loads(rows[1][4]), rows[0][3], rows[2][3] if tshark else None, size, packets)
        print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
