"""Run a record generator in a second process and hand its records back in order.

Ingesting a large text log has two sequential halves of similar cost: parsing
lines into events, and the detections plus the event store's per-event work.
Running the first in a forked child overlaps them on two cores. Each half runs
exactly the one-process code over the whole file in order, so the records —
ids, locators, errors, detections, order — are the same.

Events cross the pipe as plain field tuples in batches (a fraction of the cost
of pickling the dataclass); errors as themselves.
"""
from __future__ import annotations

import multiprocessing
import operator
import os
import pickle
from dataclasses import fields
from typing import Callable, Iterator

from forensics.events import Event, IngestError

BATCH = 2000  # records per message: large enough to amortise the pipe, small enough to keep memory flat
_FIELDS = operator.attrgetter(*(f.name for f in fields(Event)))


def in_child(produce: Callable[[], Iterator[Event | IngestError]]) -> Iterator[Event | IngestError] | None:
    """The records of `produce()`, produced in a child process; None when no child can be
    started here (one core, no fork), and the caller runs `produce` itself."""
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    mp = multiprocessing.get_context("fork")  # no re-import of the caller's program, nothing to pickle
    receiver, sender = mp.Pipe(duplex=False)
    proc = mp.Process(target=_produce, args=(produce, sender, receiver), name="cyberclaim-parse", daemon=True)
    try:
        proc.start()
    except (OSError, AssertionError):  # no process to spare (limits) or a daemonic parent
        receiver.close()
        sender.close()
        return None
    sender.close()
    return _consume(proc, receiver)


def _consume(proc, receiver) -> Iterator[Event | IngestError]:
    try:
        while True:
            try:
                batch = pickle.loads(receiver.recv_bytes())
            except EOFError:
                raise RuntimeError(f"parse process ended without finishing (exit code {proc.exitcode})") from None
            if batch is None:
                return
            if isinstance(batch, str):
                raise RuntimeError(f"parse process failed: {batch}")
            for r in batch:
                yield Event(*r) if type(r) is tuple else r
    finally:
        receiver.close()
        if proc.is_alive():  # the consumer stopped early: the rest of the parse is not wanted
            proc.terminate()
        proc.join()


def _produce(produce: Callable[[], Iterator[Event | IngestError]], sender, receiver) -> None:
    receiver.close()  # the parent's end: if the parent goes away, sending fails instead of blocking
    try:
        batch: list = []
        for r in produce():
            batch.append(_FIELDS(r) if type(r) is Event else r)
            if len(batch) >= BATCH:
                sender.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
                batch = []
        if batch:
            sender.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        sender.send_bytes(pickle.dumps(None))
    except BrokenPipeError:  # the consumer went away
        pass
    except Exception as e:  # an ingestor bug: report it to the parent, which raises it there
        try:
            sender.send_bytes(pickle.dumps(f"{type(e).__name__}: {e}"))
        except OSError:
            pass
    finally:
        sender.close()
