"""Where each physical address lives in the image file.

Raw images are the identity map. An ELF core (QEMU dump-guest-memory) has one
PT_LOAD per RAM range; LiME has one header per range. Scanning the file through
this map gives physical offsets, so the raw and the ELF form of the same memory
report the same addresses.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

LIME_MAGIC = 0x4C694D45  # "EMiL" little-endian
MAX_SEGMENTS = 4096


@dataclass(frozen=True, slots=True)
class Segment:
    file_offset: int
    phys: int
    size: int


class LayoutError(ValueError):
    def __init__(self, offset: int, reason: str):
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def segments(path: Path, evidence_type: str) -> tuple[list[Segment], list[LayoutError]]:
    """The file's physical segments (clipped to the file: a truncated image keeps what is there)."""
    size = path.stat().st_size
    problems: list[LayoutError] = []
    with open(path, "rb") as f:
        if evidence_type == "elf_core":
            segs = _elf(f, size, problems)
        elif evidence_type == "lime":
            segs = _lime(f, size, problems)
        else:  # raw, and formats whose physical map we do not model (offsets are file offsets)
            segs = [Segment(0, 0, size)] if size else []
    return segs, problems


def _elf(f, size: int, problems: list[LayoutError]) -> list[Segment]:
    head = f.read(64)
    if len(head) < 64 or head[4] != 2:
        problems.append(LayoutError(0, "ELF core header truncated or not 64-bit"))
        return []
    end = "<" if head[5] == 1 else ">"
    phoff, = struct.unpack_from(end + "Q", head, 32)
    phentsize, phnum = struct.unpack_from(end + "HH", head, 54)
    out = []
    for i in range(min(phnum, MAX_SEGMENTS)):
        f.seek(phoff + i * phentsize)
        ph = f.read(56)
        if len(ph) < 56:
            problems.append(LayoutError(phoff + i * phentsize, f"ELF program header {i} truncated"))
            break
        p_type, _flags, p_off, _vaddr, p_paddr, p_filesz = struct.unpack_from(end + "IIQQQQ", ph, 0)
        if p_type != 1 or not p_filesz:
            continue
        if p_off >= size:
            problems.append(LayoutError(phoff + i * phentsize, f"PT_LOAD {i} starts past the end of the file (truncated image)"))
            continue
        if p_off + p_filesz > size:
            problems.append(LayoutError(size, f"PT_LOAD {i} (phys 0x{p_paddr:x}) cut short: image truncated at {size} bytes"))
        out.append(Segment(p_off, p_paddr, min(p_filesz, size - p_off)))
    return out


def _lime(f, size: int, problems: list[LayoutError]) -> list[Segment]:
    out, pos = [], 0
    while pos + 32 <= size and len(out) < MAX_SEGMENTS:
        f.seek(pos)
        magic, _ver, start, end, _res = struct.unpack("<IIQQQ", f.read(32))
        if magic != LIME_MAGIC or end < start:
            problems.append(LayoutError(pos, "bad LiME range header"))
            break
        n = end - start + 1
        avail = min(n, size - pos - 32)
        if avail < n:
            problems.append(LayoutError(size, f"LiME range 0x{start:x} cut short: image truncated"))
        out.append(Segment(pos + 32, start, avail))
        pos += 32 + n
    return out


def file_to_phys(segs: list[Segment], file_offset: int) -> int | None:
    for s in segs:
        if s.file_offset <= file_offset < s.file_offset + s.size:
            return s.phys + file_offset - s.file_offset
    return None
