"""Where work units run: in this process, on a local process pool, or on a Dask cluster.

All three offer the same two calls — `submit(fn, *args)` and `completed()` —
so the batch driver does not care where a unit runs. Workers only write
immutable files (Parquet event files, vault blobs); the driver that consumes
`completed()` is the only writer of the case database.

A worker that dies (OOM killer, SIGKILL) costs the units it held: the local
pool is rebuilt and those units are resubmitted a bounded number of times;
Dask reschedules them by itself (its `allowed-failures`).
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from case_store import CyberclaimError

MAX_RESUBMITS = 2


@dataclass
class Done:
    """A finished task: its tag (the driver's handle), and either a value or the exception."""

    tag: Any
    value: Any = None
    error: BaseException | None = None


class Executor:
    workers: int = 1
    where: str = "inline"

    def submit(self, tag: Any, fn: Callable, *args: Any) -> None:
        raise NotImplementedError

    def completed(self) -> Iterator[Done]:
        """Finished tasks as they finish, until none is outstanding (new submits are picked up)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InlineExecutor(Executor):
    """One worker: run each task in this process, in submission order (the honest 1-worker baseline)."""

    def __init__(self):
        self._queue: deque = deque()

    def submit(self, tag, fn, *args):
        self._queue.append((tag, fn, args))

    def completed(self):
        while self._queue:
            tag, fn, args = self._queue.popleft()
            try:
                yield Done(tag, fn(*args))
            except Exception as e:  # the driver decides what a failed task costs
                yield Done(tag, error=e)


class LocalExecutor(Executor):
    """A process pool on this machine. Spawned (not forked) workers: the driver holds
    database connections and DuckDB handles that must not be shared with children."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.where = f"{self.workers} local processes"
        self._ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx)
        self._futs: dict = {}  # future -> (tag, fn, args, attempts)
        self._later: list = []  # tasks of a broken pool, resubmitted to the next one

    def submit(self, tag, fn, *args, _attempt: int = 0):
        self._futs[self._pool.submit(fn, *args)] = (tag, fn, args, _attempt)

    def completed(self):
        while self._futs:
            done, _ = wait(list(self._futs), return_when=FIRST_COMPLETED)
            broken = False
            for f in done:
                tag, fn, args, attempt = self._futs.pop(f)
                try:
                    yield Done(tag, f.result())
                except BrokenProcessPool as e:
                    broken = True
                    if attempt < MAX_RESUBMITS:
                        self._later.append((tag, fn, args, attempt + 1))
                    else:
                        yield Done(tag, error=RuntimeError(f"worker process died {attempt + 1} times: {e}"))
                except Exception as e:
                    yield Done(tag, error=e)
            if broken:
                self._rebuild()

    def _rebuild(self) -> None:
        """A dead worker breaks the whole pool: collect every unfinished task and start a fresh pool."""
        later = list(self._later)
        self._later = []
        for f, (tag, fn, args, attempt) in list(self._futs.items()):
            later.append((tag, fn, args, attempt + 1 if f.done() else attempt))
        self._futs.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx)
        for tag, fn, args, attempt in later:
            self.submit(tag, fn, *args, _attempt=attempt)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """An existing Dask distributed cluster (scheduler address), or a Client the caller made.

    Workers must see the same CYBERCLAIM_HOME (shared filesystem) and database
    URL as the driver; `check_environment` verifies that before any work is sent.
    """

    def __init__(self, scheduler: str | None = None, client=None, timeout: float = 10):
        from distributed import Client, as_completed

        self._owns = client is None
        try:
            self.client = client or Client(scheduler, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise CyberclaimError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        self._ac = as_completed([], loop=self.client.loop, with_results=False)
        self._tags: dict = {}
        n = len(self.client.scheduler_info().get("workers", {}))
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()) if n else 1)
        self.where = f"Dask cluster {self.client.scheduler.address} ({n} workers)"

    def check_environment(self) -> None:
        """Every worker must resolve the driver's home and database, or results would go astray."""
        from case_store.home import db_url, home

        want = (str(home()), db_url())
        seen = self.client.run(_worker_environment)
        wrong = {w: got for w, got in seen.items() if tuple(got) != want}
        if not seen:
            raise CyberclaimError(f"the Dask cluster at {self.client.scheduler.address} has no workers")
        if wrong:
            w, got = next(iter(wrong.items()))
            raise CyberclaimError(f"Dask worker {w} uses CYBERCLAIM_HOME {got[0]} / database {got[1].split('@')[-1]}; "
                                  f"the driver uses {want[0]} — start workers with the same CYBERCLAIM_HOME on a shared filesystem")

    def submit(self, tag, fn, *args):
        fut = self.client.submit(fn, *args, pure=False)
        self._tags[fut.key] = tag
        self._ac.add(fut)

    def completed(self):
        for fut in self._ac:
            tag = self._tags.pop(fut.key)
            try:
                yield Done(tag, fut.result())
            except Exception as e:
                yield Done(tag, error=e)
            finally:
                fut.release()

    def close(self):
        if self._owns:
            self.client.close()


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
