"""How many cores one piece of work may use: the one place that sets DuckDB and Arrow thread counts.

A batch of reprocessing puts one task per core (one pool worker per core, or the
inline executor as the 1-worker case). If each task also let DuckDB and Arrow
start a thread per core, 2 workers would run 4+ busy threads on 2 cores: the
threads spin and wait on each other and the batch spends more CPU for the same
work. Inside `one_core()` every DuckDB connection opened through
`duckdb_threads()` runs on one thread and Arrow's pools have one thread, so one
worker = one core. Outside it (the UI, a single interactive ingest) the callers'
own defaults apply, so an analyst's query still uses the whole machine.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

_depth = 0
_lock = threading.Lock()
_arrow_before: tuple[int, int] | None = None


def duckdb_threads(default: int | None = None) -> int | None:
    """Threads for a DuckDB connection opened now: 1 inside `one_core()`, else `default` (None: DuckDB's own)."""
    return 1 if _depth else default


def apply(con, default: int | None = None):
    """`SET threads` on a DuckDB connection per `duckdb_threads` (nothing when no limit applies); returns `con`."""
    n = duckdb_threads(default)
    if n is not None:
        con.execute(f"SET threads TO {int(n)}")
    return con


@contextmanager
def one_core():
    """Work in this block uses one core: DuckDB connections it opens get one thread, Arrow one CPU and one I/O thread.

    Re-entrant; the Arrow pool sizes are process-wide and restored when the outermost block ends.
    """
    global _depth, _arrow_before
    with _lock:
        _depth += 1
        if _depth == 1:
            import pyarrow as pa

            _arrow_before = (pa.cpu_count(), pa.io_thread_count())
            pa.set_cpu_count(1)
            pa.set_io_thread_count(1)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _arrow_before is not None:
                import pyarrow as pa

                pa.set_cpu_count(_arrow_before[0])
                pa.set_io_thread_count(_arrow_before[1])
                _arrow_before = None


def on_one_core(fn, *args, **kwargs):
    """Run `fn` inside `one_core()`: the form a task takes when it goes to an executor (picklable: a module function)."""
    with one_core():
        return fn(*args, **kwargs)
