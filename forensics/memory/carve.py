"""Symbol-free carvers run on each scan window: OS banners, Windows kernel PDB
signatures, network indicators in clear text, PE headers. Every hit carries
its physical offset; a hit is kept only by the window that owns its start."""
from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from forensics.memory.scan import Window

LINUX_BANNER = re.compile(rb"Linux version \d+\.\d+[\x20-\x7e]{10,400}")
# CodeView record of the kernel image: RSDS, GUID(16), age(4), pdb file name.
URL = re.compile(rb"\b(?:https?|ftp)://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]{3,512}")
# Loose shapes, checked with ipaddress afterwards: simple patterns keep Python's regex engine fast.
IPV4 = re.compile(rb"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
IPV6_FULL = re.compile(rb"[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}")
_HEXCOLON = frozenset(b"0123456789abcdefABCDEF:.")
TLDS = (b"com|net|org|info|biz|io|ru|cn|su|top|xyz|onion|cc|tk|pw|club|online|site|me|co|uk|de|su|gov|edu|mil")
DOMAIN = re.compile(rb"(?<![A-Za-z0-9\-.])(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.){1,8}(?:" + TLDS + rb")(?![A-Za-z0-9\-])")
MIN_RUN = 6  # printable bytes in a row before a run is worth a regex
MAX_HITS = 20000  # distinct indicators kept per image
MAX_OFFSETS = 20  # offsets kept per indicator
MAX_PES = 256
MAX_PE_BYTES = 16 << 20
PDB_NAMES = (b"ntkrnlmp.pdb", b"ntoskrnl.pdb", b"ntkrpamp.pdb", b"ntkrnlpa.pdb")


_PRINTABLE = np.zeros(256, dtype=bool)
_PRINTABLE[0x20:0x7F] = True


def printable_runs(data: bytes, min_len: int = MIN_RUN) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of runs of printable ASCII, vectorised: regexes then only see text, not the binary bulk."""
    m = _PRINTABLE[np.frombuffer(data, dtype=np.uint8)]
    if not len(m):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    edges = np.flatnonzero(m[1:] != m[:-1]) + 1
    bounds = np.concatenate(([0], edges, [len(m)]))
    starts, ends = bounds[:-1], bounds[1:]
    sel = m[starts] & ((ends - starts) >= min_len)
    return starts[sel], ends[sel]


def pdb_guid(raw: bytes) -> str:
    d1, d2, d3 = struct.unpack("<IHH", raw[:8])
    return f"{d1:08X}{d2:04X}{d3:04X}{raw[8:].hex().upper()}"


@dataclass
class CarveResults:
    banners: list[dict] = field(default_factory=list)  # {phys, text}
    kernel_pdbs: list[dict] = field(default_factory=list)  # {phys, pdb_name, guid, age}
    indicators: dict[tuple[str, str], dict] = field(default_factory=dict)  # (kind, value) -> {count, offsets}
    pes: list[dict] = field(default_factory=list)  # {phys, file_offset, data}
    truncated: set[str] = field(default_factory=set)


class Carver:
    def __init__(self, indicators: bool = True, pe: bool = True):
        self.res = CarveResults()
        self.want_ind = indicators
        self.want_pe = pe

    def __call__(self, w: Window) -> None:
        data, owned = w.data, w.owned
        for m in LINUX_BANNER.finditer(data):
            if m.start() < owned and len(self.res.banners) < 100:
                self.res.banners.append({"phys": w.phys + m.start(), "text": m.group().decode("latin-1")})
        pos = data.find(b"RSDS")
        while 0 <= pos < owned and len(self.res.kernel_pdbs) < 100:  # bounded: pos increases
            name = data[pos + 24:pos + 24 + 13].split(b"\x00", 1)[0].lower()
            if name in PDB_NAMES:
                self.res.kernel_pdbs.append({"phys": w.phys + pos, "pdb_name": name.decode(),
                                             "guid": pdb_guid(data[pos + 4:pos + 20]),
                                             "age": struct.unpack_from("<I", data, pos + 20)[0]})
            pos = data.find(b"RSDS", pos + 4)
        if self.want_ind:
            self._indicators(w)
        if self.want_pe:
            self._pes(w)

    def _add(self, kind: str, value: str, phys: int) -> None:
        ind = self.res.indicators
        rec = ind.get((kind, value))
        if rec is None:
            if len(ind) >= MAX_HITS:
                self.res.truncated.add("indicators")
                return
            rec = ind[(kind, value)] = {"count": 0, "offsets": []}
        rec["count"] += 1
        if len(rec["offsets"]) < MAX_OFFSETS:
            rec["offsets"].append(phys)

    def _indicators(self, w: Window) -> None:
        starts, ends = printable_runs(w.data)
        starts, ends = starts[starts < w.owned], ends[starts < w.owned]
        if not len(starts):
            return
        # Text of all runs joined by newlines; pos_in_text -> data offset through the run table.
        text = b"\n".join(w.data[s:e] for s, e in zip(starts.tolist(), ends.tolist()))
        lens = (ends - starts) + 1
        text_starts = np.concatenate(([0], np.cumsum(lens)[:-1]))

        def phys(pos: int) -> int:
            i = int(np.searchsorted(text_starts, pos, side="right")) - 1
            return w.phys + int(starts[i]) + pos - int(text_starts[i])

        for m in URL.finditer(text):
            self._add("url", m.group().decode("latin-1").rstrip(".,;:'\")]"), phys(m.start()))
        for m in IPV4.finditer(text):
            st, en = m.span()
            if (st and text[st - 1] in b"0123456789.") or (en < len(text) and text[en] in b"0123456789."):
                continue  # part of a longer dotted number (a version string)
            try:
                a = ipaddress.IPv4Address(m.group().decode())
            except ValueError:
                continue
            ip = str(a)
            # 0.x, multicast/reserved and 255.x are almost always version numbers or masks in memory
            if not (a.is_unspecified or a.is_reserved or a.is_multicast or ip.startswith(("0.", "255."))):
                self._add("ipv4", ip, phys(st))
        for st, cand in self._ipv6_candidates(text):
            try:
                a6 = ipaddress.IPv6Address(cand.decode())
            except ValueError:
                continue
            if sum(1 for g in a6.exploded.split(":") if int(g, 16)) >= 2:
                self._add("ipv6", a6.compressed, phys(st))
        for m in DOMAIN.finditer(text):
            self._add("domain", m.group().decode(), phys(m.start()))

    @staticmethod
    def _ipv6_candidates(text: bytes):
        """Compressed forms grow out of each '::'; full 8-group forms come from a regex."""
        seen = set()
        pos = text.find(b"::")
        while pos >= 0:  # bounded: pos increases
            st, en = pos, pos + 2
            while st > 0 and text[st - 1] in _HEXCOLON and pos - st < 40:
                st -= 1
            while en < len(text) and text[en] in _HEXCOLON and en - pos < 40:
                en += 1
            if st not in seen and en - st >= 4:
                seen.add(st)
                yield st, text[st:en]
            pos = text.find(b"::", en)
        for m in IPV6_FULL.finditer(text):
            if m.start() not in seen:
                yield m.start(), m.group()

    def _pes(self, w: Window) -> None:
        data, owned = w.data, w.owned
        pos = data.find(b"MZ")
        while 0 <= pos < owned:  # bounded: pos strictly increases
            if len(self.res.pes) >= MAX_PES:
                self.res.truncated.add("pe")
                return
            if pos + 0x40 <= len(data):
                lfanew = struct.unpack_from("<I", data, pos + 0x3C)[0]
                if 0x40 <= lfanew < 0x1000 and data[pos + lfanew:pos + lfanew + 4] == b"PE\x00\x00":
                    opt = pos + lfanew + 24
                    size = struct.unpack_from("<I", data, opt + 56)[0] if opt + 60 <= len(data) else 0
                    self.res.pes.append({"phys": w.phys + pos, "file_offset": w.file_offset + pos,
                                         "size_of_image": size})
            pos = data.find(b"MZ", pos + 2)
