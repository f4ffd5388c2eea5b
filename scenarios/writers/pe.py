"""A small, valid PE32 executable built byte by byte: DOS header and stub, COFF
and optional headers, .text/.rdata/.data sections, a real import table (so
pefile resolves imports and computes an imphash) and a correct checksum.
Scenario malware is made of these, so carved PEs in the memory image are real."""
from __future__ import annotations

import struct

FILE_ALIGN = 0x200
SECT_ALIGN = 0x1000
IMAGE_BASE = 0x400000
_DOS_STUB = (b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
             b"This program cannot be run in DOS mode.\r\r\n$\x00\x00\x00\x00\x00\x00\x00")


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _rdata(rva: int, imports: dict[str, list[str]]) -> tuple[bytes, int, int, int, int]:
    """Import tables laid out at `rva`; returns (bytes, import dir rva, size, IAT rva, IAT size)."""
    dlls = list(imports)
    thunk_counts = [len(imports[d]) + 1 for d in dlls]
    iat_size = 4 * sum(thunk_counts)
    desc_off = iat_size
    desc_size = 20 * (len(dlls) + 1)
    ilt_off = desc_off + desc_size
    names_off = ilt_off + iat_size
    # hint/name entries and dll names
    blob = bytearray()
    fn_rva: dict[tuple[str, str], int] = {}
    for d in dlls:
        for fn in imports[d]:
            fn_rva[(d, fn)] = rva + names_off + len(blob)
            entry = struct.pack("<H", 0) + fn.encode() + b"\x00"
            blob += entry + (b"\x00" if len(entry) % 2 else b"")
    dll_rva = {}
    for d in dlls:
        dll_rva[d] = rva + names_off + len(blob)
        blob += d.encode() + b"\x00"
    thunks = bytearray()
    firsts = []
    for d in dlls:
        firsts.append(len(thunks))
        for fn in imports[d]:
            thunks += struct.pack("<I", fn_rva[(d, fn)])
        thunks += b"\x00" * 4
    desc = bytearray()
    for d, first in zip(dlls, firsts):
        desc += struct.pack("<IIIII", rva + ilt_off + first, 0, 0, dll_rva[d], rva + first)
    desc += b"\x00" * 20
    data = bytes(thunks) + bytes(desc) + bytes(thunks) + bytes(blob)
    return data, rva + desc_off, desc_size, rva, iat_size


def _checksum(data: bytes, checksum_offset: int) -> int:
    """The PE checksum algorithm (as in imagehlp CheckSumMappedFile / pefile.generate_checksum)."""
    buf = data[:checksum_offset] + b"\x00\x00\x00\x00" + data[checksum_offset + 4:]
    if len(buf) % 4:
        buf += b"\x00" * (4 - len(buf) % 4)
    total = 0
    for (dword,) in struct.iter_unpack("<I", buf):
        total = (total & 0xFFFFFFFF) + dword + (total >> 32)
        if total > 2 ** 32:
            total = (total & 0xFFFFFFFF) + (total >> 32)
    total = (total & 0xFFFF) + (total >> 16)
    total = total + (total >> 16)
    total &= 0xFFFF
    return total + len(data)


def build_pe32(imports: dict[str, list[str]], data_strings: list[str], timestamp: int, gui: bool = False) -> bytes:
    """A PE32 (i386) image whose .data holds `data_strings` (NUL-separated, ASCII and UTF-16LE)."""
    text_rva, rdata_rva, data_rva = 0x1000, 0x2000, 0x3000
    rdata, imp_rva, imp_size, iat_rva, iat_size = _rdata(rdata_rva, imports)
    # .text: a plausible prologue, a call through the first IAT slot, return.
    code = (b"\x55\x8b\xec\x6a\x00\x6a\x00\xff\x15" + struct.pack("<I", IMAGE_BASE + iat_rva)
            + b"\x33\xc0\x5d\xc3")
    code += b"\xcc" * (64 - len(code))
    dat = b"".join(s.encode("utf-8") + b"\x00" for s in data_strings)
    dat += b"".join(s.encode("utf-16-le") + b"\x00\x00" for s in data_strings)
    sections = [(b".text", code, text_rva, 0x60000020), (b".rdata", rdata, rdata_rva, 0x40000040),
                (b".data", dat, data_rva, 0xC0000040)]
    assert len(rdata) <= SECT_ALIGN and len(dat) <= 4 * SECT_ALIGN, "PE content too large for the fixed layout"
    headers_size = FILE_ALIGN * 2
    e_lfanew = 0x80
    dos = bytearray(64)
    struct.pack_into("<2sHHHHHHHHHHHHH", dos, 0, b"MZ", 0x90, 3, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0, 0x40, 0)
    struct.pack_into("<I", dos, 0x3C, e_lfanew)
    dos = bytes(dos) + _DOS_STUB
    dos += b"\x00" * (e_lfanew - len(dos))
    raw_ptr = headers_size
    table = b""
    bodies = b""
    last_rva_end = 0
    for name, body, rva, chars in sections:
        raw_size = _align(len(body), FILE_ALIGN)
        table += struct.pack("<8sIIIIIIHHI", name, len(body), rva, raw_size, raw_ptr, 0, 0, 0, 0, chars)
        bodies += body + b"\x00" * (raw_size - len(body))
        raw_ptr += raw_size
        last_rva_end = rva + _align(len(body), SECT_ALIGN)
    coff = struct.pack("<4sHHIIIHH", b"PE\x00\x00", 0x14C, len(sections), timestamp, 0, 0, 0xE0, 0x0102)
    dirs = [(0, 0)] * 16
    dirs[1] = (imp_rva, imp_size)
    dirs[12] = (iat_rva, iat_size)
    opt = struct.pack("<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII", 0x10B, 14, 0, _align(len(code), FILE_ALIGN),
                      _align(len(rdata), FILE_ALIGN) + _align(len(dat), FILE_ALIGN), 0, text_rva, text_rva,
                      rdata_rva, IMAGE_BASE, SECT_ALIGN, FILE_ALIGN, 6, 0, 0, 0, 6, 0, 0, last_rva_end,
                      headers_size, 0, 2 if gui else 3, 0x8140, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    opt += b"".join(struct.pack("<II", *d) for d in dirs)
    head = dos + coff + opt + table
    image = bytearray(head + b"\x00" * (headers_size - len(head)) + bodies)
    checksum_offset = e_lfanew + 24 + 64
    struct.pack_into("<I", image, checksum_offset, _checksum(bytes(image), checksum_offset))
    return bytes(image)
