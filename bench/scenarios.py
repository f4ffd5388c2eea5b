"""Scenario generation throughput: `python -m bench.scenarios [--scales 1,20] [--name industrial_ransomware]`.

For each scale: wall time, capture size and packets, packets/s and peak RSS, side
by side with two references on the same capture: re-writing its frames with a
bare dpkt.pcap.Writer loop (the floor for any dpkt-based writer) and reading it
with tshark (what a consumer pays per packet)."""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import dpkt

import scenarios


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="industrial_ransomware")
    ap.add_argument("--scales", default="1,20")
    args = ap.parse_args()
    print(f"{'scale':>5} {'gen s':>7} {'pcap MB':>8} {'packets':>9} {'gen pkt/s':>10} {'dpkt-rewrite pkt/s':>18} "
          f"{'ratio':>6} {'tshark pkt/s':>12} {'ratio':>6} {'peak RSS MB':>11}")
    for scale in (int(s) for s in args.scales.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            out = scenarios.generate(args.name, Path(tmp) / "s", scale=scale)
            gen = time.perf_counter() - t
            cap = next(p for p in sorted((out / "evidence").iterdir()) if p.suffix in (".pcap", ".pcapng"))
            size = cap.stat().st_size / 1e6
            t = time.perf_counter()
            n = 0
            with open(cap, "rb") as f, open(Path(tmp) / "re.pcap", "wb") as g:
                w = dpkt.pcap.Writer(g)
                reader = dpkt.pcapng.Reader(f) if cap.suffix == ".pcapng" else dpkt.pcap.Reader(f)
                for ts, buf in reader:
                    w.writepkt(bytes(dpkt.ethernet.Ethernet(buf)), ts)  # parse + re-pack: dpkt's own per-frame cost
                    n += 1
            rewrite = time.perf_counter() - t
            tshark_rate = float("nan")
            if shutil.which("tshark"):
                t = time.perf_counter()
                subprocess.run(["tshark", "-r", str(cap), "-q", "-z", "io,stat,0"], capture_output=True, check=True)
                tshark_rate = n / (time.perf_counter() - t)
            print(f"{scale:>5} {gen:>7.2f} {size:>8.1f} {n:>9} {n / gen:>10.0f} {n / rewrite:>18.0f} "
                  f"{(n / gen) / (n / rewrite):>6.2f} {tshark_rate:>12.0f} {(n / gen) / tshark_rate:>6.2f} {_peak_rss_mb():>11.0f}")
    print("gen s covers every evidence file, the 2-year revenue series and truth.json, not only the capture; "
          "ratio = generator packets/s over the reference's.")


if __name__ == "__main__":
    main()
