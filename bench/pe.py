"""PE files per second: our analyze_pe (hashes, imphash, sections + entropy,
imports/exports, version info, packer hints) over the corpus PEs repeated to
2,000 files, beside pefile's own full parse + imphash of the same bytes.

    .venv/bin/python -m bench.pe [--files 2000]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pefile

from forensics.pe_analysis import analyze_pe


def corpus_pes() -> list[bytes]:
    root = Path(os.environ.get("CYBERCLAIM_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
    files = sorted(p for p in (root / "pe").glob("*") if p.suffix.lower() in (".exe", ".dll", ".sys"))
    if not files:
        raise SystemExit(f"no PE files under {root / 'pe'}")
    return [p.read_bytes() for p in files]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    a = ap.parse_args()
    pes = corpus_pes()
    work = [pes[i % len(pes)] for i in range(a.files)]
    mb = sum(map(len, work)) / 1e6
    t = time.perf_counter()
    for d in work:
        analyze_pe(d)
    ours = time.perf_counter() - t
    t = time.perf_counter()
    for d in work:
        pe = pefile.PE(data=d)
        pe.get_imphash()
    ref = time.perf_counter() - t
    print(f"{a.files} PE files ({len(pes)} distinct corpus PEs, {mb:.1f} MB)")
    print(f"{'':28}{'cyberclaim analyze_pe':>24}{'pefile full parse':>20}")
    print(f"{'seconds':28}{ours:>24.2f}{ref:>20.2f}")
    print(f"{'files/s':28}{a.files / ours:>24.0f}{a.files / ref:>20.0f}")
    print(f"ratio ours/pefile (files/s) = {ref / ours:.2f}")


if __name__ == "__main__":
    main()
