"""Where work units run: in this process, on a local process pool, or on a Dask cluster.

All three offer the same calls — `submit(tag, fn, *args, priority=)` and
`batches()` (or `completed()`, one at a time) — so the batch driver does not
care where a unit runs. Workers only write immutable files (Parquet event
files, vault blobs); the driver that consumes the results is the only writer
of the case database.

`batches()` hands over everything that has finished since the driver last
looked, so the driver writes one database transaction per batch: the busier
the driver, the larger its batches, and its share of the machine stays small.

Higher `priority` runs first (the Dask convention); equal priorities run in
submission order. The driver gives a case's follow-up work (carved files,
Sigma, storyline) precedence over the next case's first units, so cases finish
one after another rather than all at the end.

A worker that dies (OOM killer, SIGKILL) costs the units it held: the local
pool is rebuilt and those units are resubmitted a bounded number of times;
Dask reschedules them by itself (its `allowed-failures`).
"""
from __future__ import annotations

import heapq
import itertools
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from case_store import CyberclaimError

MAX_RESUBMITS = 2
IN_FLIGHT_PER_WORKER = 2  # one running, one queued: a worker never waits for the driver to hand it work


@dataclass
class Done:
    """A finished task: its tag (the driver's handle), and either a value or the exception."""

    tag: Any
    value: Any = None
    error: BaseException | None = None


class _Queue:
    """Tasks not yet handed to a worker: highest priority first, then submission order."""

    def __init__(self):
        self._heap: list = []
        self._seq = itertools.count()

    def push(self, priority: int, task: tuple) -> None:
        heapq.heappush(self._heap, (-priority, next(self._seq), task))

    def pop(self) -> tuple:
        return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)


class Executor:
    workers: int = 1
    where: str = "inline"

    def submit(self, tag: Any, fn: Callable, *args: Any, priority: int = 0) -> None:
        raise NotImplementedError

    def batches(self) -> Iterator[list[Done]]:
        """Lists of finished tasks, as they finish, until none is outstanding (new submits are picked up)."""
        raise NotImplementedError

    def completed(self) -> Iterator[Done]:
        for batch in self.batches():
            yield from batch

    def prepare(self) -> None:
        """Work is certainly coming: get ready for it now (start workers) while the driver still plans."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InlineExecutor(Executor):
    """One worker: run each task in this process (the honest 1-worker baseline: no IPC, one import)."""

    def __init__(self):
        self._queue = _Queue()

    def submit(self, tag, fn, *args, priority: int = 0):
        self._queue.push(priority, (tag, fn, args))

    def batches(self):
        while self._queue:
            tag, fn, args = self._queue.pop()
            try:
                yield [Done(tag, fn(*args))]
            except Exception as e:  # the driver decides what a failed task costs
                yield [Done(tag, error=e)]


class LocalExecutor(Executor):
    """A process pool on this machine, one pool for the whole batch. Spawned (not forked) workers:
    the driver holds database connections and DuckDB handles that must not be shared with children.

    Only a few tasks per worker are handed to the pool at a time; the rest wait in
    our own priority queue, so follow-up work overtakes queued first units."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.where = f"{self.workers} local processes"
        self._ctx = multiprocessing.get_context("spawn")
        self._pool = self._new_pool()
        self._queue = _Queue()
        self._futs: dict = {}  # future -> (tag, fn, args, attempts, priority)
        self._refused: list[Done] = []  # tasks given up on at submission
        self._warming: list = []  # prepare()'s warm-up tasks (one per worker)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx, initializer=_pool_worker_start)

    def prepare(self):
        """Start the workers now: they import the ingest code (~1 s each) while the driver is still
        planning the first case (its own imports, hashing), instead of after its first submit."""
        if not self._warming:
            try:
                self._warming = [self._pool.submit(_warm_worker) for _ in range(self.workers)]  # results unused
            except Exception:  # a warm-up is optional; a broken pool shows at the first real submit
                self._warming = [None]

    def submit(self, tag, fn, *args, priority: int = 0, _attempt: int = 0):
        self._queue.push(priority, (tag, fn, args, _attempt, priority))
        self._top_up()  # workers start on the first case while the driver still plans the others

    def _top_up(self) -> None:
        while self._queue and len(self._futs) < self.workers * IN_FLIGHT_PER_WORKER:
            tag, fn, args, attempt, priority = task = self._queue.pop()
            try:
                self._futs[self._pool.submit(fn, *args)] = task
            except BrokenProcessPool as e:  # a worker died since we last looked: fresh pool, this task once more
                if attempt < MAX_RESUBMITS:
                    self._rebuild([(tag, fn, args, attempt + 1, priority)])
                else:
                    self._refused.append(Done(tag, error=RuntimeError(f"worker process died {attempt + 1} times: {e}")))

    def batches(self):
        self._top_up()
        while self._futs or self._refused:
            done, _ = wait(list(self._futs), return_when=FIRST_COMPLETED) if self._futs else (set(), set())
            out, retry = self._refused, []
            self._refused = []
            for f in sorted(done, key=lambda f: self._futs[f][4], reverse=True):
                tag, fn, args, attempt, priority = self._futs.pop(f)
                try:
                    out.append(Done(tag, f.result()))
                except BrokenProcessPool as e:
                    if attempt < MAX_RESUBMITS:
                        retry.append((tag, fn, args, attempt + 1, priority))
                    else:
                        out.append(Done(tag, error=RuntimeError(f"worker process died {attempt + 1} times: {e}")))
                except Exception as e:
                    out.append(Done(tag, error=e))
            if retry:
                self._rebuild(retry)
            self._top_up()  # before the driver works through the batch: workers stay busy meanwhile
            if out:
                yield out
            self._top_up()  # the driver may have submitted follow-up work

    def _rebuild(self, retry: list) -> None:
        """A dead worker breaks the whole pool: requeue every unfinished task on a fresh pool."""
        for f, (tag, fn, args, attempt, priority) in list(self._futs.items()):
            retry.append((tag, fn, args, attempt + 1 if f.done() else attempt, priority))
        self._futs.clear()
        # end the broken pool's workers ourselves: one the pool started while it was breaking (a submit
        # racing its manager thread) is not among those the manager ends, waits on the call queue
        # forever, and interpreter exit joins it (seen once in CI: a resumed batch never exited).
        # Their tasks are requeued above.
        for p in list((getattr(self._pool, "_processes", None) or {}).values()):
            p.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        for tag, fn, args, attempt, priority in retry:
            self.submit(tag, fn, *args, priority=priority, _attempt=attempt)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """An existing Dask distributed cluster (scheduler address), or a Client the caller made.

    Workers must see the same CYBERCLAIM_HOME (shared filesystem) and database
    URL as the driver; `check_environment` verifies that before any work is sent.
    """

    def __init__(self, scheduler: str | None = None, client=None, timeout: float = 10, worker_wait: float = 30):
        from distributed import Client, as_completed

        self.worker_wait = worker_wait
        self._owns = client is None
        try:
            self.client = client or Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise CyberclaimError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        self._ac = as_completed([], loop=self.client.loop, with_results=False)
        self._tags: dict = {}
        info = self.client.scheduler_info().get("workers", {})
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info.values()))
        self.where = f"Dask cluster {self.client.scheduler.address} ({len(info)} workers)"

    def check_environment(self) -> None:
        """Every worker must resolve the driver's home and database, or results would go astray."""
        from case_store.home import db_url, home

        want = (str(home()), db_url())
        try:  # a cluster just started may still be connecting its workers
            self.client.wait_for_workers(1, timeout=self.worker_wait)
        except Exception:  # TimeoutError: reported below as "no workers"
            pass
        seen = self.client.run(_worker_environment)
        wrong = {w: got for w, got in seen.items() if tuple(got) != want}
        if not seen:
            raise CyberclaimError(f"the Dask cluster at {self.client.scheduler.address} has no workers "
                                  f"(waited {self.worker_wait:.0f} s for one)")
        self.where = f"Dask cluster {self.client.scheduler.address} ({len(seen)} workers)"
        if wrong:
            w, got = next(iter(wrong.items()))
            raise CyberclaimError(f"Dask worker {w} uses CYBERCLAIM_HOME {got[0]} / database {got[1].split('@')[-1]}; "
                                  f"the driver uses {want[0]} — start workers with the same CYBERCLAIM_HOME on a shared filesystem")

    def submit(self, tag, fn, *args, priority: int = 0):
        fut = self.client.submit(fn, *args, pure=False, priority=priority)
        self._tags[fut.key] = tag
        self._ac.add(fut)

    def batches(self):
        for futs in self._ac.batches():
            out = []
            for fut in futs:
                tag = self._tags.pop(fut.key)
                try:
                    out.append(Done(tag, fut.result()))
                except Exception as e:
                    out.append(Done(tag, error=e))
                finally:
                    fut.release()
            yield out

    def close(self):
        if self._owns:
            self.client.close()


def _warm_worker() -> None:
    """A pool worker's first task when the driver knows work is coming: the imports every task needs
    (not every ingestor: a worker imports only those it runs)."""
    import forensics.pipeline  # noqa: F401


def _pool_worker_start() -> None:
    """Set-up of a local pool worker: when the pool retires it, it ends without tearing its interpreter down.

    Finalizing DuckDB, Arrow, pandas and the analysis modules takes 0.5-1 s per worker, and the
    batch waits for it (the pool is joined before the batch returns). A worker needs none of it:
    every file it writes is complete (renamed into place) before its result is sent, and it only
    ever reads the case database. Runs last among the process's exit handlers.
    """
    from multiprocessing import util

    util.Finalize(None, _exit_now, exitpriority=-1_000_000)


def _exit_now() -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    db = sys.modules.get("case_store.db")
    if db is not None and db._engine.cache_info().currsize:  # close database connections (a PostgreSQL server would log a dropped client)
        try:
            db.engine().dispose()
        except Exception:
            pass
    os._exit(0)


def _worker_environment() -> tuple[str, str]:
    from case_store.home import db_url, home

    return str(home()), db_url()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    if scheduler:
        ex = DaskExecutor(scheduler)
        try:
            ex.check_environment()
        except BaseException:
            ex.close()
            raise
        return ex
    n = workers or os.cpu_count() or 1
    return InlineExecutor() if n == 1 else LocalExecutor(n)
