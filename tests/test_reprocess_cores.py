"""One batch task = one core: DuckDB connections opened inside `one_core()` get one thread, Arrow one thread;
outside it the callers' own settings apply again."""
from __future__ import annotations

import duckdb
import pyarrow as pa

from case_store import cores
from case_store.eventstore import connect


def _threads(con) -> int:
    return int(con.execute("SELECT current_setting('threads')").fetchone()[0])


def test_one_core_limits_duckdb_and_arrow_and_restores_them():
    before = (pa.cpu_count(), pa.io_thread_count())
    default = _threads(duckdb.connect())
    with cores.one_core():
        assert _threads(connect([])) == 1  # the event store's connections
        assert _threads(cores.apply(duckdb.connect())) == 1
        assert cores.duckdb_threads(2) == 1
        assert (pa.cpu_count(), pa.io_thread_count()) == (1, 1)
        with cores.one_core():  # re-entrant: the inner block does not restore early
            pass
        assert pa.cpu_count() == 1
    assert (pa.cpu_count(), pa.io_thread_count()) == before
    assert cores.duckdb_threads(2) == 2 and cores.duckdb_threads() is None
    assert _threads(connect([])) == default  # outside a task: DuckDB's own default (the UI uses the machine)


def test_on_one_core_runs_the_task_limited():
    assert cores.on_one_core(lambda: _threads(cores.apply(duckdb.connect()))) == 1
    assert cores.on_one_core(pa.cpu_count) == 1
