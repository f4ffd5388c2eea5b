"""Benchmark: rendering the loss adjustment report, by format and chronology size.

Reference for the PDF: headless Chromium printing the very same HTML to PDF (our
PDF is WeasyPrint from that HTML; Chromium cannot embed the fonts as CID fonts
and needs a browser at run time, which is why we do not use it). Reference for
the XLSX: LibreOffice's load-recalculate-save of the schedule we write. (The
Debian LibreOffice here is Calc only, so DOCX→PDF is not available as a reference.)

    .venv/bin/python -m bench.report [--sizes 100,1000] [--no-soffice]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from adjusters.report.issue import render
from adjusters.report.samples import sample_report_data
from bench._util import peak_rss_mb

ISS = {"number": "LA-BENCH", "version": 1, "issued_at": "2026-04-01T00:00:00.000000Z", "issued": "2026-04-01"}


def _soffice(src: Path, to: str, outdir: Path, profile: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", to,
                    "--outdir", str(outdir), str(src)], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t


def _chromium(exe: str, html: Path, pdf: Path) -> float:
    t = time.perf_counter()
    subprocess.run([exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", html.as_uri()], check=True, capture_output=True, timeout=600)
    return time.perf_counter() - t


def _pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    return next((int(ln.split()[-1]) for ln in out.splitlines() if ln.startswith("Pages:")), -1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000", help="extra chronology lines per run")
    ap.add_argument("--no-soffice", action="store_true", help="skip the LibreOffice reference")
    a = ap.parse_args()
    use_soffice = not a.no_soffice and shutil.which("soffice") is not None
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        profile = tmp / "lo-profile"
        if use_soffice:  # first start of LibreOffice creates the profile; not part of any figure
            warm = tmp / "warm.txt"
            warm.write_text("warm")
            _soffice(warm, "pdf", tmp / "warm", profile)
        print(f"{'lines':>6} {'fmt':>5} {'ours s':>8} {'bytes':>10} {'pages':>6} {'reference':>28} {'ref s':>7} {'ours/ref':>9}")
        for n in [int(x) for x in a.sizes.split(",")]:
            t = time.perf_counter()
            d = sample_report_data(tmp / f"in{n}", extra_events=n)
            print(f"{n:>6} {'model':>5} {time.perf_counter() - t:>8.2f}   (build ReportData incl. real adjust())")
            times = {}
            for fmt in ("json", "html", "xlsx", "docx", "pdf"):
                t = time.perf_counter()
                body = render(d, fmt, "zh", ISS)
                times[fmt] = time.perf_counter() - t
                p = tmp / f"r{n}.{fmt}"
                p.write_bytes(body)
                pages = _pages(p) if fmt == "pdf" else ""
                ref, ref_s = "", None
                if chromium and fmt == "pdf":
                    ref_s = _chromium(chromium, tmp / f"r{n}.html", tmp / f"chromium{n}.pdf")
                    ref = f"chromium html→pdf ({_pages(tmp / f'chromium{n}.pdf')} p)"
                elif use_soffice and fmt == "xlsx":
                    (tmp / f"lx{n}").mkdir()
                    ref_s = _soffice(p, "xlsx", tmp / f"lx{n}", profile)
                    ref = "soffice load+recalc+save"
                ratio = f"{times[fmt] / ref_s:>9.2f}" if ref_s else ""
                print(f"{n:>6} {fmt:>5} {times[fmt]:>8.2f} {len(body):>10,} {pages!s:>6} {ref:>28} "
                      f"{(f'{ref_s:.2f}' if ref_s else ''):>7} {ratio}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB (self), {peak_rss_mb(True):.0f} MB (children)")


if __name__ == "__main__":
    main()
