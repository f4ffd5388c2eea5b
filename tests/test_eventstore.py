"""Event store: one schema, deterministic ids, Parquet per (evidence, parser), DuckDB queries."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from case_store import cases
from case_store.clock import now_iso
from case_store.db import session
from case_store.eventstore import EventQuery, EventWriter, case_parquet_files, parquet_path, query
from case_store.models import IngestResult
from forensics.events import EVENT_COLUMNS, EVENT_SCHEMA, Event, iso_utc, make_event_id, to_us

BASE = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in µs


def _events(sha: str, n: int) -> list[Event]:
    out = []
    for i in range(n):
        out.append(Event(
            timestamp=BASE + i * 1_000_000, data_type="linux:auth" if i % 2 else "network:flow",
            message=f"event {i} {'Failed password' if i % 10 == 3 else 'ok'}", locator=f"line={i}",
            parser="test@1", evidence_sha256=sha, host=f"host{i % 3}", user="alice" if i % 4 == 0 else None,
            src_ip=f"10.0.0.{i % 5}", dst_ip="203.0.113.9" if i % 7 == 0 else None,
            tags=["brute_force"] if i % 10 == 3 else [], attributes={"n": i},
        ))
    return out


def _store(case_id: str, sha: str, evs: list[Event]) -> None:
    w = EventWriter(parquet_path(sha, "test@1"))
    for e in evs:
        w.add(e)
    path = w.commit()
    with session() as s:
        s.add(IngestResult(evidence_sha256=sha, parser="test@1", config_hash="", status="ok", events=len(evs),
                           errors="[]", parquet_path=str(path), created_at=now_iso()))


@pytest.fixture()
def case_with_events(store, tmp_path):
    c = cases.create_case("events")
    f = tmp_path / "a.log"
    f.write_text("x\n")
    sha = cases.add_evidence(c.id, f).evidence.sha256
    _store(c.id, sha, _events(sha, 1000))
    return c.id, sha


def test_schema_is_the_design_record():
    for name in ("event_id", "timestamp", "datetime", "timestamp_desc", "data_type", "parser", "message",
                 "evidence_sha256", "locator", "host", "user", "process_pid", "process_name", "process_cmdline",
                 "src_ip", "src_port", "dst_ip", "dst_port", "proto", "bytes_out", "bytes_in", "domain", "url",
                 "file_path", "file_sha256", "tags", "attack", "gbt_category", "severity", "attributes"):
        assert name in EVENT_COLUMNS


def test_event_ids_are_deterministic_and_distinct():
    a = Event(timestamp=BASE, data_type="x", message="m", locator="off=1", parser="p@1", evidence_sha256="ab")
    b = Event(timestamp=BASE + 5, data_type="x", message="other", locator="off=1", parser="p@1", evidence_sha256="ab")
    assert a.to_row()["event_id"] == b.to_row()["event_id"] == make_event_id("ab", "off=1", "p@1", "x")
    c = Event(timestamp=BASE, data_type="x", message="m", locator="off=2", parser="p@1", evidence_sha256="ab")
    assert c.to_row()["event_id"] != a.to_row()["event_id"]
    assert a.to_row()["datetime"] == "2026-01-01T00:00:00.000000Z" == iso_utc(BASE)
    from datetime import datetime, timezone
    assert to_us(datetime(2026, 1, 1, 0, 0, 0, 7, tzinfo=timezone.utc)) == BASE + 7


def test_parquet_file_has_the_schema_and_is_byte_identical_across_writes(tmp_path):
    evs = _events("cd" * 32, 200)
    paths = []
    for k in range(2):
        w = EventWriter(tmp_path / f"e{k}.parquet")
        for e in evs:
            w.add(e)
        paths.append(w.commit())
    assert pq.read_schema(paths[0]).names == EVENT_SCHEMA.names
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_killed_writer_leaves_no_visible_file(tmp_path):
    dest = tmp_path / "x.parquet"
    w = EventWriter(dest)
    for e in _events("ee" * 32, 10):
        w.add(e)
    w.abort()
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_queries_filter_page_and_count(case_with_events):
    cid, sha = case_with_events
    assert case_parquet_files(cid)
    page, total = query(cid, EventQuery(limit=10))
    assert total == 1000 and len(page) == 10 and list(page["timestamp"]) == sorted(page["timestamp"])
    page2, _ = query(cid, EventQuery(limit=10, offset=10))
    assert set(page["event_id"]).isdisjoint(page2["event_id"])
    assert query(cid, EventQuery(start_us=BASE + 100_000_000, end_us=BASE + 199_000_000))[1] == 100
    assert query(cid, EventQuery(host="HOST1"))[1] == 333
    assert query(cid, EventQuery(user="alice"))[1] == 250
    assert query(cid, EventQuery(ip="203.0.113.9"))[1] == 143
    assert query(cid, EventQuery(ip="10.0.0.4"))[1] == 200
    assert query(cid, EventQuery(tag="brute_force"))[1] == 100
    assert query(cid, EventQuery(data_type="network:flow"))[1] == 500
    assert query(cid, EventQuery(data_type="linux:*"))[1] == 500
    assert query(cid, EventQuery(text="failed password"))[1] == 100
    combined, n = query(cid, EventQuery(tag="brute_force", host="host0", limit=5))
    assert n == len([i for i in range(1000) if i % 10 == 3 and i % 3 == 0]) and len(combined) == 5
    row = combined.iloc[0]
    assert json.loads(row["attributes"])["n"] % 10 == 3 and row["evidence_sha256"] == sha


def test_events_cli_formats(case_with_events):
    from typer.testing import CliRunner

    from app.cli import app

    cid, _ = case_with_events
    r = CliRunner().invoke(app, ["events", cid, "--tag", "brute_force", "--limit", "3", "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(l) for l in r.output.strip().splitlines()]
    assert len(rows) == 3 and all("brute_force" in x["tags"] for x in rows)
    r = CliRunner().invoke(app, ["events", cid, "--host", "host2", "--limit", "2", "--format", "csv"])
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("event_id,timestamp,datetime")


from hypothesis import given, settings
from hypothesis import strategies as st

_flat_values = st.one_of(st.text(), st.booleans(), st.none(), st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1), st.dictionaries(st.integers(), st.text(), max_size=2),
                         st.integers(), st.floats(allow_nan=False), st.lists(st.text(), max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), _flat_values, max_size=8))
def test_canonical_json_fast_path_is_byte_identical_to_stdlib(d):
    import json

    from forensics.events import canonical_json

    assert canonical_json(d) == json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def test_per_row_unique_text_is_written_plain_without_statistics(tmp_path):
    """Dictionary pages and min/max statistics on ids, messages, locators and attributes cost a third of
    the write for nothing; the columns queries filter on keep their statistics."""
    w = EventWriter(tmp_path / "e.parquet")
    for e in _events("c" * 64, 1500):  # over SMALL_FILE_ROWS: the large-file encoding
        w.add(e)
    meta = pq.ParquetFile(w.commit()).metadata.row_group(0)
    col = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    for name in ("event_id", "message", "locator", "attributes"):
        assert not col[name].is_stats_set, name
        assert "PLAIN_DICTIONARY" not in col[name].encodings and "RLE_DICTIONARY" not in col[name].encodings, name
    # source addresses: plain (a web log has tens of thousands per row group), with statistics for IP filters
    assert "RLE_DICTIONARY" not in col["src_ip"].encodings and col["src_ip"].is_stats_set
    for name in ("timestamp", "datetime", "host", "data_type"):
        assert col[name].is_stats_set, name
    assert col["timestamp"].statistics.min == BASE and col["datetime"].statistics.min == iso_utc(BASE)
    assert "RLE_DICTIONARY" in col["host"].encodings


def test_small_files_are_written_without_compression_large_ones_with_zstd(tmp_path):
    """A file's fixed cost (a zstd context per column chunk) dominates a small file: below
    SMALL_FILE_ROWS rows it is written uncompressed; the choice depends on its rows only."""
    from case_store.eventstore import SMALL_FILE_ROWS
    sizes = {"small": SMALL_FILE_ROWS - 1, "large": SMALL_FILE_ROWS + 1}
    codecs = {}
    for name, n in sizes.items():
        w = EventWriter(tmp_path / f"{name}.parquet")
        for e in _events("e" * 64, n):
            w.add(e)
        f = pq.ParquetFile(w.commit())
        assert f.metadata.num_rows == n
        codecs[name] = {f.metadata.row_group(0).column(i).compression for i in range(f.metadata.num_columns)}
    assert codecs == {"small": {"UNCOMPRESSED"}, "large": {"ZSTD"}}
    w = EventWriter(tmp_path / "empty.parquet")
    assert pq.read_table(w.commit()).num_rows == 0


def test_large_files_reach_the_encoders_in_batches_of_write_batch_rows(tmp_path):
    """Each batch of values costs every column writer its bookkeeping again: a large file's go to the
    encoders WRITE_BATCH_ROWS at a time (pyarrow's default is 1,024), the rows read back the same."""
    from case_store.eventstore import PARQUET_OPTIONS, SMALL_FILE_ROWS, WRITE_BATCH_ROWS
    assert PARQUET_OPTIONS["write_batch_size"] == WRITE_BATCH_ROWS >= 4096
    evs = _events("b" * 64, SMALL_FILE_ROWS + 5000)
    w = EventWriter(tmp_path / "l.parquet")
    for e in evs:
        w.add(e)
    t = pq.read_table(w.commit())
    assert t.column("event_id").to_pylist() == [e.event_id for e in evs]
    assert t.column("attributes").to_pylist() == [json.dumps({"n": i}, separators=(",", ":")) for i in range(len(evs))]


def test_small_files_keep_statistics_on_time_only(tmp_path):
    """A small file's other statistics cost ~10 % of its write; its time statistics, which let a time
    filter skip the file, are kept (and queries filtered on the others still find its rows)."""
    w = EventWriter(tmp_path / "s.parquet")
    for e in _events("d" * 64, 10):
        w.add(e)
    path = w.commit()
    meta = pq.ParquetFile(path).metadata.row_group(0)
    with_stats = {meta.column(i).path_in_schema for i in range(meta.num_columns) if meta.column(i).is_stats_set}
    assert with_stats == {"timestamp", "datetime"}
    assert meta.column(1).statistics.min == BASE
    q = EventQuery(host="HOST1", data_type="linux:auth", limit=100)
    page, total = query("unused", q, files=[str(path)])
    assert total == sum(1 for i in range(10) if i % 3 == 1 and i % 2) and set(page["host"]) == {"host1"}


def test_writer_makes_a_directory_once_and_again_when_removed(tmp_path, monkeypatch):
    """The directory of event files is made once per process, not per file (a mkdir and a stat on one
    that exists); one removed since is made again, for small files and large ones."""
    import os
    import shutil
    from case_store.eventstore import SMALL_FILE_ROWS
    made = []
    real_mkdir = os.mkdir
    monkeypatch.setattr(os, "mkdir", lambda p, *a, **k: (made.append(str(p)), real_mkdir(p, *a, **k))[1])
    d = tmp_path / "ab" / "abc"
    for n in (3, 3, SMALL_FILE_ROWS + 1):
        w = EventWriter(d / f"{n}.parquet")
        for e in _events("a" * 64, n):
            w.add(e)
        w.commit()
        if n == 3 and str(d) in made:
            first = list(made)
    assert str(d) in first and made == first  # made by the first writer only
    for n in (3, SMALL_FILE_ROWS + 1):
        shutil.rmtree(tmp_path / "ab")
        w = EventWriter(d / "again.parquet")
        for e in _events("a" * 64, n):
            w.add(e)
        assert pq.read_table(w.commit()).num_rows == n


def test_small_file_is_one_row_group_in_arrival_order(tmp_path):
    """Batches and single events of a small file (an EVTX file's records, then a reassembled
    PowerShell script block) are stored as one row group, in the order they came: each row
    group repeats every column writer's set-up, the larger part of a small file's cost."""
    from forensics.events import EventBatch
    w = EventWriter(tmp_path / "s.parquet")
    first, second = _events("f" * 64, 3), _events("f" * 64, 5)
    for e in first:
        w.add(e)
    w.add_batch(EventBatch(pq.read_table(_stored(tmp_path / "b.parquet", second))))
    w.add(first[0])
    f = pq.ParquetFile(w.commit())
    assert f.metadata.num_row_groups == 1
    ids = f.read().column("event_id").to_pylist()
    assert ids == [e.event_id for e in first] + [e.event_id for e in second] + [first[0].event_id]


def _stored(path, events):
    w = EventWriter(path)
    for e in events:
        w.add(e)
    return w.commit()


def test_batch_columns_picked_by_position_equal_the_per_column_path():
    """A batch whose columns are all stored as they are is picked by position (one select); one
    needing a cast takes the per-column path; both give the stored table exactly."""
    from case_store import eventstore
    from forensics.events import EVENT_SCHEMA
    n = 4
    cols = {f.name: pa.array([None] * n, f.type) for f in EVENT_SCHEMA if f.name != "datetime"}
    cols["timestamp"] = pa.array([BASE + i for i in range(n)], pa.int64())
    cols["event_id"] = pa.array([f"id{i}" for i in range(n)])
    cols["discriminator"] = pa.array([""] * n)  # an ingestor's extra column: not stored
    exact = pa.table(dict(reversed(list(cols.items()))))  # another column order
    assert eventstore._stored_columns(exact.schema) is not None
    cast = exact.set_column(exact.schema.get_field_index("src_port"), "src_port", pa.array([1] * n, pa.int64()))
    assert eventstore._stored_columns(cast.schema) is None
    for t in (exact, cast):
        got = eventstore._batch_table(t)
        assert got.schema.equals(EVENT_SCHEMA)
        assert got.column("datetime").to_pylist() == [iso_utc(BASE + i) for i in range(n)]
        assert got.column("event_id").to_pylist() == [f"id{i}" for i in range(n)]
    assert eventstore._batch_table(cast).column("src_port").to_pylist() == [1] * n
