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

from forensics.events import Event
from forensics.ingestors.base import IngestContext, Ingestor, Record
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


class TextLogIngestor(Ingestor):
    name = "textlog"
    version = "1.0.0"
    accepts = ("text_log",)

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
        state = FileState(clock, dict(ctx.options))
        pending: Event | None = None  # held back one line so continuation lines can join it
        continuation = 0
        bad_run: tuple[int, int, int] | None = None  # (first line, offset, count) of unrecognised lines

        def flush_bad() -> Iterator[Record]:
            nonlocal bad_run
            if bad_run:
                n, off, count = bad_run
                what = "line is" if count == 1 else f"{count} consecutive lines are"
                yield ctx.error(f"{what} not in a recognised log format", offset=off, line=n)
                bad_run = None

        parser_id, sha = self.parser_id(), ctx.evidence_sha256
        try:
            with open(ctx.path, "rb") as f:
                for number, offset, data, complete, too_long in iter_lines(f):
                    if too_long:
                        if bad_run:
                            yield from flush_bad()
                        yield ctx.error(f"line of {too_long} bytes exceeds the 1 MiB limit; skipped",
                                        offset=offset, line=number)
                        continue
                    if not data.strip():
                        continue
                    try:
                        text, enc = data.decode("utf-8"), "utf-8"
                    except UnicodeDecodeError:
                        text, enc = decode_line(data)
                    if text[0] == "\ufeff":
                        text = text.lstrip("\ufeff")
                    if text.startswith("#"):
                        if text[1:2].isalpha() and ":" in text:
                            iis.directive(text, state)
                        continue
                    try:
                        ev = parse_line(text, Where(number, offset, enc), state)
                    except (ValueError, IndexError, OverflowError) as e:  # a parser tripped on odd data
                        yield ctx.error(f"parse failed: {e}", offset=offset, line=number)
                        continue
                    if ev is None:
                        if looks_binary(data):
                            # real records may quote binary bytes (a TLS hello sent to port 80), so
                            # only a line no parser reads is called garbage
                            if bad_run:
                                yield from flush_bad()
                            yield ctx.error("binary data inside a text log; line skipped", offset=offset, line=number)
                            continue
                        if pending is not None and continuation < MAX_CONTINUATION and (
                                text[:1] in " \t" or bad_run is None and pending.data_type == "linux:syslog:line"):
                            # a multi-line message (stack traces, wrapped syslog)
                            continuation += 1
                            if len(pending.message) < MAX_MESSAGE:
                                pending.message = (pending.message + "\n" + text.strip())[:MAX_MESSAGE]
                            pending.attributes["continuation_lines"] = continuation
                            continue
                        if not complete:
                            if bad_run:
                                yield from flush_bad()
                            yield ctx.error("file ends in the middle of a line (truncated?)", offset=offset,
                                            line=number)
                            continue
                        bad_run = (bad_run[0], bad_run[1], bad_run[2] + 1) if bad_run else (number, offset, 1)
                        continue
                    if bad_run:
                        yield from flush_bad()
                    if pending is not None:  # the held-back event is complete now
                        pending.parser, pending.evidence_sha256 = parser_id, sha
                        yield pending
                    pending, continuation = ev, 0
        except OSError as e:
            yield ctx.error(f"read error: {e}", offset=None)
        yield from flush_bad()
        if pending is not None:
            yield self.stamp(ctx, pending)

    @classmethod
    def detect(cls, head: bytes, path: Path, evidence_type: str) -> bool:
        return evidence_type in cls.accepts
