"""EVTX and Windows event export ingestion against the real corpus."""
from __future__ import annotations

import collections
import json
from pathlib import Path

import evtx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.evtx import CHUNK, FILE_HEADER, EvtxIngestor
from forensics.ingestors.winevent_export import WinEventExportIngestor
from forensics.magic import detect_type

DAMAGED = ("odd_bad_chunk_magic.evtx", "odd_application_no_crc32.evtx", "odd_bad_string_cache.evtx",
           "odd_irregular_bool_values.evtx")


def run(ingestor, path: Path, etype: str = "evtx"):
    out = list(ingestor.ingest(IngestContext(path, "sha-" + path.name, etype, path.name)))
    evs = [o for o in out if isinstance(o, Event)]
    errs = [o for o in out if isinstance(o, IngestError)]
    return evs, errs


def library_records(path: Path) -> list[dict]:
    """Direct iteration with the evtx library; on damage, the records it gave before stopping."""
    recs = []
    try:
        for r in evtx.PyEvtxParser(str(path)).records_json():
            recs.append(json.loads(r["data"]))
    except RuntimeError:
        pass
    return recs


def eid_of(doc: dict):
    e = doc["Event"]["System"].get("EventID")
    e = e.get("#text") if isinstance(e, dict) else e
    return int(e) if e is not None else None


def evtx_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "evtx").glob("*.evtx"))


def test_counts_per_event_id_match_evtx_library(corpus):
    files = evtx_files(corpus)
    assert len(files) >= 17
    for f in files:
        evs, errs = run(EvtxIngestor(), f)
        ours = collections.Counter(e.attributes.get("event_id") for e in evs if e.data_type == "windows:evtx:record")
        if f.name == "odd_bad_chunk_magic.evtx":
            continue  # the library stops at the bad chunk; checked in test_damaged_chunk_costs_only_that_chunk
        ref = collections.Counter(eid_of(d) for d in library_records(f))
        assert ours == ref, f.name
        if not f.name.startswith("odd_"):
            assert not errs, (f.name, errs)


def test_locator_points_at_the_record_bytes(corpus):
    f = corpus / "evtx" / "deepblue_password_spray.evtx"
    evs, _ = run(EvtxIngestor(), f)
    data = f.read_bytes()
    for e in evs:
        parts = dict(p.split("=") for p in e.locator.split(";"))
        off, rid, k = int(parts["off"]), int(parts["record"]), int(parts["chunk"])
        assert data[off:off + 4] == b"\x2a\x2a\x00\x00"
        assert int.from_bytes(data[off + 8:off + 16], "little") == rid  # the record header id (may differ from System.EventRecordID)
        assert FILE_HEADER + k * CHUNK <= off < FILE_HEADER + (k + 1) * CHUNK
    assert len({e.to_row()["event_id"] for e in evs}) == len(evs)


def test_damaged_chunk_costs_only_that_chunk(corpus):
    f = corpus / "evtx" / "odd_bad_chunk_magic.evtx"
    evs, errs = run(EvtxIngestor(), f)
    # independent reference: the library over each good chunk alone (file header + that chunk)
    data = f.read_bytes()
    expected = collections.Counter()
    good = []
    for k in range((len(data) - FILE_HEADER) // CHUNK):
        chunk = data[FILE_HEADER + k * CHUNK:FILE_HEADER + (k + 1) * CHUNK]
        if chunk[:8] != b"ElfChnk\x00":
            continue
        good.append(k)
        import io
        for r in evtx.PyEvtxParser(io.BytesIO(data[:FILE_HEADER] + chunk)).records_json():
            expected[r["event_record_id"]] += 1
    assert good == [0, 7, 8, 9]
    got = collections.Counter(int(e.locator.split(";")[1].split("=")[1]) for e in evs)
    assert got == expected
    assert {int(e.locator.split(";")[0].split("=")[1]) for e in evs} == set(good)
    bad = [e for e in errs if "unreadable" in e.reason]
    assert [e.offset for e in bad] == [FILE_HEADER + 6 * CHUNK, FILE_HEADER + 10 * CHUNK]
    assert "chunk 6" in bad[0].reason and bad[0].file == f.name


@pytest.mark.parametrize("name", DAMAGED[1:])
def test_other_damaged_files_keep_every_record(corpus, name):
    f = corpus / "evtx" / name
    evs, errs = run(EvtxIngestor(), f)
    assert len(evs) == len(library_records(f)) > 0
    if name != "odd_irregular_bool_values.evtx":  # its chunks are intact: nothing to report
        assert any("chunk 0" in e.reason and "checksum" in e.reason for e in errs)
        assert all(e.attributes.get("chunk_checksum_ok") is False for e in evs
                   if e.locator.startswith("chunk=0;"))


def test_normalized_entities(corpus):
    by = {}
    for name in ("c2_rdp_tunnel_4624_type10.evtx", "lm_pass_the_hash_4624.evtx", "impact_delete_vss_wmi_4688.evtx",
                 "lm_remote_service_7045.evtx", "ca_sysmon10_lsass_mimikatz.evtx", "de_security_log_cleared_1102.evtx",
                 "rdp_success_1149.evtx"):
        by[name], _ = run(EvtxIngestor(), corpus / "evtx" / name)
    rdp = [e for e in by["c2_rdp_tunnel_4624_type10.evtx"] if e.attributes.get("logon_type") == 10]
    assert rdp and rdp[0].src_ip == "127.0.0.1" and rdp[0].user == rdp[0].attributes["TargetUserName"]
    pth = [e for e in by["lm_pass_the_hash_4624.evtx"] if e.attributes["event_id"] == 4624][0]
    assert pth.attributes["logon_type"] == 9 and pth.src_ip == "::1"
    wmic = [e for e in by["impact_delete_vss_wmi_4688.evtx"] if e.process_name == "WMIC.exe"][0]
    assert "shadowcopy delete" in wmic.process_cmdline and wmic.process_pid == int(wmic.attributes["NewProcessId"], 16)
    svc = by["lm_remote_service_7045.evtx"][0]
    assert svc.attributes["service_name"] == svc.attributes["ServiceName"] and svc.file_path == svc.attributes["ImagePath"]
    assert "T1543.003" in svc.attack
    lsass = by["ca_sysmon10_lsass_mimikatz.evtx"][0]
    assert lsass.process_name == "mimikatz.exe" and lsass.attributes["target_process"].lower().endswith("lsass.exe")
    cleared = [e for e in by["de_security_log_cleared_1102.evtx"] if e.attributes["event_id"] == 1102][0]
    assert "log_cleared" in cleared.tags and "T1070.001" in cleared.attack and cleared.severity == "high"
    assert cleared.user == cleared.attributes["SubjectUserName"]
    r1149 = by["rdp_success_1149.evtx"]
    assert all(e.src_ip and e.user for e in r1149)
    for evs in by.values():
        for e in evs:
            row = e.to_row()
            assert row["host"] == e.attributes["computer"] and e.attributes["channel"]


def _comparable(e: Event) -> dict:
    row = e.to_row()
    attrs = json.loads(row.pop("attributes"))
    attrs.pop("source_format", None)
    attrs.pop("chunk_checksum_ok", None)
    for k in ("event_id", "locator", "parser", "evidence_sha256"):
        row.pop(k)
    return {**row, "attributes": attrs}


@pytest.mark.parametrize("name", ["c2_rdp_tunnel_4624_type10.evtx", "ca_dcsync_4662.evtx",
                                  "exec_emotet_powershell_4104.evtx", "rdp_success_1149.evtx",
                                  "lm_remote_service_7045.evtx", "ca_sysmon10_lsass_mimikatz.evtx",
                                  "deepblue_new_user_4720.evtx"])
def test_exports_normalize_like_evtx(corpus, tmp_path, name):
    f = corpus / "evtx" / name
    ref, _ = run(EvtxIngestor(), f)
    jsonl = tmp_path / (name + ".jsonl")
    jsonl.write_text("".join(json.dumps(json.loads(r["data"])) + "\n" for r in evtx.PyEvtxParser(str(f)).records_json()))
    xml = tmp_path / (name + ".xml")
    xml.write_text("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Events>" + "".join(
        r["data"].split("?>", 1)[1] for r in evtx.PyEvtxParser(str(f)).records()) + "</Events>")
    for p in (jsonl, xml):
        head = p.read_bytes()[:4096]
        etype = detect_type(head, p.name)
        assert WinEventExportIngestor.detect(head, p, etype)
        evs, errs = run(WinEventExportIngestor(), p, etype)
        assert not errs
        assert [_comparable(e) for e in evs] == [_comparable(e) for e in ref]
        assert all(e.attributes["source_format"] == p.suffix[1:] for e in evs)


def test_export_detect_refuses_other_jsonl_and_xml(tmp_path):
    other = tmp_path / "a.jsonl"
    other.write_text('{"message": "x", "datetime": "2020-01-01T00:00:00Z"}\n')
    xml = tmp_path / "b.xml"
    xml.write_text("<?xml version='1.0'?><root><a/></root>")
    for p in (other, xml):
        head = p.read_bytes()
        assert not WinEventExportIngestor.detect(head, p, detect_type(head, p.name))


def test_export_bad_lines_are_errors_and_the_rest_survive(tmp_path):
    ev = {"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                               "EventID": 4624, "TimeCreated": {"#attributes": {"SystemTime": "2026-03-01T02:03:04.000000Z"}},
                               "EventRecordID": 12, "Channel": "Security", "Computer": "HOST.corp.local"},
                    "EventData": {"TargetUserName": "alice", "LogonType": 10, "IpAddress": "10.0.0.5"}}}
    p = tmp_path / "x.jsonl"
    p.write_bytes((json.dumps(ev) + "\n").encode() + b"\xff\xfe garbage\n{\"Event\": 1}\n" + (json.dumps(ev) + "\n").encode())
    evs, errs = run(WinEventExportIngestor(), p, "jsonl")
    assert len(evs) == 2 and [e.line for e in errs] == [2, 3]
    assert evs[0].user == "alice" and evs[0].src_ip == "10.0.0.5" and evs[0].attributes["logon_type"] == 10
    assert evs[0].timestamp == 1772330584000000 and evs[0].locator == "line=1;off=0"


def test_powershell_script_block_reassembly(tmp_path):
    def part(n, text):
        return {"Event": {"System": {"Provider": {"#attributes": {"Name": "Microsoft-Windows-PowerShell"}},
                                     "EventID": 4104, "TimeCreated": {"#attributes": {"SystemTime": f"2026-03-01T02:03:0{n}Z"}},
                                     "EventRecordID": 100 + n, "Channel": "Microsoft-Windows-PowerShell/Operational",
                                     "Computer": "H"},
                          "EventData": {"MessageNumber": n, "MessageTotal": 3, "ScriptBlockText": text,
                                        "ScriptBlockId": "abc"}}}
    p = tmp_path / "ps.jsonl"
    p.write_text("".join(json.dumps(part(n, t)) + "\n" for n, t in ((2, "Bar;"), (1, "Foo-"), (3, "Baz"))))
    evs, errs = run(WinEventExportIngestor(), p, "jsonl")
    blocks = [e for e in evs if e.data_type == "windows:powershell:scriptblock"]
    assert len(blocks) == 1 and blocks[0].attributes["ScriptBlockText"] == "Foo-Bar;Baz"
    assert blocks[0].attributes["complete"] is True and not errs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 69631), st.integers(0, 255)), min_size=1, max_size=40),
       st.integers(0, 69632))
def test_fuzz_mutated_evtx_never_raises(corpus, tmp_path_factory, muts, cut):
    base = (corpus / "evtx" / "deepblue_new_user_4720.evtx").read_bytes()
    data = bytearray(base)
    for off, val in muts:
        if off < len(data):
            data[off] = val
    data = bytes(data[:max(cut, 1)])
    p = tmp_path_factory.mktemp("fz") / "m.evtx"
    p.write_bytes(data)
    out = list(EvtxIngestor().ingest(IngestContext(p, "s", "evtx", "m.evtx")))
    assert all(isinstance(o, (Event, IngestError)) for o in out)
    for o in out:
        if isinstance(o, Event):
            o.to_row()


# ---- fast paths (forensics.windows.fields / normalize) agree with the general code ----

from forensics.windows import fields as wf  # noqa: E402
from forensics.windows import normalize as wn  # noqa: E402


def test_fast_paths_agree_with_general_code_on_corpus(corpus):
    n = 0
    for f in evtx_files(corpus):
        for doc in library_records(f):
            ev = doc["Event"]
            system = ev.get("System") or {}
            assert list(wf.system_fields(system).items()) == list(wf._system_fields(system).items()), f.name
            assert list(wf.event_data(ev).items()) == list(wf._event_data(ev).items()), f.name
            n += 1
    assert n > 5000


_keys = st.sampled_from(["TargetUserName", "channel", "event_id", "Data", "#text", "#attributes", "IpAddress", "x.y",
                         "EventData.channel", "LogonType"])
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=8),
                  st.sampled_from(["", " ", "\r\n", "a\rb", "\t", "\u3000", "-", "0x1f"]),
                  st.floats(allow_nan=False))
_node = st.recursive(_leaf, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(_keys, c, max_size=3)),
                     max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _node, max_size=6), st.one_of(st.none(), st.dictionaries(_keys, _node, max_size=2)))
def test_event_data_fast_path_equals_general(ed, ud):
    event = {"EventData": ed} if ud is None else {"EventData": ed, "UserData": ud}
    assert list(wf.event_data(event).items()) == list(wf._event_data(event).items())


_sys_keys = st.sampled_from(["EventID", "EventRecordID", "Channel", "Computer", "Provider", "Level", "Task", "Opcode",
                             "Keywords", "Security", "Execution", "Correlation"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_sys_keys, st.one_of(_node, st.fixed_dictionaries(
    {"#attributes": st.dictionaries(st.sampled_from(["Name", "EventSourceName", "UserID", "ProcessID", "ThreadID",
                                                     "ActivityID", "Qualifiers"]), _leaf, max_size=3)})), max_size=8),
       st.integers(0, 70000), st.integers(0, 2**40))
def test_system_fields_fast_path_equals_general(system, eid, rid):
    for s in (system, {**system, "EventID": eid, "EventRecordID": rid}):
        assert list(wf.system_fields(s).items()) == list(wf._system_fields(s).items())


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.builds(lambda y, mo, d, h, mi, s, frac, tail: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{tail}",
              st.integers(1601, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
              st.integers(0, 61), st.one_of(st.just(""), st.from_regex(r"\.[0-9]{0,9}", fullmatch=True),
                                            st.sampled_from([".12\u0663", ".1\u00b2", ".", ".x"])),
              st.sampled_from(["", "Z", "+00:00", "z9"])),
    st.text(max_size=30)))
def test_system_time_cache_equals_plain_parse(s):
    ref = wn._parse_system_time(s) if len(s) >= 19 else None
    assert wn.parse_system_time(s) == ref
    assert wn.parse_system_time(s) == ref  # second time through the per-second cache


# ---- the bulk path (forensics.windows.bulk) stores exactly what the record-by-record path does ----

def _stored(path: Path, bulk: bool) -> "pa.Table":
    import pyarrow.parquet as pq

    from forensics.pipeline import Unit, run_unit
    u = Unit("c", "ab" * 32, path.name, str(path), "evtx", EvtxIngestor.name, EvtxIngestor.parser_id(),
             "bulk" if bulk else "single", {"evtx_bulk": bulk})
    r = run_unit(u)
    return pq.read_table(r.parquet), r.errors


def test_bulk_path_stores_byte_identical_tables(corpus, cc_home):
    """Every column of every event, in order, for every corpus file (damaged ones included)."""
    for f in evtx_files(corpus):
        single, e1 = _stored(f, False)
        bulk, e2 = _stored(f, True)
        assert single.num_rows > 0 and e1 == e2, f.name
        for name in single.column_names:
            a, b = single[name].to_pylist(), bulk[name].to_pylist()
            diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
            assert len(a) == len(b) and diff is None, (f.name, name, diff, diff is not None and (a[diff], b[diff]))
        assert single.equals(bulk), f.name


def test_bulk_path_takes_nearly_every_corpus_record(corpus):
    """The equality above is only worth something if the bulk path did the work: the records it
    leaves to the record-by-record path must be the unusual ones (here: numbers written as text)."""
    from forensics.windows.bulk import normalize_batch
    from forensics.windows.normalize import _family
    total = slow_n = 0
    for f in evtx_files(corpus):
        datas = []
        try:
            for r in evtx.PyEvtxParser(str(f)).records_json():
                datas.append(r["data"])
        except RuntimeError:
            pass
        table, slow = normalize_batch(datas, ["x"] * len(datas), [False] * len(datas), _family)
        assert table.num_rows + len(slow) == len(datas), f.name
        assert sorted(table["idx"].to_pylist() + slow) == list(range(len(datas))), f.name
        total, slow_n = total + len(datas), slow_n + len(slow)
        if f.name == "rdp_success_1149.evtx":  # EventID, Level, … written as strings: the general code decides
            assert slow
    assert total > 8000 and slow_n < 0.01 * total, (slow_n, total)


def test_bulk_whitespace_is_what_python_calls_whitespace():
    from forensics.windows.bulk import WHITESPACE
    assert set(WHITESPACE) == {c for c in range(0x110000) if chr(c).isspace()}


_value = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                   st.sampled_from(["", " ", "-", "0x0", "0x1f", "\r\n", "a\rb", "\u3000", "\x0b", "x\x1fy\x0e",
                                    "10.0.0.5", "::ffff:10.1.2.3", "[fe80::1]", "CORP\\alice", "\\", "C:/w/cmd.EXE",
                                    "SHA1=AB,SHA256=" + "A" * 64, "Example.COM.", "ÉCOLE", "\\u0041", '"q"']),
                   st.text(max_size=6))
_fields = st.dictionaries(st.sampled_from(["TargetUserName", "IpAddress", "IpPort", "LogonType", "ProcessName",
                                           "SubjectUserName", "Image", "Hashes", "QueryName", "Protocol", "channel",
                                           "SourceIp", "DestinationPort", "CommandLine", "ServiceName", "x/y", "Status"]),
                          _value, max_size=8)
_system = st.sampled_from([("Security", "Microsoft-Windows-Security-Auditing", 4624),
                           ("Security", "Microsoft-Windows-Security-Auditing", 4688),
                           ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 3),
                           ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 22),
                           ("System", "Service Control Manager", 7045), ("Application", "", 1000)])


_SEC = ("Security", "Microsoft-Windows-Security-Auditing", 4624)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(_system, _fields, st.sampled_from(["EventData", "UserData", "Data"])), min_size=1, max_size=25))
@example([(_SEC, {"TargetUserName": "0x0", "IpAddress": "-", "LogonType": "0x0a", "ProcessName": "C:/x/Y.exe"}, "EventData"),
          (_SEC, {"TargetUserName": "DOM\\", "IpAddress": "::ffff:10.0.0.1", "IpPort": "70000", "x/y": "\x1f"}, "EventData"),
          (_SEC, {"TargetUserName": " \u3000", "Status": True, "LogonType": 3}, "UserData")])
def test_bulk_normalize_equals_record_by_record(records):
    """Odd values (blank, control characters, typed, addresses, user names) give the same event either way."""
    from forensics.ingestors.evtx import _merge
    from forensics.windows.bulk import normalize_batch
    from forensics.windows.normalize import _family, normalize
    datas = []
    for n, ((ch, prov, eid), fields, where) in enumerate(records):
        system = {"Provider": {"#attributes": {"Name": prov}}, "EventID": eid, "Level": 4, "EventRecordID": n + 1,
                  "TimeCreated": {"#attributes": {"SystemTime": f"2024-02-29T23:59:{n % 60:02d}.12345678Z"}},
                  "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}}, "Channel": ch, "Computer": "H1"}
        body = {"EventData": fields} if where == "EventData" else \
            {"UserData": {"W": {"#attributes": {"xmlns": "x"}, **fields}}} if where == "UserData" else \
            {"EventData": {"Data": {"#text": [v for v in fields.values()]}, "Binary": None}}
        datas.append(json.dumps({"Event": {"System": system, **body}}, ensure_ascii=False))
    locs = [f"chunk=0;record={i};off=0" for i in range(len(datas))]
    table, slow = normalize_batch(datas, locs, [i % 3 == 0 for i in range(len(datas))], _family)
    singles = {}
    for i, d in enumerate(datas):
        ev = normalize(json.loads(d)["Event"], locs[i])
        if i % 3 == 0:
            ev.attributes["chunk_checksum_ok"] = False
        singles[i] = ev
    want = _merge(None, singles)
    got = _merge(table, {i: singles[i] for i in slow})
    assert got.to_pylist() == want.to_pylist()


def test_chunk_map_reads_the_chunks_in_a_row_without_seeking(corpus):
    """The chunk map reads on from the file header: one read a chunk, no seek between them, and
    the same map as from a file whose position is not known."""
    import io
    from forensics.ingestors.evtx import _ChunkMap
    path = corpus / "evtx" / "deepblue_password_spray.evtx"
    n_chunks = (path.stat().st_size - FILE_HEADER + CHUNK - 1) // CHUNK

    class Counted(io.FileIO):
        seeks = 0

        def seek(self, *a):
            Counted.seeks += 1
            return super().seek(*a)

    with Counted(path, "rb") as f:
        f.read(FILE_HEADER)
        cmap = _ChunkMap(f, n_chunks, at=FILE_HEADER)
        assert Counted.seeks == 0
        again = _ChunkMap(f, n_chunks)
    assert (cmap.ranges, cmap.packed, cmap.checksum_problems) == (again.ranges, again.packed, again.checksum_problems)
    assert n_chunks > 1 and len(cmap.ranges) == n_chunks
