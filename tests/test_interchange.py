"""Timesketch export and the Plaso / Hayabusa / Timesketch importers, through the real pipeline."""
from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from case_store import cases
from case_store.eventstore import EventQuery
from forensics import interchange, timecorrect
from forensics.events import Event
from forensics.magic import detect_type
from forensics.pipeline import ingest_case

T = 1_772_400_000_000_000


def _events_df(tmp_path):
    from case_store.eventstore import EventWriter

    def write(tmp_path, events):
        w = EventWriter(tmp_path / "a.parquet")
        for i, e in enumerate(events):
            e.evidence_sha256, e.parser, e.locator = "a" * 64, "synth@1", f"line {i}"
            w.add(e)
        return str(w.commit())
    evs = [Event(T + i, "windows:evtx:record", f"event {i} 日本", "", host="WS01", user="alice", src_ip="10.0.0.9",
                 dst_port=445, bytes_out=10 * i, tags=["login"], attack=["T1021.002"], severity="medium",
                 attributes={"logon_type": 3, "i": i}) for i in range(5)]
    evs.append(Event(T + 9, "text:log", "x" * 40_000, "", attributes={"blob": "y" * 50_000}))
    f = write(tmp_path, evs)
    return timecorrect.query(None, EventQuery(limit=100), files=[f])[0]


def test_export_has_required_fields_and_cuts_big_fields(tmp_path):
    rows = list(interchange.timesketch_rows(_events_df(tmp_path)))
    for r in rows:
        assert r["message"] is not None and r["datetime"].endswith("Z") and r["timestamp_desc"]
        assert all(len(str(v).encode()) <= interchange.MAX_FIELD for v in r.values())
    big = rows[-1]
    assert sorted(big["cc_truncated"]) == ["attributes", "message"]
    buf = io.StringIO()
    interchange.write_csv(rows, buf)
    header = next(csv.reader(io.StringIO(buf.getvalue())))
    assert header[:3] == ["message", "datetime", "timestamp_desc"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_timesketch_export_round_trips_through_our_importer(tmp_path, cc_home, fmt):
    df = _events_df(tmp_path)
    rows = list(interchange.timesketch_rows(df.iloc[:5]))
    out = tmp_path / f"export.{fmt}"
    with open(out, "w", encoding="utf-8", newline="") as f:
        (interchange.write_jsonl if fmt == "jsonl" else interchange.write_csv)(rows, f)
    assert detect_type(out.read_bytes()[:4096], out.name) == "timesketch"
    c = cases.create_case("round trip")
    cases.add_evidence(c.id, out)
    summary = ingest_case(c.id, workers=1)
    assert sum(s.events for s in summary.values()) == 5 and not any(s.errors for s in summary.values())
    back, total = timecorrect.query(c.id, EventQuery(limit=100))
    assert total == 5
    assert back.timestamp.tolist() == df.timestamp.iloc[:5].tolist()
    assert back.message.tolist() == df.message.iloc[:5].tolist()
    assert back.host.tolist() == ["WS01"] * 5 and back.bytes_out.tolist() == df.bytes_out.iloc[:5].tolist()
    assert [list(t) for t in back.tags] == [["login"]] * 5 and [list(a) for a in back.attack] == [["T1021.002"]] * 5
    attrs = [json.loads(a) for a in back.attributes]
    # provenance of the exported event kept beside ours
    assert [a["source_event_id"] for a in attrs] == df.event_id.iloc[:5].tolist()
    assert [a["i"] for a in attrs] == list(range(5))


PLASO_LINES = [
    {"__container_type__": "event", "__type__": "AttributeContainer", "data_type": "syslog:line",
     "date_time": {"__class_name__": "PosixTimeInMicroseconds", "__type__": "DateTimeValues", "timestamp": 1340821021000000},
     "display_name": "TSK:/var/log/syslog.1", "filename": "/var/log/syslog.1", "hostname": "ubuntu", "inode": "15",
     "message": "Reporter <CRON> PID: |8442| (pam_unix(cron:session): session closed for user root)",
     "parser": "syslog", "pathspec": {"__type__": "PathSpec", "location": "/var/log/syslog.1", "type_indicator": "TSK"},
     "timestamp": 1340821021000000, "timestamp_desc": "Unknown Time", "username": "root", "tag": ["cron"]},
    {"__container_type__": "event", "__type__": "AttributeContainer", "data_type": "windows:volume:creation",
     "date_time": {"__class_name__": "Filetime", "__type__": "DateTimeValues", "timestamp": 132902282486494590},
     "display_name": "OS:/C/Windows/prefetch/CHROME.EXE-AED7BA3D.pf", "parser": "prefetch",
     "message": "Volume created", "timestamp_desc": "Creation Time", "sha256_hash": "ab" * 32},
]


def test_plaso_json_line_keeps_time_entities_and_provenance(tmp_path, cc_home):
    p = tmp_path / "psort.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in PLASO_LINES) + "\n{broken\n", encoding="utf-8")
    assert detect_type(p.read_bytes()[:4096], p.name) == "plaso_jsonl"
    c = cases.create_case("plaso")
    cases.add_evidence(c.id, p)
    summary = ingest_case(c.id, workers=1)
    (item,) = summary.values()
    assert item.events == 2 and len(item.errors) == 1 and item.errors[0]["line"] == 3
    df, _ = timecorrect.query(c.id, EventQuery(limit=10))
    a, b = df.iloc[0], df.iloc[1]
    assert a.timestamp == 1340821021000000 and a.host == "ubuntu" and a.user == "root" and a.data_type == "syslog:line"
    assert a.locator == "line 1" and list(a.tags) == ["cron"]
    attrs = json.loads(a.attributes)
    assert attrs["plaso_parser"] == "syslog" and attrs["display_name"] == "TSK:/var/log/syslog.1"
    assert json.loads(attrs["pathspec"])["location"] == "/var/log/syslog.1"
    # FILETIME 132902282486494590 (100 ns since 1601) -> POSIX µs
    assert b.timestamp == 132902282486494590 // 10 - 11_644_473_600 * 1_000_000
    assert b.file_sha256 == "ab" * 32


HAYABUSA_CSV = (
    "datetime,timestamp_desc,message,Level,Computer,Channel,EventID,MitreTactics,MitreTags,OtherTags,RecordID,Details,ExtraFieldInfo,RuleFile,EvtxFile\n"
    '2021-12-12 16:16:04.123 +09:00,hayabusa,Mimikatz Use,crit,WS01.corp.local,Sec,4688,CredAccess,T1003.001 ¦ S0002,,1234,'
    '"Cmdline: mimikatz.exe sekurlsa::logonpasswords ¦ Proc: C:\\t\\m.exe ¦ PID: 0x1a4 ¦ User: CORP\\alice",-,mimikatz.yml,Security.evtx\n'
    "not-a-time,hayabusa,Bad row,low,WS02,Sec,1,,,,,,,r.yml,Security.evtx\n"
)


def test_hayabusa_timesketch_verbose_csv_and_jsonl(tmp_path, cc_home):
    p = tmp_path / "hayabusa.csv"
    p.write_text(HAYABUSA_CSV, encoding="utf-8")
    j = tmp_path / "hayabusa.jsonl"
    j.write_text(json.dumps({"datetime": "2021-12-12T07:16:05.000000Z", "timestamp_desc": "hayabusa", "message": "Log cleared",
                             "Level": "high", "Computer": "WS01", "Channel": "Sec", "EventID": 1102, "MitreTactics": ["Evas"],
                             "MitreTags": ["T1070.001"], "RecordID": 9, "Details": {"User": "bob"}, "RuleFile": "c.yml",
                             "EvtxFile": "Security.evtx"}) + "\n", encoding="utf-8")
    c = cases.create_case("hayabusa")
    for f in (p, j):
        assert detect_type(f.read_bytes()[:4096], f.name) == "hayabusa"
        cases.add_evidence(c.id, f)
    summary = ingest_case(c.id, workers=1)
    errors = [e for s in summary.values() for e in s.errors]
    assert len(errors) == 1 and errors[0]["line"] == 3
    df, total = timecorrect.query(c.id, EventQuery(limit=10))
    assert total == 2
    m = df.iloc[0]
    assert m.datetime == "2021-12-12T07:16:04.123000Z" and m.severity == "critical" and list(m.attack) == ["T1003.001"]
    assert m.user == "CORP\\alice" and m.process_pid == 0x1A4 and "sekurlsa" in m.process_cmdline
    attrs = json.loads(m.attributes)
    assert attrs["record_id"] == "1234" and attrs["evtx_file"] == "Security.evtx" and attrs["rule_file"] == "mimikatz.yml"
    assert df.iloc[1].user == "bob" and list(df.iloc[1].attack) == ["T1070.001"]


def test_clock_offset_applies_at_query_and_keeps_original(tmp_path, cc_home):
    p = tmp_path / "psort.jsonl"
    p.write_text(json.dumps(PLASO_LINES[0]) + "\n", encoding="utf-8")
    c = cases.create_case("clock")
    sha = cases.add_evidence(c.id, p).evidence.sha256
    ingest_case(c.id, workers=1)
    timecorrect.set_correction(c.id, sha[:10], timecorrect.parse_offset("-1:00:00"), None)
    df, _ = timecorrect.query(c.id, EventQuery(limit=10))
    assert df.original_timestamp[0] == 1340821021000000
    assert df.timestamp[0] == 1340821021000000 - 3600 * 1_000_000
    assert df.datetime[0] == "2012-06-27T17:17:01.000000Z"
    from case_store import custody
    from case_store.db import session
    with session() as s:
        recorded = [e for e in custody.entries(s, c.id) if e.action == "time_correction"]
        assert len(recorded) == 1 and recorded[0].evidence_sha256 == sha and '"clock_offset_s":-3600' in recorded[0].details
