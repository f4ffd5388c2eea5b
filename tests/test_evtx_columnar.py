"""The columnar EVTX path (forensics.windows.columnar, the pipeline's default) stores exactly
what the record-by-record reference path (normalize → Event → EventWriter) stores."""
from __future__ import annotations

import gc
import json
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from conftest import damaged_copy

from forensics.events import make_event_id
from forensics.ingestors.base import IngestContext
from forensics.ingestors.evtx import EvtxIngestor
from forensics.pipeline import Unit, run_unit
from forensics.windows import columnar as wc
from forensics.windows import normalize as wn


def _stored(path: Path, options: dict, tag: str, prefix: str = ""):
    u = Unit("c", "cd" * 32, path.name, str(path), "evtx", EvtxIngestor.name, EvtxIngestor.parser_id(), tag, options,
             prefix)
    r = run_unit(u)
    return pq.read_table(r.parquet), r.errors, r.status


def _same(path: Path, prefix: str = "") -> None:
    ref, e1, s1 = _stored(path, {"evtx_bulk": False}, "single", prefix)
    col, e2, s2 = _stored(path, {}, "columnar", prefix)
    assert (e1, s1) == (e2, s2), path.name
    for name in ref.column_names:
        a, b = ref[name].to_pylist(), col[name].to_pylist()
        diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        assert len(a) == len(b) and diff is None, (path.name, name, diff, diff is not None and (a[diff], b[diff]))
    assert ref.equals(col), path.name


def test_columnar_path_stores_the_reference_rows_for_every_corpus_file(corpus, cc_home):
    files = sorted((corpus / "evtx").glob("*.evtx"))
    assert len(files) >= 17
    for f in files:
        _same(f)


def test_columnar_path_with_a_locator_prefix(corpus, cc_home):
    """A zip member's events: the prefixed locator is what the event id hashes."""
    _same(corpus / "evtx" / "deepblue_password_spray.evtx", prefix="logs.zip!")


def test_columnar_path_takes_nearly_every_corpus_record(corpus):
    """The equality above is only worth something if the fast path did the work."""
    import evtx
    total = fast = 0
    for f in sorted((corpus / "evtx").glob("*.evtx")):
        try:
            for r in evtx.PyEvtxParser(str(f)).records_json():
                total += 1
                fast += wc.fast_row(json.loads(r["data"])["Event"], "x", False) is not None
        except RuntimeError:
            pass
    # odd_irregular_bool_values writes EventData booleans: the reference decides those
    assert total > 8000 and fast > 0.6 * total, (fast, total)


def test_gc_state_is_restored(corpus, cc_home):
    assert gc.isenabled()
    _stored(corpus / "evtx" / "lm_remote_service_7045.evtx", {}, "gc")
    assert gc.isenabled()
    gc.disable()
    try:
        out = list(EvtxIngestor().ingest_batches(IngestContext(corpus / "evtx" / "lm_remote_service_7045.evtx", "s",
                                                                "evtx", "x")))
        assert out and not gc.isenabled()
    finally:
        gc.enable()


def test_batch_event_ids_are_make_event_id(corpus):
    f = corpus / "evtx" / "ca_kerberos_spray_4771.evtx"
    batches = [b for b in EvtxIngestor().ingest_batches(IngestContext(f, "ef" * 32, "evtx", f.name))]
    t = batches[0].table
    assert t.num_rows == 12
    assert t["event_id"].to_pylist() == [make_event_id("ef" * 32, loc, EvtxIngestor.parser_id(), "windows:evtx:record")
                                         for loc in t["locator"].to_pylist()]
    assert "event_id" not in batches[0].with_locator_prefix("a!").table.column_names


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 255)), min_size=1, max_size=30),
       st.integers(4096, 300_000))
def test_damaged_files_give_the_reference_rows(corpus, cc_home, tmp_path_factory, muts, cut):
    """Mutated and truncated EVTX (bad chunks, broken records, odd JSON): same rows, same errors."""
    p = damaged_copy(corpus / "evtx" / "deepblue_password_spray.evtx", cut, muts, tmp_path_factory.mktemp("dmg") / "m.evtx")
    _same(p)


# ---- one record: fast_row against normalize() + Event.to_row() ----

_value = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                   st.sampled_from(["", " ", "-", "0x0", "0x1f", "\r\n", "a\rb", "\u3000", "\x0b", "10.0.0.5",
                                    "::ffff:10.1.2.3", "[fe80::1]", "CORP\\alice", "\\", "C:/w/cmd.EXE", "{x}",
                                    "SHA1=AB,SHA256=" + "A" * 64, "Example.COM.", "ÉCOLE", "\ud800", "0x0a", "3"]),
                   st.text(max_size=6), st.lists(st.text(max_size=3), max_size=2),
                   st.dictionaries(st.sampled_from(["#text", "#attributes", "a"]), st.text(max_size=3), max_size=2))
_names = st.sampled_from(["TargetUserName", "IpAddress", "IpPort", "LogonType", "ProcessName", "SubjectUserName",
                          "Image", "Hashes", "QueryName", "Protocol", "channel", "SourceIp", "DestinationPort",
                          "CommandLine", "ServiceName", "Status", "ScriptBlockId", "MessageTotal", "Data", "#text",
                          "#attributes", "ParentImage", "ProcessId", "chunk_checksum_ok", "user_domain"])
_system = st.sampled_from([("Security", "Microsoft-Windows-Security-Auditing", 4624),
                           ("Security", "Microsoft-Windows-Security-Auditing", 4688),
                           ("Security", "Microsoft-Windows-Security-Auditing", 4907),
                           ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 1),
                           ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 3),
                           ("Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell", 4104),
                           ("System", "Service Control Manager", 7045), ("Application", "", 1000), (None, None, 1)])
_times = st.one_of(st.sampled_from(["2024-02-29T23:59:59.123456789Z", "2016-07-08T18:12:51.681640Z",
                                    "2016-07-08T18:12:51Z", "2016-02-31T24:00:00.1Z", "2016-07-08T18:12:60.9Z",
                                    "2016-07-08T18:12:61.9Z", "2016-07-08T18:12:5١.9Z", "2016-07-08T18:12:51.Z",
                                    "2016-07-08 18:12:51.5Z", "20x6-07-08T18:12:51.5Z", "2016-07-08T18: 2:51.5Z"]),
                   st.text(max_size=30), st.integers(), st.none())


@settings(max_examples=300, deadline=None)
@given(_system, st.dictionaries(_names, _value, max_size=8), _times,
       st.sampled_from(["EventData", "UserData", "none", "scalar"]), st.booleans(),
       st.sampled_from([4, "4", None, {"#text": "Security"}]))
@example(("Security", "Microsoft-Windows-Security-Auditing", 4624),
         {"TargetUserName": "CORP\\bob", "IpAddress": "::ffff:10.0.0.1", "LogonType": "0x0a", "IpPort": "70000"},
         "2024-02-29T23:59:59.123456789Z", "EventData", True, 4)
def test_fast_row_equals_normalize(system, fields, when, where, bad, level):
    ch, prov, eid = system
    sysd = {"Provider": {"#attributes": {"Name": prov}}, "EventID": eid, "Level": level, "EventRecordID": 7,
            "TimeCreated": {"#attributes": {"SystemTime": when}},
            "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}}, "Channel": ch, "Computer": "H1"}
    body = {"EventData": fields} if where == "EventData" else {"UserData": {"W": fields}} if where == "UserData" \
        else {"EventData": "x"} if where == "scalar" else {}
    event = {"System": sysd, **body}
    row = wc.fast_row(event, "chunk=0;record=7;off=4096", bad)
    if row is None:
        return
    ev = wn.normalize(event, "chunk=0;record=7;off=4096")
    if bad:
        ev.attributes["chunk_checksum_ok"] = False
    assert row == wc.event_row(ev)


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.builds(lambda y, mo, d, h, mi, s, frac: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}Z",
              st.integers(1, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
              st.integers(0, 61), st.one_of(st.just(""), st.from_regex(r"\.[0-9]{0,9}", fullmatch=True),
                                            st.sampled_from([".12\u0663", ".1\u00b2", ".", ".x", ". 1"]))),
    st.text(max_size=30)))
def test_system_time_equals_parse_system_time(s):
    ref = wn._parse_system_time(s) if len(s) >= 19 else None
    assert wc._system_time(s) == ref
    assert wc._system_time(s) == ref  # second time through the per-minute cache


def test_event_store_keeps_a_batch_event_id_and_stores_what_events_would(tmp_path):
    """EventWriter.add_batch with an event_id column (what the columnar path hands over) stores
    the table the same events give one by one; a column of another type is cast."""
    import pyarrow as pa

    from case_store.eventstore import EventWriter
    from forensics.events import EVENT_SCHEMA, Event, EventBatch
    evs = [Event(timestamp=1_700_000_000_123_456 + i, data_type="windows:evtx:record", message=f"m{i}",
                 locator=f"chunk=0;record={i};off=4096", timestamp_desc="Event Recorded", parser="evtx@t",
                 evidence_sha256="ab" * 32, host="H", src_port=i or None, tags=["b", "a"], attributes={"k": i})
           for i in range(5)]
    one = EventWriter(tmp_path / "one.parquet")
    for e in evs:
        one.add(e)
    one.commit()
    rows = [e.to_row() for e in evs]
    cols = {f.name: pa.array([r[f.name] for r in rows], f.type) for f in EVENT_SCHEMA if f.name != "datetime"}
    cols["src_port"] = cols["src_port"].cast(pa.int64())  # not the schema's int32: the store casts it
    cols["discriminator"] = pa.array([""] * len(rows), pa.string())
    batch = EventWriter(tmp_path / "batch.parquet")
    batch.add_batch(EventBatch(pa.table(cols)))
    batch.commit()
    assert pq.read_table(tmp_path / "one.parquet").equals(pq.read_table(tmp_path / "batch.parquet"))
