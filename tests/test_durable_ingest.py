"""Workers of the local pool write event files without fsync; the parent flushes them (one syncfs per
filesystem) before it records any of them, so a recorded event file is always on disk."""
from __future__ import annotations

import os

from case_store import cases, eventstore
from forensics import pipeline

LOG = "\n".join(f"Jan  {1 + i % 9} 10:00:{i % 60:02d} web01 sshd[42]: Failed password for root from 203.0.113.{i % 7} "
                f"port {1000 + i} ssh2" for i in range(200)) + "\n"


def test_pool_units_are_flushed_before_they_are_recorded(cc_home, tmp_path, monkeypatch):
    c = cases.create_case("durable")
    for i in range(3):
        p = tmp_path / f"auth{i}.log"
        p.write_text(LOG.replace("web01", f"web0{i}"))
        cases.add_evidence(c.id, p)
    flushed: set[str] = set()
    recorded: list[tuple[str, bool]] = []
    real_flush, real_record = pipeline.make_durable, pipeline._record

    def flush(paths):
        paths = list(paths)
        real_flush(paths)
        flushed.update(paths)

    def record(r):
        recorded.append((r.parquet, r.parquet in flushed))
        real_record(r)

    monkeypatch.setattr(pipeline, "make_durable", flush)
    monkeypatch.setattr(pipeline, "_record", record)
    summary = pipeline.ingest_case(c.id, workers=2)
    assert sum(s.ran for s in summary.values()) >= 3
    assert recorded and all(ok for _, ok in recorded), recorded
    assert all(os.path.exists(p) for p, _ in recorded)


def test_worker_side_unit_skips_fsync_only_when_asked(cc_home, tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    for durable, expect in ((True, True), (False, False)):
        calls.clear()
        w = eventstore.EventWriter(tmp_path / f"e{durable}.parquet")
        w.commit(durable)
        assert bool(calls) is expect
        assert (tmp_path / f"e{durable}.parquet").exists()


def test_make_durable_flushes_each_filesystem_once_and_tolerates_missing_files(tmp_path, monkeypatch):
    files = []
    for i in range(4):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"x" * 10)
        files.append(str(f))
    synced = []
    real = eventstore._syncfs
    monkeypatch.setattr(eventstore, "_syncfs", lambda p: (synced.append(p), real(p))[1])
    eventstore.make_durable(files + [str(tmp_path / "gone"), None])
    assert len(synced) == 1
    # where syncfs is missing (not Linux), every file is fsynced instead
    monkeypatch.setattr(eventstore, "_syncfs", lambda p: False)
    fsynced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd)))
    eventstore.make_durable(files)
    assert len(fsynced) == 2 * len(files)  # the file and its directory


def test_pool_starts_the_biggest_units_first(cc_home, tmp_path):
    """A big item started last runs alone while the other workers idle: the pool starts units
    largest first, plan order among equals, and every unit is still ingested and recorded."""
    c = cases.create_case("order")
    lines = LOG.splitlines(keepends=True)
    for name, n in (("a_small.log", 20), ("b_big.log", 200), ("c_mid.log", 80), ("d_small.log", 10)):
        (tmp_path / name).write_text("".join(lines[:n]))
        cases.add_evidence(c.id, tmp_path / name)
    started: list[str] = []
    summary = pipeline.ingest_case(c.id, workers=2,
                                   progress=lambda kind, info: started.append(info["unit"].display_name) if kind == "start" else None)
    assert list(dict.fromkeys(started)) == ["b_big.log", "c_mid.log", "a_small.log", "d_small.log"]
    same = [pipeline.Unit("c", str(i), f"u{i}", str(tmp_path / "a_small.log"), "log", "", "", "", {}) for i in range(3)]
    assert [u for t in pipeline.pool_tasks(same) for u in t] == same  # plan order among equals
    assert sorted(s.name for s in summary.values() if s.ran) == ["a_small.log", "b_big.log", "c_mid.log", "d_small.log"]


def test_pool_flushes_at_most_once_per_interval(cc_home, tmp_path, monkeypatch):
    """Units finishing one by one share a flush: one syncfs per FLUSH_INTERVAL, not one per wake-up
    (each is a journal commit), and every result is still handed on only after its flush."""
    c = cases.create_case("flushes")
    for i in range(8):
        p = tmp_path / f"auth{i}.log"
        p.write_text(LOG.replace("web01", f"web0{i}"))
        cases.add_evidence(c.id, p)
    flushes: list[list[str]] = []
    flushed: set[str] = set()
    real_flush = pipeline.make_durable

    def flush(paths):
        paths = list(paths)
        real_flush(paths)
        flushes.append(paths)
        flushed.update(paths)

    monkeypatch.setattr(pipeline, "make_durable", flush)
    monkeypatch.setattr(pipeline, "FLUSH_INTERVAL", 60.0)  # longer than the whole run: one flush at its end
    seen = []
    summary = pipeline.ingest_case(c.id, workers=2, progress=lambda kind, info: seen.append(
        info["result"].parquet in flushed) if kind == "done" else None)
    units = sum(s.ran for s in summary.values())
    assert units >= 8 and len(seen) == units
    assert len(flushes) == 1 and len(flushes[0]) == units, flushes
    assert all(seen)


def test_small_units_share_pool_tasks_in_start_order(tmp_path, monkeypatch):
    """Each pool task costs the parent and a worker about as much as a small file's ingest, so small
    units share tasks (up to GROUP_UNITS or GROUP_BYTES), big ones run alone, all biggest first."""
    monkeypatch.setattr(pipeline, "SMALL_UNIT_BYTES", 1000)
    monkeypatch.setattr(pipeline, "GROUP_UNITS", 3)
    monkeypatch.setattr(pipeline, "GROUP_BYTES", 1000)
    sizes = {"big1": 5000, "big2": 1000, "s400": 400, "s300a": 300, "s300b": 300, "s100a": 100, "s100b": 100,
             "s100c": 100, "s100d": 100, "empty": 0}
    units = []
    for name, n in sizes.items():
        (tmp_path / name).write_bytes(b"x" * n)
        units.append(pipeline.Unit("c", name, name, str(tmp_path / name), "log", "", "", "", {}))
    tasks = [[u.display_name for u in t] for t in pipeline.pool_tasks(units[::-1])]
    assert tasks == [["big1"], ["big2"], ["s400", "s300b", "s300a"], ["s100d", "s100c", "s100b"], ["s100a", "empty"]]
    assert [u for t in pipeline.pool_tasks(units) for u in t] == sorted(units, key=lambda u: -sizes[u.display_name])


def _dies_on_marked_unit(u, durable=True):
    if u.display_name == "die":
        os._exit(3)  # a worker killed mid-task (OOM killer, signal)
    return pipeline.UnitResult(u, "ok", 0, [], [], None, 0.0)


def test_a_dead_worker_fails_its_units_and_loses_none(tmp_path, monkeypatch):
    """A worker that dies takes its task's units (and, the pool being broken, the tasks still
    pending) with it: each of them comes back failed with the reason, none is lost or repeated."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setattr(pipeline, "run_unit", _dies_on_marked_unit)  # inherited by the forked workers
    names = ["a", "b", "die", "c", "d"]
    for n in names:
        (tmp_path / n).write_bytes(b"x" * 10)
    units = [pipeline.Unit("c", n, n, str(tmp_path / n), "log", "", "", "", {}) for n in names]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pipeline.run_on_pool(pool, units))
    assert sorted(r.unit.display_name for r in results) == sorted(names)
    dead = next(r for r in results if r.unit.display_name == "die")
    assert dead.status == "failed" and "worker failed" in dead.errors[0]["reason"]
