"""A raw memory-style image: 4 KiB pages of zeros and noise (freed and
compressed pages look like that), with real PE files and strings (ransom note,
wallet, C2 URLs and IPs, command lines) planted at recorded offsets.

Written 1 MiB at a time; the background of each block is drawn from an RNG
seeded by (seed, block index), so the bytes do not depend on how the image is
streamed. Artifacts sit in the first `BASE_SIZE`, so their offsets do not move
with --scale, which only adds background."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAGE = 4096
BLOCK = 1 << 20
BASE_SIZE = 16 * BLOCK
SCALE_STEP = 4 * BLOCK  # each --scale unit beyond 1 adds this much background
MAX_SIZE = 1 << 30


@dataclass
class Artifact:
    kind: str  # "pe" | "string"
    label: str
    data: bytes
    encoding: str = "binary"  # ascii | utf-16-le | binary
    offset: int = 0


def image_size(scale: int) -> int:
    return min(MAX_SIZE, BASE_SIZE + SCALE_STEP * max(0, scale - 1))


def place(artifacts: list[Artifact], seed: int) -> list[Artifact]:
    """Give each artifact a page-aligned (PEs) or in-page (strings) offset, without overlap."""
    rng = np.random.default_rng([seed, 0xC0FFEE])
    pages = BASE_SIZE // PAGE
    chosen = sorted(int(x) for x in rng.choice(np.arange(16, pages - 16), size=len(artifacts), replace=False))
    # spread them in the given order, each on its own pages
    spans = []
    for art, page in zip(artifacts, chosen):
        spans.append((art, page))
    out = []
    prev_end = 0
    for art, page in spans:
        off = page * PAGE
        if art.kind == "string":
            off += 16 * int(rng.integers(0, 64))
        off = max(off, _align_up(prev_end, PAGE))
        art.offset = off
        prev_end = off + len(art.data)
        out.append(art)
    return out


def _align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _background(seed: int, block: int) -> bytearray:
    rng = np.random.default_rng([seed, block])
    buf = np.zeros(BLOCK, dtype=np.uint8)
    kinds = rng.integers(0, 10, BLOCK // PAGE)  # 0-5 zero, 6-8 noise, 9 small-integer tables
    for i in np.flatnonzero(kinds >= 6):
        lo = i * PAGE
        if kinds[i] == 9:
            buf[lo:lo + PAGE] = rng.integers(0, 16, PAGE, dtype=np.uint8)
        else:
            buf[lo:lo + PAGE] = rng.integers(0, 256, PAGE, dtype=np.uint8)
    return bytearray(buf.tobytes())


def write_image(path: Path, artifacts: list[Artifact], seed: int, scale: int) -> dict:
    size = image_size(scale)
    if artifacts and max(a.offset + len(a.data) for a in artifacts) > BASE_SIZE:
        raise ValueError("artifacts must fit in the base image")
    sha = hashlib.sha256()
    with open(path, "wb") as f:
        for block in range(size // BLOCK):
            buf = _background(seed, block)
            lo, hi = block * BLOCK, (block + 1) * BLOCK
            if block == 0:
                buf[:PAGE * 16] = b"\x00" * (PAGE * 16)  # low memory: zero pages
            for a in artifacts:
                a_lo, a_hi = a.offset, a.offset + len(a.data)
                if a_hi > lo and a_lo < hi:
                    s, e = max(a_lo, lo), min(a_hi, hi)
                    buf[s - lo:e - lo] = a.data[s - a_lo:e - a_lo]
            f.write(buf)
            sha.update(buf)
    return {"size": size, "sha256": sha.hexdigest()}


def truth_entries(artifacts: list[Artifact]) -> list[dict]:
    out = []
    for a in artifacts:
        e = {"kind": a.kind, "label": a.label, "offset": a.offset, "length": len(a.data), "encoding": a.encoding,
             "sha256": hashlib.sha256(a.data).hexdigest()}
        if a.kind == "string":
            e["text"] = a.data.decode(a.encoding if a.encoding != "binary" else "latin-1")
        out.append(e)
    return out


def strings(label: str, text: str, both: bool = True) -> list[Artifact]:
    """A string as a process would hold it: ASCII, and (Windows APIs) UTF-16LE."""
    arts = [Artifact("string", label, text.encode("ascii"), "ascii")]
    if both:
        arts.append(Artifact("string", label, text.encode("utf-16-le"), "utf-16-le"))
    return arts
