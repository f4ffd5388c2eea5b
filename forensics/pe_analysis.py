"""Static PE triage with pefile: one function, used for PE evidence and for PEs
carved from memory or network captures.

`analyze_pe(data)` never raises for bad input: it returns what it could read
plus a list of `PeProblem(offset, reason)`. Hostile files (corkami PoCs: no
sections, 96 sections, 13 data directories, headers pointing past EOF) are the
normal case here, so every table is read defensively and bounded.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pefile

MAX_IMPORTS = 4000  # functions kept per file; more is itself a finding (import bloat)
MAX_EXPORTS = 2000
HIGH_ENTROPY = 7.2  # bits/byte; compressed or encrypted section content
PACKER_SECTIONS = {
    "UPX0": "UPX", "UPX1": "UPX", "UPX2": "UPX", ".aspack": "ASPack", ".adata": "ASPack", ".MPRESS1": "MPRESS",
    ".MPRESS2": "MPRESS", ".petite": "Petite", ".nsp0": "NsPack", ".nsp1": "NsPack", ".themida": "Themida",
    ".winlice": "WinLicense", ".vmp0": "VMProtect", ".vmp1": "VMProtect", ".enigma1": "Enigma", ".perplex": "Perplex",
    "pebundle": "PEBundle", ".packed": "generic", ".RLPack": "RLPack", "FSG!": "FSG", ".kkrunchy": "kkrunchy",
}
_DIR = pefile.DIRECTORY_ENTRY
_SCN_MEM_EXECUTE = 0x20000000
_SCN_MEM_WRITE = 0x80000000
_SCN_CNT_CODE = 0x20


@dataclass(slots=True, frozen=True)
class PeProblem:
    offset: int | None
    reason: str


@dataclass(slots=True)
class PeReport:
    info: dict = field(default_factory=dict)
    problems: list[PeProblem] = field(default_factory=list)
    ok: bool = False  # headers parsed


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (vectorised byte histogram)."""
    if not data:
        return 0.0
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum())


def hashes(data: bytes) -> dict:
    return {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def _s(b: bytes | str | None) -> str:
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return b.rstrip(b"\x00").decode("latin-1")


def analyze_pe(data: bytes, reference_time_s: int | None = None) -> PeReport:
    """Parse one PE image. `reference_time_s` is "now" for the future-timestamp flag."""
    rep = PeReport()
    rep.info.update(hashes(data))
    bad = _header_problem(data)
    if bad:
        # Decided here, not by pefile: its failure path calls close(), which runs a full gc.collect()
        # (seconds in a process holding a big heap, for every non-PE "MZ" carved from memory).
        rep.problems.append(PeProblem(bad[0], bad[1]))
        return rep
    try:
        pe = pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError as e:
        rep.problems.append(PeProblem(0, f"not a parseable PE: {e.value if hasattr(e, 'value') else e}"))
        return rep
    except Exception as e:  # pefile raises odd things on hostile input; never let them escape
        rep.problems.append(PeProblem(0, f"PE parser failure: {type(e).__name__}: {e}"))
        return rep
    rep.ok = True
    try:
        _headers(pe, data, rep, reference_time_s)
        _sections(pe, data, rep)
        _directories(pe, data, rep)
        _packer_hints(rep)
    except Exception as e:  # keep what is already in rep.info
        rep.problems.append(PeProblem(None, f"PE analysis stopped early: {type(e).__name__}: {e}"))
    for w in pe.get_warnings()[:20]:
        rep.info.setdefault("pefile_warnings", []).append(w)
    # no pe.close(): parsed from bytes there is nothing to close, and close() runs a full gc.collect()
    return rep


def _header_problem(data: bytes) -> tuple[int, str] | None:
    if len(data) < 0x40 or data[:2] != b"MZ":
        return 0, "not a PE: no MZ header"
    lfanew = int.from_bytes(data[0x3C:0x40], "little")
    if lfanew + 24 > len(data):
        return 0x3C, f"not a parseable PE: e_lfanew {lfanew} points outside the file ({len(data)} bytes)"
    if data[lfanew:lfanew + 4] != b"PE\x00\x00":
        return lfanew, "not a parseable PE: no PE signature at e_lfanew"
    return None


def _headers(pe: pefile.PE, data: bytes, rep: PeReport, ref: int | None) -> None:
    fh, oh = pe.FILE_HEADER, getattr(pe, "OPTIONAL_HEADER", None)
    info = rep.info
    info["machine"] = pefile.MACHINE_TYPE.get(fh.Machine, hex(fh.Machine))
    stamp = int(fh.TimeDateStamp)
    now = ref if ref is not None else int(datetime.now(timezone.utc).timestamp())
    info["compile_time"] = stamp
    info["compile_time_iso"] = datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    info["compile_time_zero"] = stamp == 0
    info["compile_time_future"] = stamp > now
    info["is_dll"] = bool(fh.Characteristics & 0x2000)
    info["pe_offset"] = int(pe.DOS_HEADER.e_lfanew)
    if oh is None:
        rep.problems.append(PeProblem(info["pe_offset"], "no optional header"))
        return
    info["pe32plus"] = oh.Magic == 0x20B
    info["subsystem"] = pefile.SUBSYSTEM_TYPE.get(oh.Subsystem, str(oh.Subsystem))
    info["image_base"] = int(oh.ImageBase)
    info["entry_point"] = int(oh.AddressOfEntryPoint)
    info["number_of_rva_and_sizes"] = int(oh.NumberOfRvaAndSizes)
    # Native subsystem here; importing from the kernel (see _directories) also makes it a driver.
    info["is_driver"] = info["subsystem"] == "IMAGE_SUBSYSTEM_NATIVE"
    dirs = oh.DATA_DIRECTORY
    # A PE may declare fewer than 16 directories (corkami tiny.exe has 13): index with a bound check.
    com = dirs[_DIR["IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR"]] if len(dirs) > 14 else None
    info["is_dotnet"] = bool(com and com.VirtualAddress and com.Size)
    sec = dirs[_DIR["IMAGE_DIRECTORY_ENTRY_SECURITY"]] if len(dirs) > 4 else None
    # The security directory's address is a file offset, not an RVA.
    signed = bool(sec and sec.VirtualAddress and sec.Size)
    info["authenticode_present"] = signed
    if signed and sec.VirtualAddress + sec.Size > len(data):
        info["authenticode_truncated"] = True
        rep.problems.append(PeProblem(int(sec.VirtualAddress), "Authenticode directory points past the end of the file"))
    if oh.SizeOfHeaders > len(data):
        rep.problems.append(PeProblem(0, f"SizeOfHeaders {oh.SizeOfHeaders} is beyond the end of the file ({len(data)} bytes)"))


def _sections(pe: pefile.PE, data: bytes, rep: PeReport) -> None:
    out = []
    ep = rep.info.get("entry_point", 0)
    ep_section = None
    sec_table = pe.FILE_HEADER.get_file_offset() + 20 + pe.FILE_HEADER.SizeOfOptionalHeader
    for i, s in enumerate(pe.sections):
        raw_off, raw_size = int(s.PointerToRawData), int(s.SizeOfRawData)
        chars = int(s.Characteristics)
        name = _s(s.Name)
        body = data[raw_off:raw_off + raw_size] if raw_off < len(data) else b""
        d = {
            "name": name, "virtual_address": int(s.VirtualAddress), "virtual_size": int(s.Misc_VirtualSize),
            "raw_offset": raw_off, "raw_size": raw_size, "characteristics": chars,
            "entropy": round(entropy(body), 4),
            "executable": bool(chars & (_SCN_MEM_EXECUTE | _SCN_CNT_CODE)), "writable": bool(chars & _SCN_MEM_WRITE),
        }
        d["write_execute"] = d["executable"] and d["writable"]
        d["high_entropy"] = d["entropy"] >= HIGH_ENTROPY
        if raw_size and raw_off + raw_size > len(data):
            d["outside_file"] = True
            rep.problems.append(PeProblem(sec_table + 40 * i,
                                          f"section {name!r} raw data {raw_off}+{raw_size} extends past the end of the file ({len(data)} bytes)"))
        vs = max(d["virtual_size"], raw_size)
        if d["virtual_address"] <= ep < d["virtual_address"] + vs and ep_section is None:
            ep_section = name
        out.append(d)
    rep.info["sections"] = out
    rep.info["section_count"] = len(out)
    rep.info["entry_point_section"] = ep_section
    rep.info["entry_point_outside_sections"] = ep_section is None and ep != 0 and bool(out)


def _directories(pe: pefile.PE, data: bytes, rep: PeReport) -> None:
    wanted = [_DIR[n] for n in ("IMAGE_DIRECTORY_ENTRY_IMPORT", "IMAGE_DIRECTORY_ENTRY_EXPORT", "IMAGE_DIRECTORY_ENTRY_RESOURCE")]
    try:
        pe.parse_data_directories(directories=wanted)
    except Exception as e:
        rep.problems.append(PeProblem(None, f"data directories unreadable: {type(e).__name__}: {e}"))
    imports: dict[str, list[str]] = {}
    n = 0
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])[:512]:
        dll = _s(entry.dll).lower()
        funcs = imports.setdefault(dll, [])
        for imp in entry.imports:
            if n >= MAX_IMPORTS:
                rep.info["imports_truncated"] = True
                break
            funcs.append(_s(imp.name) if imp.name else f"ord{imp.ordinal}")
            n += 1
    rep.info["imports"] = imports
    rep.info["import_count"] = n
    try:
        rep.info["imphash"] = pe.get_imphash() if imports else ""
    except Exception:
        rep.info["imphash"] = ""
    if any(d in ("ntoskrnl.exe", "hal.dll", "ndis.sys", "fltmgr.sys") for d in imports):
        rep.info["is_driver"] = True
    exp = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    exports = []
    if exp is not None:
        for sym in exp.symbols[:MAX_EXPORTS]:
            exports.append(_s(sym.name) if sym.name else f"ord{sym.ordinal}")
        rep.info["export_dll_name"] = _s(getattr(exp, "name", b"")) if getattr(exp, "name", None) else ""
    rep.info["exports"] = exports
    try:
        ov = pe.get_overlay_data_start_offset()
    except Exception:
        ov = None
    # With no sections the loader maps the whole file as headers: there is no overlay.
    if ov is not None and ov < len(data) and pe.sections:
        rep.info["overlay_offset"] = int(ov)
        rep.info["overlay_size"] = len(data) - int(ov)
        rep.info["overlay_entropy"] = round(entropy(data[ov:ov + (1 << 20)]), 4)
    rep.info["version_info"] = _version_info(pe)


def _version_info(pe: pefile.PE) -> dict:
    out: dict[str, str] = {}
    for fi in getattr(pe, "FileInfo", None) or []:
        for entry in fi if isinstance(fi, list) else [fi]:
            for table in getattr(entry, "StringTable", []) or []:
                for k, v in table.entries.items():
                    out[_s(k)] = _s(v)
    return dict(sorted(out.items()))


def _packer_hints(rep: PeReport) -> None:
    hints = []
    secs = rep.info.get("sections", [])
    for s in secs:
        if s["name"] in PACKER_SECTIONS:
            hints.append(f"section {s['name']} ({PACKER_SECTIONS[s['name']]})")
    if any(s["write_execute"] for s in secs):
        hints.append("writable+executable section")
    if any(s["high_entropy"] and s["executable"] for s in secs):
        hints.append("high-entropy executable section")
    if secs and rep.info.get("import_count", 0) < 5 and not rep.info.get("is_dotnet") and any(s["high_entropy"] for s in secs):
        hints.append("few imports with high-entropy data")
    if rep.info.get("entry_point_outside_sections"):
        hints.append("entry point outside every section")
    if secs and rep.info.get("entry_point_section") and rep.info["entry_point_section"] == secs[-1]["name"] and len(secs) > 1:
        hints.append("entry point in last section")
    rep.info["packer_hints"] = hints
