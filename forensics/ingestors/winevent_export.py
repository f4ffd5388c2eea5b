"""Windows events exported as JSON lines or as XML (docs/windows-event-export.md).

JSON lines: one event per line in the `evtx` package's JSON shape
({"Event": {"System": …, "EventData": …}}). XML: `wevtutil qe /f:xml` output,
<Event> elements in the Windows event namespace, bare or inside <Events>.
Both are normalized by forensics.windows.normalize exactly like EVTX records,
with attribute source_format = "jsonl" | "xml".
"""
from __future__ import annotations

import codecs
import json
from typing import Iterator
from xml.etree.ElementTree import ParseError, XMLPullParser

from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.windows.normalize import normalize
from forensics.windows.scriptblocks import ScriptBlockAssembler
from forensics.windows.xmlrecord import event_dict, local

EVENT_NS = b"schemas.microsoft.com/win/2004/08/events/event"
MAX_LINE = 64 * 1024 * 1024  # one event line longer than this is damage, not an event
_BLOCK = 1 << 20


def _is_event_json(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("Event"), dict) and isinstance(obj["Event"].get("System"), dict)


class WinEventExportIngestor(Ingestor):
    name = "winevent_export"
    version = "1.0.0"
    accepts = ("jsonl", "xml")

    @classmethod
    def detect(cls, head: bytes, path, evidence_type: str) -> bool:
        # Other JSONL/XML ingestors exist: accept only what really is a Windows event.
        if evidence_type == "jsonl":
            for line in head.lstrip(b"\xef\xbb\xbf").splitlines():
                if line.strip():
                    try:
                        return _is_event_json(json.loads(line))
                    except ValueError:
                        # a first line longer than the head: judge by its opening
                        return line.lstrip().startswith(b'{"Event":') and b'"System"' in line
            return False
        if evidence_type == "xml":
            h = head.decode("utf-16") if head[:2] in (b"\xff\xfe", b"\xfe\xff") else head
            h = h.encode("utf-8", "replace") if isinstance(h, str) else h
            return EVENT_NS in h and b"<System" in h
        return False

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        try:
            with open(ctx.path, "rb") as f:
                head = f.read(4096)
        except OSError as e:
            yield ctx.error(f"cannot read export: {e}", offset=0)
            return
        stripped = head.lstrip(b"\xef\xbb\xbf\xff\xfe\xfe\xff\x00 \t\r\n")
        scripts = ScriptBlockAssembler()
        events = self._xml(ctx) if stripped.startswith(b"<") or stripped.startswith(b"<\x00") else self._jsonl(ctx)
        for rec in events:
            yield rec
            if not hasattr(rec, "reason"):
                for blk in scripts.feed(rec):
                    yield self.stamp(ctx, blk)
        for blk in scripts.flush():
            yield self.stamp(ctx, blk)

    def _jsonl(self, ctx: IngestContext) -> Iterator[Record]:
        with open(ctx.path, "rb") as f:
            lineno, offset = 0, 0
            while True:
                raw = f.readline(MAX_LINE)
                if not raw:
                    return
                lineno += 1
                start = offset
                offset += len(raw)
                if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # skip the rest of the over-long line
                        raw = f.readline(MAX_LINE)
                        offset += len(raw)
                    yield ctx.error(f"line longer than {MAX_LINE} bytes skipped", offset=start, line=lineno)
                    continue
                line = raw.strip()
                if lineno == 1:
                    line = line.lstrip(b"\xef\xbb\xbf")
                if not line:
                    continue
                try:
                    obj = json.loads(line)
                except (ValueError, UnicodeDecodeError) as e:
                    yield ctx.error(f"not JSON: {str(e)[:120]}", offset=start, line=lineno)
                    continue
                if not _is_event_json(obj):
                    yield ctx.error("JSON line is not a Windows event (no Event.System)", offset=start, line=lineno)
                    continue
                ev = normalize(obj["Event"], f"line={lineno};off={start}", source_format="jsonl")
                yield self.stamp(ctx, ev)

    def _xml(self, ctx: IngestContext) -> Iterator[Record]:
        parser = XMLPullParser(events=("start", "end"))
        # wevtutil writes bare <Event> siblings with no root; a wrapper makes it one document.
        parser.feed("<cc-export>")
        stack: list = []
        n = 0
        with open(ctx.path, "rb") as f:
            first = f.read(4)
            f.seek(0)
            enc = "utf-16" if first[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
            dec = codecs.getincrementaldecoder(enc)(errors="replace")
            began = False
            consumed = 0
            while True:
                block = f.read(_BLOCK)
                text = dec.decode(block, final=not block)
                if not began:
                    t = text.lstrip()
                    if t.startswith("<?xml"):  # the declaration cannot follow the wrapper
                        end = t.find("?>")
                        if end < 0:
                            yield ctx.error("XML declaration never closed", offset=0)
                            return
                        t = t[end + 2:]
                    text, began = t, True
                try:
                    parser.feed(text if block else text + "</cc-export>")
                    for kind, el in parser.read_events():
                        if kind == "start":
                            stack.append(el)
                            continue
                        stack.pop()
                        if local(el.tag) != "Event":
                            continue
                        n += 1
                        ev = normalize(event_dict(el), "", source_format="xml")
                        rid = ev.attributes.get("record_id")
                        ev.locator = f"event={n};record={rid if rid is not None else '?'}"
                        yield self.stamp(ctx, ev)
                        if stack:  # drop the finished event so memory stays flat
                            stack[-1].remove(el)
                except ParseError as e:
                    line, col = getattr(e, "position", (None, None))
                    yield ctx.error(f"XML malformed after event {n} (line {line}, column {col}): "
                                    f"{str(e)[:120]}; events before it kept", offset=consumed, line=line)
                    return
                consumed += len(block)
                if not block:
                    return
