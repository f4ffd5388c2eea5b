"""Text logs: syslog (RFC 3164/5424), auth.log, auditd, web access and error
logs, IIS and Windows Firewall W3C files, netfilter lines, Suricata/Snort
fast.log — sniffed line by line, so one file may mix formats.

Streaming and damage-tolerant (forensics.logs.lines): each damaged spot (binary
garbage, an over-long line, a run of unrecognised lines, a truncated last line)
is one IngestError naming the file and line; everything around it comes out.
Detections (forensics.logs.detections) run over the events as they stream.
"""
from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Iterator

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext, Ingestor, Record, gc_paused
from forensics.logs import auditd, firewall, iis, idsalert, syslog3164, syslog5424, webaccess, weberror
from forensics.logs.common import FileState, Where
from forensics.logs.detections import Detector
from forensics.logs.handoff import in_child
from forensics.logs.lines import decode_line, iter_lines, looks_binary
from forensics.logs.syslogline import to_event
from forensics.logs.timeparse import Clock

# Files at least this big are parsed in a second process while this one runs the
# detections and hands the events to the event store (the two halves cost about
# the same): both cores busy, and the same records in the same order, since each
# half still runs sequentially over the whole file.
PARALLEL_MIN_BYTES = 32 << 20
GC_GEN0 = 50_000
MAX_CONTINUATION = 64  # lines appended to one multi-line message, at most
MAX_MESSAGE = 65536


def parse_line(text: str, where: Where, state: FileState) -> Event | None:
    """One decoded line to an event, or None when no known format reads it."""
    c = text[0]
    clock = state.clock
    if c == "<":
        rec = syslog5424.parse(text, clock) if text[2:5].find(">1 ") >= 0 or text[3:6].find(">1 ") >= 0 else None
        rec = rec or syslog3164.parse(text, clock)
        return to_event(rec, where, state) if rec else None
    if "A" <= c <= "Z":
        rec = syslog3164.parse(text, clock)
        if rec:
            return to_event(rec, where, state)
    elif c == "[":
        return weberror.parse(text, where, clock)
    elif c == "t" or c == "n":
        if text.startswith(("type=", "node=")):
            return auditd.parse(text, where)
    elif "0" <= c <= "9":
        if state.w3c_fields and text[4:5] == "-" and text[10:11] == " ":
            if "action" in state.w3c_fields or "Firewall" in state.w3c_software:
                return firewall.parse_pfirewall(text, where, state)
            return iis.parse(text, where, state)
        if text[4:5] == "-" and text[10:11] == "T":
            rec = syslog3164.parse(text, clock)
            return to_event(rec, where, state) if rec else None
        if text[2:3] == "/" and text[5:6] in "/-":
            return idsalert.parse(text, where, clock)
        if text[4:5] == "/" and text[7:8] == "/":
            return weberror.parse(text, where, clock)
    return webaccess.parse(text, where, clock)


class RowRef:
    """A vector-parsed row held back as the line parser's pending event: released as `item`
    (its one-row batch), or materialised as an Event when a continuation line joins it."""

    __slots__ = ("data_type", "materialize", "item")

    def __init__(self, data_type: str, materialize, item):
        self.data_type, self.materialize, self.item = data_type, materialize, item


class LineParser:
    """The line-by-line reading of a text log as a feed: one raw line in, records out (`out`).

    Holds the previous event back one line so continuation lines can join it, and
    groups runs of unrecognised lines into one error. `event_arrives` is what an
    event parsed elsewhere (a vector row) does to that state.
    """

    def __init__(self, ctx: IngestContext, state: FileState, parser_id: str):
        self.ctx, self.state = ctx, state
        self.parser_id, self.sha = parser_id, ctx.evidence_sha256
        self.out: list = []
        self.pending: Event | RowRef | None = None
        self.continuation = 0
        self.bad_run: tuple[int, int, int] | None = None  # (first line, offset, count) of unrecognised lines

    def flush_bad(self) -> None:
        if self.bad_run:
            n, off, count = self.bad_run
            what = "line is" if count == 1 else f"{count} consecutive lines are"
            self.out.append(self.ctx.error(f"{what} not in a recognised log format", offset=off, line=n))
            self.bad_run = None

    def release(self) -> None:
        """The held-back event is complete now."""
        p = self.pending
        if p is not None:
            if type(p) is RowRef:
                self.out.append(p.item)
            else:
                p.parser, p.evidence_sha256 = self.parser_id, self.sha
                self.out.append(p)
        self.pending = None

    def event_arrives(self, pending: Event | RowRef | None = None) -> None:
        if self.bad_run:
            self.flush_bad()
        self.release()
        self.pending, self.continuation = pending, 0

    def feed(self, number: int, offset: int, data: bytes, complete: bool, too_long: int) -> None:
        ctx = self.ctx
        if too_long:
            if self.bad_run:
                self.flush_bad()
            self.out.append(ctx.error(f"line of {too_long} bytes exceeds the 1 MiB limit; skipped",
                                      offset=offset, line=number))
            return
        if not data.strip():
            return
        try:
            text, enc = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, enc = decode_line(data)
        if text[0] == "\ufeff":
            text = text.lstrip("\ufeff")
        if text.startswith("#"):
            if text[1:2].isalpha() and ":" in text:
                iis.directive(text, self.state)
            return
        try:
            ev = parse_line(text, Where(number, offset, enc), self.state)
        except (ValueError, IndexError, OverflowError) as e:  # a parser tripped on odd data
            self.out.append(ctx.error(f"parse failed: {e}", offset=offset, line=number))
            return
        if ev is None:
            if looks_binary(data):
                # real records may quote binary bytes (a TLS hello sent to port 80), so
                # only a line no parser reads is called garbage
                if self.bad_run:
                    self.flush_bad()
                self.out.append(ctx.error("binary data inside a text log; line skipped", offset=offset, line=number))
                return
            pending = self.pending
            if pending is not None and self.continuation < MAX_CONTINUATION and (
                    text[:1] in " \t" or self.bad_run is None and pending.data_type == "linux:syslog:line"):
                # a multi-line message (stack traces, wrapped syslog)
                if type(pending) is RowRef:
                    pending = self.pending = pending.materialize()
                self.continuation += 1
                if len(pending.message) < MAX_MESSAGE:
                    pending.message = (pending.message + "\n" + text.strip())[:MAX_MESSAGE]
                pending.attributes["continuation_lines"] = self.continuation
                return
            if not complete:
                if self.bad_run:
                    self.flush_bad()
                self.out.append(ctx.error("file ends in the middle of a line (truncated?)", offset=offset, line=number))
                return
            self.bad_run = (self.bad_run[0], self.bad_run[1], self.bad_run[2] + 1) if self.bad_run else (number, offset, 1)
            return
        self.event_arrives(ev)

    def finish(self) -> None:
        self.flush_bad()
        self.release()


class TextLogIngestor(Ingestor):
    name = "textlog"
    version = "1.1.0"  # 1.1: bulk lines as columns (same events; detections citing the same ids)
    accepts = ("text_log",)
    # the event store writes its row groups on a thread of its own: the merge and detections of
    # ingest_batches run meanwhile (forensics.pipeline.run_unit)
    threaded_write = True

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        try:
            size = os.stat(ctx.path).st_size
        except OSError:
            size = 0  # parse_records reports it
        # The detections hold on to recent events by design and the event store buffers
        # a batch of rows: hundreds of thousands of live containers that the cyclic
        # collector would rescan every 700 allocations (a fifth of the time) without
        # ever finding a cycle. Collect rarely while ingesting, as before afterwards.
        threshold = gc.get_threshold()
        gc.set_threshold(max(threshold[0], GC_GEN0), *threshold[1:])
        try:
            parsed = in_child(lambda: self.parse_records(ctx)) if size >= PARALLEL_MIN_BYTES else None
            yield from self.detect_over(ctx, parsed if parsed is not None else self.parse_records(ctx))
        finally:
            gc.set_threshold(*threshold)

    def detect_over(self, ctx: IngestContext, records: Iterator[Event | IngestError]) -> Iterator[Record]:
        """Stage 2: the detections over the parsed events, in file order; each detection
        the event raises follows it, the end-of-file detections come last."""
        detector = None
        for r in records:
            if type(r) is Event:
                if detector is None:
                    detector = Detector(ctx.options.get("thresholds"))
                dets = detector.feed(r)
                yield r
                for d in dets:
                    yield self.stamp(ctx, d)
            else:
                yield r
        if detector is not None:
            for d in detector.finish():
                yield self.stamp(ctx, d)

    def parse_records(self, ctx: IngestContext) -> Iterator[Event | IngestError]:
        """Stage 1: the file's lines to stamped events and errors, in file order."""
        try:
            mtime = os.stat(ctx.path).st_mtime
            clock = Clock.from_options(ctx.options, mtime)
        except (OSError, ValueError, KeyError) as e:  # unknown zone name, bad date, unreadable file
            yield ctx.error(f"cannot start: {e}", offset=0)
            return
        lp = LineParser(ctx, FileState(clock, dict(ctx.options)), self.parser_id())
        out = lp.out
        try:
            with open(ctx.path, "rb") as f:
                for number, offset, data, complete, too_long in iter_lines(f):
                    lp.feed(number, offset, data, complete, too_long)
                    if out:
                        yield from out
                        out.clear()
        except OSError as e:
            out.append(ctx.error(f"read error: {e}", offset=None))
        lp.finish()
        yield from out

    def ingest_batches(self, ctx: IngestContext) -> Iterator[Record]:
        """`ingest` for the event store: the same records, the bulk lines as `EventBatch` columns
        (forensics.logs.batchpath), parsed block-wise, on all cores for large files from three cores."""
        from forensics.logs.batchpath import ingest_batches

        return gc_paused(ingest_batches(self, ctx))

    @classmethod
    def detect(cls, head: bytes, path: Path, evidence_type: str) -> bool:
        return evidence_type in cls.accepts
