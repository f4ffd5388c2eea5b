"""PE triage on the corpus: corkami's hand-made PEs (never crash, behave as
corkami_expected_output.txt describes them) and real compiler-built launchers."""
from __future__ import annotations

from pathlib import Path

import pefile
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pe import PeIngestor
from forensics.pe_analysis import analyze_pe

pytestmark = pytest.mark.corpus


def _run(path: Path, name: str | None = None):
    recs = list(PeIngestor().ingest(IngestContext(path, "b" * 64, "pe", name or path.name, {"reference_time": 1_900_000_000})))
    return [r for r in recs if isinstance(r, Event)], [r for r in recs if isinstance(r, IngestError)]


def test_every_corpus_pe_parses(corpus):
    for p in sorted((corpus / "pe").glob("*")):
        if p.suffix == ".txt":
            continue
        evs, errs = _run(p)
        assert len(evs) == 1 and evs[0].data_type == "pe:file", p
        assert evs[0].file_sha256 == evs[0].attributes["sha256"]


def test_corkami_expectations(corpus):
    expected = (corpus / "pe" / "corkami_expected_output.txt").read_text()
    info = {p.name: _run(p)[0][0].attributes for p in (corpus / "pe").glob("corkami_*") if p.suffix != ".txt"}
    # "96workingsections.exe: a PE with 96 used code sections"
    assert "96 used code sections" in expected and info["corkami_96sections.exe"]["section_count"] == 96
    # "tiny.exe: 268b universal tiny PE": 0 sections, 13 data directories, parsed without IndexError
    assert "268b universal tiny PE" in expected
    tiny = info["corkami_tiny.exe"]
    assert tiny["size"] == 268 and tiny["section_count"] == 0 and tiny["number_of_rva_and_sizes"] == 13
    assert tiny["is_dotnet"] is False
    # "appendeddata.exe: appended data"
    assert "appended data" in expected and info["corkami_appendeddata.exe"]["overlay_size"] > 0
    assert info["corkami_dll.dll"]["is_dll"] and info["corkami_dll.dll"]["exports"]
    assert info["corkami_dotnet20.exe"]["is_dotnet"]
    assert info["corkami_driver.sys"]["is_driver"]


@pytest.mark.parametrize("name", ["distlib_t64_console_x64.exe", "distlib_w32_gui_x86.exe"])
def test_real_launchers_against_pefile_directly(corpus, name):
    p = corpus / "pe" / name
    ev = _run(p)[0][0]
    a = ev.attributes
    ref = pefile.PE(str(p))  # full load, independent of our fast_load path
    assert a["imphash"] == ref.get_imphash()
    assert a["compile_time"] == ref.FILE_HEADER.TimeDateStamp and ev.timestamp == a["compile_time"] * 1_000_000
    assert [s["name"] for s in a["sections"]] == [s.Name.rstrip(b"\0").decode() for s in ref.sections]
    for mine, theirs in zip(a["sections"], ref.sections):
        assert abs(mine["entropy"] - theirs.get_entropy()) < 1e-3
    assert sum(len(v) for v in a["imports"].values()) == sum(len(e.imports) for e in ref.DIRECTORY_ENTRY_IMPORT)
    assert a["version_info"]  # MSVC launchers carry a VERSIONINFO resource
    assert a["authenticode_present"] is False and not a["compile_time_zero"] and not a["compile_time_future"]
    assert a["machine"] == ("IMAGE_FILE_MACHINE_AMD64" if "x64" in name else "IMAGE_FILE_MACHINE_I386")


def test_headers_pointing_outside_the_file(corpus, tmp_path):
    data = (corpus / "pe" / "distlib_w32_gui_x86.exe").read_bytes()
    cut = tmp_path / "truncated.exe"
    cut.write_bytes(data[:20000])
    evs, errs = _run(cut)
    assert len(evs) == 1  # the headers are still reported
    assert any("past the end of the file" in e.reason and e.offset is not None and e.offset < 1024 for e in errs)
    assert any(s.get("outside_file") for s in evs[0].attributes["sections"])


def test_zero_byte_and_not_a_pe(tmp_path):
    z = tmp_path / "empty.exe"
    z.write_bytes(b"")
    evs, errs = _run(z)
    assert not evs and errs[0].offset == 0 and "zero-byte" in errs[0].reason
    mz = tmp_path / "mz.exe"
    mz.write_bytes(b"MZ" + b"\xff" * 100)
    evs, errs = _run(mz)
    assert not evs and errs and "PE" in errs[0].reason


def test_zero_and_future_compile_time_flags(corpus):
    data = bytearray((corpus / "pe" / "distlib_t64_console_x64.exe").read_bytes())
    pe_off = int.from_bytes(data[0x3C:0x40], "little")
    for stamp, flag in ((0, "compile_time_zero"), (2_000_000_000, "compile_time_future")):
        data[pe_off + 8:pe_off + 12] = stamp.to_bytes(4, "little")
        rep = analyze_pe(bytes(data), reference_time_s=1_900_000_000)
        assert rep.info[flag] is True


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=40))
def test_mutated_pes_never_raise(corpus, muts):
    data = bytearray((corpus / "pe" / "corkami_dll.dll").read_bytes())
    for off, val in muts:
        data[off % len(data)] = val
    rep = analyze_pe(bytes(data))
    assert rep.info["sha256"]
