"""Memory images built in the test from real parts (a real PE from the corpus,
real strings) at known offsets, so every physical offset can be asserted
exactly; the same memory wrapped as raw, ELF core and LiME; bad inputs."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from forensics.events import CarvedFile, Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.memory import MemoryIngestor
from forensics.memory import scan
from forensics.memory.layout import Segment
from forensics.yara_rules import load_pack

MB = 1 << 20
WIN, OVL = 1 * MB, 64 * 1024
PE_AT = 0x100000 + 0x2000
URL_AT = 0x180123
IP_AT = 0x1A0000
BANNER_AT = 0x40000
NOTE_AT = 0x1C0000
STRADDLE_AT = 2 * WIN - 10  # "sekurlsa::logonpasswords" crosses the 2 MiB window boundary
BANNER = b"Linux version 5.10.0-99-amd64 (test@example.org) (gcc 10.2.1) #1 SMP Debian 5.10.999-1 (2030-01-01)"
WALLET = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
NOTE = (b"All your files have been encrypted! To decrypt them send 0.5 bitcoin to wallet " + WALLET.encode()
        + b" and write to us via tor browser.")


def _memory(corpus: Path, size: int = 4 * MB, banner: bool = True) -> tuple[bytearray, bytes]:
    pe = (corpus / "pe" / "distlib_t64_console_x64.exe").read_bytes()
    m = bytearray(size)
    m[PE_AT:PE_AT + len(pe)] = pe
    m[URL_AT:URL_AT + 36] = b"GET http://evil.example.com/payload "[:36]
    m[IP_AT:IP_AT + 16] = b"C2=198.51.100.7;"
    if banner:
        m[BANNER_AT:BANNER_AT + len(BANNER)] = BANNER
    m[NOTE_AT:NOTE_AT + len(NOTE)] = NOTE
    s = b"sekurlsa::logonpasswords privilege::debug"
    m[STRADDLE_AT:STRADDLE_AT + len(s)] = s
    return m, pe


def _elf_core(mem: bytes, phys: int) -> bytes:
    """ELF64 core with one PT_LOAD at paddr `phys` (file offset differs from physical)."""
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7, 4, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    data_off = 0x1000
    ph = struct.pack("<IIQQQQQQ", 1, 7, data_off, 0, phys, len(mem), len(mem), 0)
    return ehdr + ph + b"\0" * (data_off - 64 - 56) + bytes(mem)


def _lime(mem: bytes, phys: int) -> bytes:
    half = len(mem) * 3 // 4  # two ranges, split away from the planted strings
    out = b""
    for start, chunk in ((phys, mem[:half]), (phys + half, mem[half:])):
        out += struct.pack("<IIQQQ", 0x4C694D45, 1, start, start + len(chunk) - 1, 0) + chunk
    return out


def _ingest(path: Path, etype: str, **opts) -> tuple[list[Event], list[IngestError], list[CarvedFile]]:
    opts = {"memory_window": WIN, "memory_overlap": OVL, "volatility": False, **opts}
    recs = list(MemoryIngestor().ingest(IngestContext(path, "a" * 64, etype, path.name, opts)))
    return ([r for r in recs if isinstance(r, Event)], [r for r in recs if isinstance(r, IngestError)],
            [r for r in recs if isinstance(r, CarvedFile)])


def _phys(ev: Event) -> int:
    return int(ev.locator.split(";")[0].removeprefix("phys="), 16)


@pytest.fixture()
def image(corpus, tmp_path, cc_home):
    mem, pe = _memory(corpus)
    p = tmp_path / "synthetic.raw"
    p.write_bytes(mem)
    return p, mem, pe


def test_offsets_are_exact(image):
    path, mem, pe = image
    evs, errs, carved = _ingest(path, "raw_memory")
    ind = {(e.attributes["kind"], e.attributes["value"]): e for e in evs if e.data_type == "memory:indicator"}
    assert _phys(ind[("url", "http://evil.example.com/payload")]) == URL_AT + 4
    assert _phys(ind[("ipv4", "198.51.100.7")]) == IP_AT + 3
    assert _phys(ind[("domain", "evil.example.com")]) == URL_AT + 11
    ban = [e for e in evs if e.data_type == "memory:banner"]
    assert [(_phys(b), b.attributes["banner"]) for b in ban] == [(BANNER_AT, BANNER.decode())]
    pes = [e for e in evs if e.data_type == "pe:file"]
    assert [_phys(e) for e in pes] == [PE_AT]
    assert carved and carved[0].locator == f"phys=0x{PE_AT:x}" and carved[0].data.startswith(pe[:0x400])
    assert pes[0].attributes["machine"] == "IMAGE_FILE_MACHINE_AMD64"


def test_yara_match_straddling_a_window_boundary_is_found_once(image):
    path, mem, _ = image
    evs, _, _ = _ingest(path, "raw_memory")
    mimi = [e for e in evs if e.data_type == "yara:match" and e.attributes["rule"] == "CC_Mimikatz_Strings"]
    assert len(mimi) == 1
    offs = sorted((s["offset"], s["identifier"]) for s in mimi[0].attributes["strings"])
    assert offs[0] == (STRADDLE_AT, "$m1")
    assert _phys(mimi[0]) == STRADDLE_AT
    # each instance once, though the window before the boundary sees it in its look-ahead
    assert len({o for o, _ in offs}) == len(offs)


def test_windowing_does_not_change_yara_hits(image):
    """Independent of window size: the same hits as one scan of the whole buffer."""
    path, mem, _ = image
    pack = load_pack()
    whole = {(m.rule, inst.offset) for m in pack.rules.match(data=bytes(mem)) for s in m.strings for inst in s.instances}
    for win in (WIN, 3 * 65536 + 17):
        hits = scan.scan_image(path, [Segment(0, 0, len(mem))], pack, window=win, overlap=OVL)
        got = {(k[1], d["offset"]) for k, insts in hits.instances.items() for d in insts}
        assert got == whole


def test_ransom_note_wallet_and_currency(image):
    path, _, _ = image
    evs, _, _ = _ingest(path, "raw_memory")
    btc = [e for e in evs if e.data_type == "yara:match" and e.attributes["rule"] == "CC_Wallet_BTC"]
    assert len(btc) == 1
    assert btc[0].attributes["currency"] == "BTC" and btc[0].attributes["wallets"] == [WALLET]
    note = [e for e in evs if e.data_type == "yara:match" and e.attributes["rule"] == "CC_Ransom_Note_Generic"]
    assert note and note[0].gbt_category == "MPRANS" and "T1486" in note[0].attack


@pytest.mark.parametrize("wrap", ["elf_core", "lime"])
def test_elf_and_lime_report_physical_offsets(image, tmp_path, wrap):
    path, mem, _ = image
    base = 0x10000000  # physical address of the wrapped RAM: file offset != physical
    p = tmp_path / f"wrapped.{wrap}"
    p.write_bytes(_elf_core(mem, base) if wrap == "elf_core" else _lime(mem, base))
    raw_evs, _, _ = _ingest(path, "raw_memory")
    evs, errs, _ = _ingest(p, wrap)
    assert not errs

    def key(e):
        a = e.attributes
        return (e.data_type, _phys(e), e.discriminator.split("@")[0],
                a.get("rule") or a.get("value") or a.get("sha256") or a.get("banner"))

    assert sorted(key(e) for e in evs) == sorted((k[0], k[1] + base, *k[2:]) for k in map(key, raw_evs))


def test_symbols_missing_names_the_linux_banner(image, tmp_path):
    path, _, _ = image
    evs, errs, _ = _ingest(path, "raw_memory", volatility=True, symbols=str(tmp_path),
                           volatility_cache=str(tmp_path / "volcache"))
    miss = [e for e in evs if e.data_type == "memory:symbols_missing"]
    assert len(miss) == 1 and miss[0].attributes["banner"] == BANNER.decode()
    assert any("symbols missing" in e.reason and BANNER.decode() in e.reason for e in errs)
    assert any(e.data_type == "pe:file" for e in evs)  # symbol-free results kept


def _rsds(guid_hex: str, age: int) -> bytes:
    g = bytes.fromhex(guid_hex)
    raw = struct.pack("<IHH", int.from_bytes(g[:4], "big"), int.from_bytes(g[4:6], "big"), int.from_bytes(g[6:8], "big")) + g[8:]
    return b"RSDS" + raw + struct.pack("<I", age) + b"ntkrnlmp.pdb\x00"


GUID = "00F31FD82648C8ED1A4426DFFC56A424"


def test_windows_kernel_pdb_symbols_missing_names_pdb_guid_age(corpus, tmp_path, cc_home):
    mem, _ = _memory(corpus, banner=False)
    other = "11112222333344445555666677778888"
    mem[0x300000:0x300000 + 40] = _rsds(other, 2)
    p = tmp_path / "win.raw"
    p.write_bytes(mem)
    evs, errs, _ = _ingest(p, "raw_memory", volatility=True, symbols=str(corpus / "memory" / "isf"))
    ban = [e for e in evs if e.data_type == "memory:banner"]
    assert ban[0].attributes["guid"] == other and ban[0].attributes["age"] == 2 and _phys(ban[0]) == 0x300000
    miss = [e for e in evs if e.data_type == "memory:symbols_missing"]
    assert len(miss) == 1
    assert (miss[0].attributes["pdb_name"], miss[0].attributes["guid"], miss[0].attributes["age"]) == ("ntkrnlmp.pdb", other, 2)
    assert any(other in e.reason and "ntkrnlmp.pdb" in e.reason for e in errs)


def test_windows_kernel_isf_found_and_loaded_offline(corpus, tmp_path, cc_home):
    """The corpus ISF (flat JPCERT name, .json.xz) is found for its GUID/age and volatility loads it offline."""
    from volatility3.framework import constants, contexts
    from volatility3.framework.symbols import intermed

    from forensics.memory import symbols

    isf_dir = corpus / "memory" / "isf"
    assert symbols.find_windows_isf([isf_dir], "ntkrnlmp.pdb", GUID, 1)
    assert symbols.find_windows_isf([isf_dir], "ntkrnlmp.pdb", GUID, 2) is None
    symbols.configure_volatility([isf_dir], tmp_path / "volcache")
    assert constants.OFFLINE is True and constants.REMOTE_ISF_URL is None
    ctx = contexts.Context()
    table = intermed.IntermediateSymbolTable.create(ctx, "test", "windows", filename=f"ntkrnlmp.pdb/{GUID}-1")
    eproc = ctx.symbol_space.get_type(table + "!_EPROCESS")
    assert "UniqueProcessId" in eproc.vol.members
    # and the memory ingestor sees the signature as covered: no symbols_missing event
    mem, _ = _memory(corpus, size=2 * MB, banner=False)
    mem[0x100000:0x100000 + 40] = _rsds(GUID, 1)
    p = tmp_path / "win.raw"
    p.write_bytes(mem)
    # identifier cache kept between runs (indexing the ISF is the slow part, and not what is tested here)
    volcache = Path(__file__).resolve().parent.parent / ".pytest_cache" / "cyberclaim-volatility-win"
    evs, errs, _ = _ingest(p, "raw_memory", volatility=True, symbols=str(isf_dir), volatility_cache=str(volcache))
    assert not [e for e in evs if e.data_type == "memory:symbols_missing"]
    assert any("volatility" in e.reason for e in errs)  # no real kernel behind the signature: a clear error


def test_minidump_is_refused(corpus, cc_home):
    p = corpus / "memory" / "odd" / "usermode_minidump_MDMP.dmp"
    from forensics.magic import detect_type, read_head

    assert detect_type(read_head(p), p.name) == "minidump"
    evs, errs, _ = _ingest(p, "minidump")
    assert evs == [] and len(errs) == 1 and "minidump" in errs[0].reason and errs[0].offset == 0


def test_bad_inputs(image, tmp_path):
    path, mem, _ = image
    z = tmp_path / "zero.raw"
    z.write_bytes(b"")
    evs, errs, _ = _ingest(z, "raw_memory")
    assert not evs and "zero-byte" in errs[0].reason

    allz = tmp_path / "allzero.raw"
    allz.write_bytes(bytes(2 * MB))
    evs, errs, _ = _ingest(allz, "raw_memory", volatility=True)
    assert not evs and any("only zero bytes" in e.reason for e in errs)

    unknown = tmp_path / "unknown.raw"
    m2 = bytearray(mem)
    m2[BANNER_AT:BANNER_AT + len(BANNER)] = bytes(len(BANNER))
    unknown.write_bytes(m2)
    evs, errs, _ = _ingest(unknown, "raw_memory", volatility=True)
    assert any("unknown operating system" in e.reason for e in errs)
    assert any(e.data_type == "pe:file" for e in evs)  # partial results kept

    trunc = tmp_path / "trunc.elf"
    elf = _elf_core(mem, 0)
    trunc.write_bytes(elf[: 0x1000 + 0x180000])  # cut inside the PT_LOAD: before the note and the mimikatz strings
    evs, errs, _ = _ingest(trunc, "elf_core")
    assert any("truncated" in e.reason and e.offset == 0x1000 + 0x180000 for e in errs)
    assert any(e.data_type == "pe:file" and _phys(e) == PE_AT for e in evs)  # everything before the damage
    assert not any(e.data_type == "yara:match" and e.attributes["rule"] == "CC_Mimikatz_Strings" for e in evs)


def test_deterministic(image):
    path, _, _ = image
    a = [e.to_row() for e in _ingest(path, "raw_memory")[0]]
    b = [e.to_row() for e in _ingest(path, "raw_memory", memory_workers=1)[0]]
    assert a == b
