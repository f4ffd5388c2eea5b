"""EventWriter(threaded=True): the row groups written on a thread of their own, same bytes, errors surfaced."""
from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from case_store import eventstore
from case_store.eventstore import EventWriter
from forensics.events import EVENT_SCHEMA, Event, EventBatch

BASE = 1_767_225_600_000_000


def _events(lo: int, hi: int) -> list[Event]:
    return [Event(timestamp=BASE + i * 1_000_003, data_type="linux:auth" if i % 3 else "web:access",
                  message=f"event {i}", locator=f"line={i}", parser="t@1", evidence_sha256="cd" * 32,
                  host=f"h{i % 4}", src_port=i % 70000 or None, tags=["b", "a"] if i % 5 == 0 else [],
                  attributes={"n": i}) for i in range(lo, hi)]


def _batch(evs: list[Event]) -> EventBatch:
    rows = [e.to_row() for e in evs]
    cols = {f.name: pa.array([r[f.name] for r in rows], f.type) for f in EVENT_SCHEMA if f.name != "datetime"}
    cols["src_port"] = cols["src_port"].cast(pa.int64())  # the store casts it, on the thread too
    cols["discriminator"] = pa.array([""] * len(rows), pa.string())
    return EventBatch(pa.table(cols))


def _write(w: EventWriter) -> None:
    """Single events and batches interleaved, past the small-file threshold, several row groups."""
    for e in _events(0, 700):
        w.add(e)
    w.add_batch(_batch(_events(700, 2000)))
    for e in _events(2000, 2100):
        w.add(e)
    for k in range(5):
        w.add_batch(_batch(_events(2100 + 900 * k, 3000 + 900 * k)))


@pytest.fixture(autouse=True)
def small_row_groups(monkeypatch):
    """Row groups from 1,000 rows: the few thousand rows of these tests make several."""
    monkeypatch.setattr(eventstore, "ROW_GROUP_MIN_ROWS", 1000)


def test_threaded_writer_writes_the_same_bytes_in_the_same_order(tmp_path):
    plain, threaded = EventWriter(tmp_path / "a.parquet"), EventWriter(tmp_path / "b.parquet", threaded=True)
    _write(plain)
    _write(threaded)
    assert threaded._thread is not None and threaded._thread.is_alive()  # it did run on the thread
    assert plain.commit().read_bytes() == threaded.commit().read_bytes()
    assert threaded.count == plain.count == 6600
    assert pq.ParquetFile(tmp_path / "b.parquet").metadata.num_row_groups > 3
    assert not any(t.name == "eventstore-writer" for t in threading.enumerate())


def test_a_small_file_starts_no_thread(tmp_path):
    w = EventWriter(tmp_path / "s.parquet", threaded=True)
    w.add_batch(_batch(_events(0, 10)))
    assert w._thread is None
    assert pq.read_table(w.commit()).num_rows == 10


class _Boom(RuntimeError):
    pass


@pytest.fixture()
def failing_write(monkeypatch):
    """pyarrow's write_table fails from the third row group on (a full disk, say)."""
    calls = {"n": 0}
    real = pq.ParquetWriter.write_table

    def write_table(self, table, *a, **k):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise _Boom("disk full")
        return real(self, table, *a, **k)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_table)
    return calls


def test_an_error_of_the_thread_is_raised_by_commit_and_no_file_is_visible(tmp_path, failing_write):
    dest = tmp_path / "e.parquet"
    w = EventWriter(dest, threaded=True)
    with pytest.raises(_Boom):  # by a later add_batch (the thread got there first) or by commit
        _write(w)
        w.commit()
    assert not dest.exists()
    w.abort()
    assert list(tmp_path.iterdir()) == []
    assert not any(t.name == "eventstore-writer" for t in threading.enumerate())


def test_abort_stops_the_thread_and_leaves_no_file(tmp_path):
    dest = tmp_path / "x.parquet"
    w = EventWriter(dest, threaded=True)
    _write(w)
    w.abort()
    assert list(tmp_path.iterdir()) == []
    assert not any(t.name == "eventstore-writer" for t in threading.enumerate())


def test_the_text_log_ingest_writes_on_the_thread(monkeypatch, tmp_path):
    """run_unit asks for the thread for ingestors that say so (the text log's merge overlaps the write)."""
    from forensics import pipeline
    from forensics.ingestors.textlog import TextLogIngestor

    seen = []
    real = eventstore.EventWriter.__init__

    def init(self, dest, threaded=False):
        seen.append(threaded)
        real(self, dest, threaded)

    monkeypatch.setattr(pipeline.EventWriter, "__init__", init)
    monkeypatch.setenv("CYBERCLAIM_HOME", str(tmp_path / "home"))
    log = tmp_path / "auth.log"
    log.write_text("".join(f"Jan  1 00:00:{i % 60:02d} h sshd[1]: Connection closed by 10.0.0.1\n" for i in range(2000)))
    u = pipeline.Unit("c", "ab" * 32, "auth.log", str(log), "text_log", TextLogIngestor.name,
                      TextLogIngestor.parser_id(), "", {"year": 2024})
    r = pipeline.run_unit(u)
    assert r.status == "ok" and r.events == 2000 and seen == [True]


@pytest.mark.parametrize("threaded", [False, True])
def test_tiny_tables_in_a_row_share_row_groups(tmp_path, threaded):
    """A text log whose bulk lines alternate with lines the line parser takes hands the store one-row
    tables by the thousand: they share row groups of ROW_GROUP_MIN_ROWS (one each cost ~0.7 ms and
    the writer kept every one's metadata in memory), and the file holds the same rows in order."""
    w = EventWriter(tmp_path / "t.parquet", threaded=threaded)
    evs = _events(0, 5000)
    for i in range(0, 5000, 2):
        w.add(evs[i])
        w.add_batch(_batch(evs[i + 1:i + 2]))  # each batch flushes the single event before it
    f = pq.ParquetFile(w.commit())
    assert f.metadata.num_rows == 5000
    assert f.metadata.num_row_groups == 5  # 1,000 rows each (the fixture's minimum), not 5,000 of one row
    assert f.read().column("locator").to_pylist() == [e.locator for e in evs]


def test_the_text_log_batches_run_with_the_collector_paused_and_restore_it(tmp_path):
    """The detections keep recent events alive and nearly nothing is cyclic: the cyclic collector
    is off while the text log's batches come (it cost ~0.27 µs per line of the parent) and on after."""
    import gc

    from forensics.ingestors.base import IngestContext
    from forensics.ingestors.textlog import TextLogIngestor

    log = tmp_path / "auth.log"
    log.write_text("".join(f"Jan  1 00:00:{i % 60:02d} h sshd[1]: Connection closed by 10.0.0.1\n" for i in range(50)))
    assert gc.isenabled()
    states = [gc.isenabled() for _ in TextLogIngestor().ingest_batches(IngestContext(log, "ab" * 32, "text_log", "a.log",
                                                                                      {"year": 2024}))]
    assert states and not any(states)
    assert gc.isenabled()
