"""The driver's bookkeeping in bulk: carved files of a capture shared by several cases registered per case
with one chained run of custody entries (same evidence rows as the one-at-a-time reference path), the plan's
memo of applicable ingestors, and pool workers that retire without tearing their interpreter down."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.test_reprocess import inline, make_case, scenario  # noqa: F401  (fixture)


@pytest.fixture()
def home(monkeypatch):
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    d = Path(tempfile.mkdtemp(prefix="cc-reprocess-batching-", dir=base))
    monkeypatch.setenv("CYBERCLAIM_HOME", str(d))
    monkeypatch.delenv("CYBERCLAIM_DB_URL", raising=False)
    monkeypatch.setenv("CYBERCLAIM_USER", "tester")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _derived(case_id: str) -> list[tuple]:
    from case_store import cases

    return sorted((e.sha256, e.original_name, e.evidence_type, e.parent_sha256, e.derivation)
                  for e in cases.list_evidence(case_id) if e.parent_sha256)


def test_shared_capture_carved_files_registered_per_case_like_the_reference_path(home, scenario, monkeypatch):
    from case_store import custody
    from case_store.db import session
    from forensics.pipeline import ingest_case

    files = ("edge.pcapng", "platform_syslog.log")
    ref_home = home / "reference"
    ref_home.mkdir()
    monkeypatch.setenv("CYBERCLAIM_HOME", str(ref_home))  # a home of its own: nothing cached from the batch
    ref = make_case(scenario, files, "reference")
    ingest_case(ref, workers=1)  # the reference path: cases.register_derived, one custody append per file
    expected = _derived(ref)
    monkeypatch.setenv("CYBERCLAIM_HOME", str(home))
    a, b = make_case(scenario, files, "a"), make_case(scenario, files, "b")
    out = inline()([a, b])  # one batch: the capture runs once, both cases take its carved files
    assert {o.status for o in out.values()} == {"new"}
    assert _derived(a) == _derived(b) == expected != []
    with session() as s:
        for cid in (a, b):
            entries = custody.entries(s, cid)
            assert custody.verify_entries(entries) == []
            assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
            derived = [e.evidence_sha256 for e in entries if e.action == "evidence_derived"]
            assert sorted(derived) == sorted(x[0] for x in _derived(cid))  # one entry per registered file, no duplicate
        ingested = {cid: sum(e.action == "ingested" for e in custody.entries(s, cid)) for cid in (a, b)}
    assert ingested[a] > 0 and ingested[b] == 0  # a unit both cases share is recorded once, by the case that ran it


def test_append_many_chains_exactly_like_append(home):
    from case_store import cases, custody
    from case_store.db import session

    cid = cases.create_case("chain").id
    with session() as s:
        custody.append(s, cid, "note", None, n=0)
        many = custody.append_many(s, cid, [("note", None, {"n": 1}), ("note", "ab" * 32, {"n": 2, "x": [1, "y"]})])
        custody.append(s, cid, "note", None, n=3)
    assert custody.append_many(None, cid, []) == []  # nothing to append: no database round trip
    with session() as s:
        entries = custody.entries(s, cid)
    assert custody.verify_entries(entries) == []
    assert [(e.seq, e.details) for e in entries][-4:] == [(e.seq, e.details) for e in entries[-4:]]
    assert [e.seq for e in many] == [entries[-3].seq, entries[-2].seq]
    assert entries[-1].prev_hash == entries[-2].entry_hash and entries[-3].prev_hash == entries[-4].entry_hash
    assert [custody.entry_digest(e.prev_hash, e) for e in entries] == [e.entry_hash for e in entries]


def test_plan_memo_gives_the_same_units(home, scenario):
    from forensics.pipeline import plan

    cid = make_case(scenario, ("edge.pcapng", "web01_access.log", "platform_syslog.log"))
    memo: dict = {}
    reference = plan(cid, {"timezone": "UTC"})
    assert plan(cid, {"timezone": "UTC"}, memo=memo) == reference  # fills the memo
    assert memo and plan(cid, {"timezone": "UTC"}, memo=memo) == reference  # answered from it


def _leave_a_mark(path: str) -> int:
    atexit.register(lambda: Path(path).write_text("torn down"))
    return os.getpid()


def test_retired_pool_worker_skips_interpreter_teardown(tmp_path):
    from forensics.executors import LocalExecutor

    mark = tmp_path / "mark"
    with LocalExecutor(1) as ex:
        ex.submit("t", _leave_a_mark, str(mark))
        [[done]] = list(ex.batches())
        procs = list(ex._pool._processes.values())
    assert done.error is None and done.value in [p.pid for p in procs]
    assert all(p.exitcode == 0 for p in procs)  # a clean exit for the pool's bookkeeping
    assert not mark.exists()  # exit handlers after the executor's own never ran: no teardown


def test_relative_event_paths_match_pathlib():
    from hypothesis import given, settings, strategies as st

    from case_store.reprocess import _rel

    base = Path("/home/cc/events")
    part = st.sampled_from(["ab", "abc", ".", "..", "", "p@1.parquet", "x+y.parquet", "events", " "])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(part, max_size=5), st.sampled_from(["/home/cc/events", "/home/cc/eventsX", "/other", "/home/cc"]))
    def check(parts, root):
        p = root + "/" + "/".join(parts)
        try:
            want = Path(p).relative_to(base).as_posix()
        except ValueError:
            want = p
        assert _rel(p, base) == want

    check()


def test_finalize_without_empty_event_files_gives_the_same_storyline(home, scenario):
    """finalize_case hands the storyline only the event files that hold events: same storyline as the
    storyline's own look-up of every file, clock corrections included."""
    from case_store import cases
    from case_store.eventstore import case_parquet_files
    from case_store.reprocess import timeline_files
    from forensics.storyline import build_storyline

    cid = make_case(scenario, ("edge.pcapng", "web01_access.log", "platform_syslog.log"))
    items = {e.original_name: e for e in cases.list_evidence(cid)}
    cases.set_time_correction(cid, items["edge.pcapng"].sha256, -3600.0, None)  # offsets must still apply
    inline()([cid])
    files = timeline_files(cid)
    assert files and len(files) < len(case_parquet_files(cid))  # there are empty files to leave out
    from forensics.timecorrect import corrections

    offsets = {c.evidence_sha256: c.offset_us for c in corrections(cid) if c.offset_us}
    fast = build_storyline(cid, files=files, offsets=offsets)
    assert fast.model_dump_json() == build_storyline(cid).model_dump_json()


def test_a_compacted_timeline_keeps_every_file(home, scenario, monkeypatch):
    """Above the compaction threshold the storyline reads the compacted copy the UI shares: same file set."""
    import case_store.eventstore as es
    from case_store.reprocess import timeline_files

    cid = make_case(scenario, ("platform_syslog.log", "web01_access.log"))
    inline()([cid])
    assert len(timeline_files(cid)) < len(es.case_parquet_files(cid))  # below the threshold: empty files left out
    monkeypatch.setattr(es, "COMPACT_MIN_ROWS", 1)
    assert timeline_files(cid) == es.case_parquet_files(cid)


def _double(x: int) -> int:
    return 2 * x


def test_prepare_starts_the_pool_workers_before_any_task():
    """A batch with certainly new work starts the workers while the driver still plans; the warm-up
    tasks never come back as results."""
    from forensics.executors import LocalExecutor

    with LocalExecutor(2) as ex:
        ex.prepare()
        assert len(ex._pool._processes) == 2
        ex.prepare()  # once only
        for i in range(3):
            ex.submit(i, _double, i)
        got = sorted((d.tag, d.value) for b in ex.batches() for d in b)
    assert got == [(0, 0), (1, 2), (2, 4)]


def _units_of(case_id: str) -> set[tuple[str, str]]:
    """(evidence sha256, parser) of every stored result over the case's evidence."""
    from case_store import cases
    from case_store.db import session
    from case_store.models import IngestResult

    shas = [e.sha256 for e in cases.list_evidence(case_id)]
    with session() as s:
        return set(s.execute(select(IngestResult.evidence_sha256, IngestResult.parser)
                             .where(IngestResult.evidence_sha256.in_(shas))).all())


@pytest.mark.parametrize("second", ["ingest", "reprocess"])
def test_a_case_reusing_another_cases_results_gets_their_carved_files(home, scenario, second):
    """The capture was ingested for case a; case b adds the same capture later and every unit is a cache
    hit. b must still get the carved files as its own derived evidence, and their units, as a did."""
    from forensics.pipeline import ingest_case

    files = ("edge.pcapng", "platform_syslog.log")
    a = make_case(scenario, files, "a")
    ingest_case(a, workers=1)
    expected = _derived(a)
    assert expected != []
    b = make_case(scenario, files, "b")
    if second == "ingest":
        summary = ingest_case(b, workers=1)
        assert all(item.ran == 0 for item in summary.values())  # nothing parsed again
    else:
        out = inline()([b])
        assert {o.status for o in out.values()} == {"new"}
    assert _derived(b) == expected
    assert _units_of(b) == _units_of(a)  # the carved files' own units (PE, YARA, ...) belong to b as well


def test_results_stored_before_carved_files_were_recorded_run_again(home, scenario):
    """A row from before migration 0003 (carved unknown) is not a cache hit: it may hide carved files."""
    from sqlalchemy import update

    from case_store.db import session
    from case_store.models import IngestResult
    from forensics.pipeline import ingest_case

    a = make_case(scenario, ("edge.pcapng",), "a")
    ingest_case(a, workers=1)
    with session() as s:
        s.execute(update(IngestResult).values(carved=None))
    b = make_case(scenario, ("edge.pcapng",), "b")
    summary = ingest_case(b, workers=1)
    assert sum(item.ran for item in summary.values()) > 0
    assert _derived(b) == _derived(a) != []
