"""Capture file framing: classic pcap and pcapng, read in bounded chunks.

`packets(f)` yields `(frame_no, offset, ts_us, linktype, wire_len, data)` for
every packet record without ever holding more than one chunk (plus one record)
in memory. Frame numbers are 1-based like Wireshark's, so a lawyer can open the
same packet there. Damage to the framing stops the walk with `CaptureDamage`
naming the byte offset; everything before it has been yielded already.

pcapng blocks repeat their length at their end, so a block whose framing is
broken (impossible length, truncated, trailing length differs) is skipped up
to the next block that frames itself (a known type, its length sane and
repeated, its interface declared), noted in `info["skipped"]` the same way.
Classic pcap has no block markers, so a damaged record header (an impossible
length) would otherwise lose the rest of the file: the reader scans a bounded
window for the next plausible record (sane lengths and timestamp, confirmed by
the record after it) and resumes there, noting the skipped byte range in
`info["skipped"]` for the ingestor to report. Frame numbers after a skip count
the records actually read, so they can differ from Wireshark's (which stops).
"""
from __future__ import annotations

import mmap
import os
import re
import struct
from typing import BinaryIO, Iterator

import numpy as np

CHUNK = 1 << 22  # 4 MiB read size: big enough to amortise syscalls, small enough to stay flat
MAX_RECORD = 1 << 24  # no real link delivers a 16 MiB frame: a larger length means damage
RESYNC_WINDOW = 1 << 22  # bytes searched for the next plausible pcap record after damage
MAX_RESYNCS = 64  # a file damaged more often than this is not worth guessing through
MAX_CLOCK_JUMP_S = 7 * 86400  # a resumed record this far from the last good one is not believed

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1000),  # little-endian, nanoseconds (divide by 1000 for us)
    b"\xa1\xb2\x3c\x4d": (">", 1000),
}
PCAPNG_SHB = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D


class CaptureDamage(Exception):
    """The capture's framing is broken at `offset`; nothing after it can be trusted."""

    def __init__(self, offset: int, reason: str):
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


class UnknownLinkType(Exception):
    def __init__(self, offset: int, linktype: int):
        super().__init__(f"unsupported link type {linktype}")
        self.offset = offset
        self.linktype = linktype


class _Buffer:
    """A sliding window over the file: `buf[pos:]` is unread, `base` is the file offset of `buf[0]`."""

    __slots__ = ("f", "buf", "pos", "base", "eof")

    def __init__(self, f: BinaryIO):
        self.f = f
        self.buf = b""
        self.pos = 0
        self.base = 0
        self.eof = False

    def fill(self, need: int) -> bool:
        """Make `need` unread bytes available; False when the file ends first."""
        while len(self.buf) - self.pos < need and not self.eof:
            more = self.f.read(max(CHUNK, need))
            if not more:
                self.eof = True
                break
            self.base += self.pos
            self.buf = self.buf[self.pos:] + more
            self.pos = 0
        return len(self.buf) - self.pos >= need

    @property
    def offset(self) -> int:
        return self.base + self.pos


def packets(f: BinaryIO, info: dict | None = None, supported=None) -> Iterator[tuple[int, int, int, int, int, bytes]]:
    """Dispatch on the magic; `info` (if given) receives format details for the events.

    `supported` (a set of link types) makes a packet on any other link type damage."""
    info = info if info is not None else {}
    head = f.read(4)
    f.seek(0)
    if len(head) == 0:
        raise CaptureDamage(0, "empty file (zero bytes)")
    if head in PCAP_MAGICS:
        return _pcap(f, info, supported)
    if len(head) == 4 and struct.unpack("<I", head)[0] == PCAPNG_SHB:
        return _pcapng(f, info, supported)
    raise CaptureDamage(0, f"not a pcap or pcapng file (magic {head.hex()})")


class Batch:
    """Whole classic-pcap records in one buffer: record headers at `offs` (relative to `buf`, which
    starts at file offset `base`); the first is frame `frame0 + 1`."""

    __slots__ = ("buf", "base", "offs", "frame0", "order", "ns_div", "linktype")

    def __init__(self, buf, base, offs, frame0, order, ns_div, linktype):
        self.buf, self.base, self.offs, self.frame0 = buf, base, offs, frame0
        self.order, self.ns_div, self.linktype = order, ns_div, linktype


BATCH_READ = 1 << 23  # bytes read per batch: thousands of records, still flat memory


def batches(f: BinaryIO, info: dict, supported) -> Iterator:
    """Like `packets`, but classic pcap comes as `Batch`es of whole records, for vectorised readers.

    Only the walk over record headers is done here. Anything but clean framing (an
    implausible length, a truncated end) hands over to the per-packet reader at that
    record, which yields per-packet tuples from there on with the same frames, errors
    and resynchronisation as `packets`; so do pcapng and unsupported link types."""
    head = f.read(24)
    f.seek(0)
    if len(head) < 24 or head[:4] not in PCAP_MAGICS:
        yield from packets(f, info, supported)
        return
    order, ns_div = PCAP_MAGICS[head[:4]]
    snaplen, linktype = struct.unpack_from(order + "II", head, 16)
    linktype &= 0x0FFFFFFF
    if supported is not None and linktype not in supported:
        yield from packets(f, info, supported)
        return
    info.update(format="pcap", byte_order="little" if order == "<" else "big",
                ts_resolution="ns" if ns_div == 1000 else "us", snaplen=snaplen, linktypes=[linktype])
    info.setdefault("skipped", [])
    limit = min(max(snaplen, 262144) if snaplen else MAX_RECORD, MAX_RECORD)
    u32 = struct.Struct(order + "I").unpack_from
    size = os.fstat(f.fileno()).st_size
    gran = mmap.ALLOCATIONGRANULARITY
    at, frame, last_sec, window = 24, 0, None, BATCH_READ
    while True:
        # map a window of the file (no copy: the workers of one capture share the page cache)
        base = at - at % gran
        length = min(size - base, window + (at - base))
        buf = mmap.mmap(f.fileno(), length, offset=base, access=mmap.ACCESS_READ) if length > 0 else b""
        pos, n, offs, clean = at - base, length, [], True
        while pos + 16 <= n:
            caplen = u32(buf, pos + 8)[0]
            if caplen > limit:
                clean = False
                break
            end = pos + 16 + caplen
            if end > n:
                break
            offs.append(pos)
            pos = end
        if offs:
            yield Batch(buf, base, offs, frame, order, ns_div, linktype)
            frame += len(offs)
            last_sec = u32(buf, offs[-1])[0]
            window = BATCH_READ
        elif clean and base + n < size:
            window *= 2  # one record larger than the window
        at = base + pos
        if not clean or base + n >= size and not offs:
            if at < size:  # damage or a truncated end: the per-packet reader reports (and resyncs) from here
                f.seek(0)
                yield from _pcap(f, info, supported, resume=(at, frame, last_sec))
            return


def _pcap(f: BinaryIO, info: dict, supported, resume=None) -> Iterator[tuple[int, int, int, int, int, bytes]]:
    b = _Buffer(f)
    if not b.fill(24):
        raise CaptureDamage(0, f"pcap global header truncated ({len(b.buf)} of 24 bytes)")
    order, ns_div = PCAP_MAGICS[b.buf[:4]]
    _vmaj, _vmin, _zone, _sig, snaplen, linktype = struct.unpack_from(order + "HHiIII", b.buf, 4)
    # The upper bits of the link-type field carry FCS flags (pcap-linktype(7)).
    linktype &= 0x0FFFFFFF
    info.update(format="pcap", byte_order="little" if order == "<" else "big",
                ts_resolution="ns" if ns_div == 1000 else "us", snaplen=snaplen, linktypes=[linktype])
    if supported is not None and linktype not in supported:
        raise CaptureDamage(20, f"unsupported link type {linktype}: packets cannot be decoded")
    b.pos = 24
    limit = max(snaplen, 262144) if snaplen else MAX_RECORD
    limit = min(limit, MAX_RECORD)
    hdr = struct.Struct(order + "IIII")
    unpack_from = hdr.unpack_from
    frame = 0
    last_sec = None
    if resume is not None:  # continue a walk `batches` began: (file offset, frames so far, last record's seconds)
        f.seek(resume[0])
        b.buf, b.pos, b.base, b.eof = b"", 0, resume[0], False
        frame, last_sec = resume[1], resume[2]
    skipped = info.setdefault("skipped", [])
    # the hot loop keeps the window in locals and syncs `b` only around refills
    buf, pos, base, n = b.buf, b.pos, b.base, len(b.buf)
    while True:
        if n - pos < 16:
            b.pos = pos
            ok = b.fill(16)
            buf, pos, base, n = b.buf, b.pos, b.base, len(b.buf)
            if not ok:
                if n - pos:
                    raise CaptureDamage(base + pos, f"truncated record header ({n - pos} of 16 bytes) at end of file")
                return
        sec, frac, caplen, wirelen = unpack_from(buf, pos)
        if caplen > limit:
            damage = base + pos
            why = f"record claims {caplen} captured bytes (snaplen {snaplen}): damaged record header"
            b.pos = pos
            skip = _resync(b, order, limit, ns_div, last_sec) if len(skipped) < MAX_RESYNCS else None
            if skip is None:
                raise CaptureDamage(damage, why)
            skipped.append({"offset": damage, "length": skip, "reason": why})
            buf, pos, base, n = b.buf, b.pos + skip, b.base, len(b.buf)
            continue
        last_sec = sec
        start = pos + 16
        end = start + caplen
        if end > n:
            off = base + pos
            b.pos = pos
            ok = b.fill(16 + caplen)
            buf, pos, base, n = b.buf, b.pos, b.base, len(b.buf)
            if not ok:
                raise CaptureDamage(off, f"truncated record: {caplen} bytes announced, {max(n - pos - 16, 0)} present")
            start = pos + 16
            end = start + caplen
        frame += 1
        yield frame, base + pos, sec * 1_000_000 + frac // ns_div, linktype, wirelen, buf[start:end]
        pos = end


def _plausible(sec, frac, caplen, wirelen, limit, ns_div, last_sec) -> bool:
    return (0 < caplen <= limit and caplen <= wirelen <= MAX_RECORD and frac < 1_000_000 * ns_div
            and (last_sec is None or abs(sec - last_sec) <= MAX_CLOCK_JUMP_S))


def _resync(b: _Buffer, order: str, limit: int, ns_div: int, last_sec: int | None) -> int | None:
    """Distance from `b.pos` to the next plausible record header, or None within the window.

    Candidates are found vectorised (every byte position at once); each is
    confirmed by the record that follows it (or by ending exactly at EOF)."""
    b.fill(RESYNC_WINDOW + 32)
    win = b.buf[b.pos + 1:b.pos + 1 + RESYNC_WINDOW]
    dt = np.dtype(order + "u4")
    hits: list[int] = []
    for a in range(4):  # u32 views at every alignment: header fields at word index i..i+3
        n = (len(win) - a) // 4
        if n < 4:
            continue
        v = np.frombuffer(win, dtype=dt, count=n, offset=a).astype(np.int64)
        sec, frac, cap, wire = v[:-3], v[1:-2], v[2:-1], v[3:]
        ok = (cap > 0) & (cap <= limit) & (cap <= wire) & (wire <= MAX_RECORD) & (frac < 1_000_000 * ns_div)
        if last_sec is not None:
            ok &= np.abs(sec - last_sec) <= MAX_CLOCK_JUMP_S
        hits.extend((np.flatnonzero(ok) * 4 + a + 1).tolist())
    hdr = struct.Struct(order + "IIII")
    for rel in sorted(hits):
        sec, _frac, cap, _wire = hdr.unpack_from(b.buf, b.pos + rel)
        nxt = rel + 16 + cap
        if not b.fill(nxt + 16):
            if len(b.buf) - b.pos == nxt:  # the candidate is the last record of the file
                return rel
            continue
        s2, f2, c2, w2 = hdr.unpack_from(b.buf, b.pos + nxt)
        if _plausible(s2, f2, c2, w2, limit, ns_div, sec):
            return rel
    return None


def _tsresol_units(raw: int) -> tuple[int, int]:
    """if_tsresol byte -> (numerator, denominator) turning units into microseconds."""
    if raw & 0x80:
        return 1_000_000, 1 << (raw & 0x7F)
    exp = raw & 0x7F
    if exp >= 6:
        return 1, 10 ** (exp - 6)
    return 10 ** (6 - exp), 1


def _options(body: bytes, start: int, order: str) -> Iterator[tuple[int, bytes]]:
    """Walk pcapng TLV options; bounded by the block body."""
    pos = start
    end = len(body)
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", body, pos)
        pos += 4
        if code == 0:
            return
        yield code, body[pos:pos + length]
        pos += (length + 3) & ~3


_NG_TYPES = {"<": re.compile(rb"(?=[\x01-\x06]\x00\x00\x00|\x0a\x0d\x0d\x0a)"),
             ">": re.compile(rb"(?=\x00\x00\x00[\x01-\x06]|\x0a\x0d\x0d\x0a)")}


def _resync_ng(b: _Buffer, order: str, nifaces: int) -> int | None:
    """Distance from `b.pos` to the next plausible pcapng block, or None within the window.

    A candidate is a known block type (section header, interface description, packet,
    name resolution, statistics) whose length is sane and repeated at its end, and
    whose packets (if any) name an interface the section has."""
    b.fill(RESYNC_WINDOW + 32)
    end = min(len(b.buf), b.pos + 1 + RESYNC_WINDOW)
    for m in _NG_TYPES[order].finditer(b.buf, b.pos + 1, end):
        q = m.start()
        if len(b.buf) - q < 12:
            break
        o = order
        if b.buf[q:q + 4] == b"\x0a\x0d\x0d\x0a":
            bom = b.buf[q + 8:q + 12]
            o = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else None
            if o is None:
                continue
            btype = PCAPNG_SHB
        else:
            btype = struct.unpack_from(o + "I", b.buf, q)[0]
        blen = struct.unpack_from(o + "I", b.buf, q + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_RECORD or q + blen > len(b.buf):
            continue
        if struct.unpack_from(o + "I", b.buf, q + blen - 4)[0] != blen:
            continue
        if btype in (2, 3, 6):
            if not nifaces or blen < 16:
                continue
            if btype == 6 and (blen < 32 or struct.unpack_from(o + "I", b.buf, q + 8)[0] >= nifaces):
                continue
            if btype == 2 and (blen < 32 or struct.unpack_from(o + "H", b.buf, q + 8)[0] >= nifaces):
                continue
        return q - b.pos
    return None


def _pcapng(f: BinaryIO, info: dict, supported) -> Iterator[tuple[int, int, int, int, int, bytes]]:
    b = _Buffer(f)
    order = "<"
    # per section: list of (linktype, snaplen, units_num, units_den, offset_us)
    ifaces: list[tuple[int, int, int, int, int]] = []
    info.update(format="pcapng", sections=0, interfaces=[])
    frame = 0
    last_ts = 0
    while True:
        if not b.fill(12):
            left = len(b.buf) - b.pos
            if left:
                raise CaptureDamage(b.offset, f"truncated block header ({left} bytes) at end of file")
            return
        off = b.offset
        btype = struct.unpack_from("<I", b.buf, b.pos)[0]
        if btype == PCAPNG_SHB:
            bom = b.buf[b.pos + 8:b.pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                raise CaptureDamage(off + 8, f"section header with bad byte-order magic {bom.hex()}")
            ifaces = []  # interface ids are per section
            info["sections"] += 1
        else:
            btype = struct.unpack_from(order + "I", b.buf, b.pos)[0]
        blen = struct.unpack_from(order + "I", b.buf, b.pos + 4)[0]
        why = None
        if blen < 12 or blen % 4 or blen > MAX_RECORD:
            why = f"pcapng block type 0x{btype:08x} has invalid length {blen}"
        elif not b.fill(blen):
            why = f"pcapng block type 0x{btype:08x} truncated: {blen} bytes announced, {len(b.buf) - b.pos} present"
        elif struct.unpack_from(order + "I", b.buf, b.pos + blen - 4)[0] != blen:
            why = f"pcapng block type 0x{btype:08x}: trailing length does not match {blen}"
        if why is not None:  # broken framing: look for the next block that frames itself
            skipped = info.setdefault("skipped", [])
            skip = _resync_ng(b, order, len(ifaces)) if len(skipped) < MAX_RESYNCS else None
            if skip is None:
                raise CaptureDamage(off, why)
            skipped.append({"offset": off, "length": skip, "reason": why})
            b.pos += skip
            continue
        block = b.buf[b.pos:b.pos + blen]
        b.pos += blen
        body = block[8:blen - 4]
        if btype == 1:  # Interface Description Block
            if len(body) < 8:
                raise CaptureDamage(off, "interface description block too short")
            linktype, _res, snaplen = struct.unpack_from(order + "HHI", body, 0)
            num, den, tsoff = 1, 1, 0
            for code, val in _options(body, 8, order):
                if code == 9 and val:
                    num, den = _tsresol_units(val[0])
                elif code == 14 and len(val) == 8:
                    tsoff = struct.unpack(order + "q", val)[0] * 1_000_000
            ifaces.append((linktype, snaplen, num, den, tsoff))
            info["interfaces"].append({"linktype": linktype, "snaplen": snaplen,
                                       "tsresol_us": f"{num}/{den}", "byte_order": "little" if order == "<" else "big"})
        elif btype in (6, 2):  # Enhanced Packet Block, obsolete Packet Block
            if btype == 6:
                if len(body) < 20:
                    raise CaptureDamage(off, "enhanced packet block too short")
                iface, hi, lo, caplen, wirelen = struct.unpack_from(order + "IIIII", body, 0)
            else:
                if len(body) < 20:
                    raise CaptureDamage(off, "packet block too short")
                iface, _drops, hi, lo, caplen, wirelen = struct.unpack_from(order + "HHIIII", body, 0)
            if iface >= len(ifaces):
                raise CaptureDamage(off, f"packet references interface {iface} but the section has "
                                         f"{len(ifaces)} interface description block(s)")
            if caplen > len(body) - 20:
                raise CaptureDamage(off, f"packet block claims {caplen} captured bytes but holds {len(body) - 20}")
            linktype, _snap, num, den, tsoff = ifaces[iface]
            if supported is not None and linktype not in supported:
                raise CaptureDamage(off, f"packet on interface {iface} with unsupported link type {linktype}")
            units = (hi << 32) | lo
            ts = units * num // den + tsoff
            last_ts = ts
            frame += 1
            yield frame, off, ts, linktype, wirelen, body[20:20 + caplen]
        elif btype == 3:  # Simple Packet Block: interface 0, no timestamp
            if not ifaces:
                raise CaptureDamage(off, "simple packet block but the section has no interface description block")
            if len(body) < 4:
                raise CaptureDamage(off, "simple packet block too short")
            wirelen = struct.unpack_from(order + "I", body, 0)[0]
            linktype, snap, *_ = ifaces[0]
            if supported is not None and linktype not in supported:
                raise CaptureDamage(off, f"packet on interface 0 with unsupported link type {linktype}")
            caplen = min(wirelen, len(body) - 4, snap or MAX_RECORD)
            frame += 1
            # no timestamp of its own: carry the previous packet's so ordering stays sane
            yield frame, off, last_ts, linktype, wirelen, body[4:4 + caplen]
        # other blocks (NRB, ISB, DSB, custom) carry no packets
