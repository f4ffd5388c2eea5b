"""Reading timeline files line by line (JSONL) or row by row (CSV), with bounded damage.

Shared by the Plaso and Hayabusa ingestors: each line/row is handed to a
converter; a line that does not parse or convert becomes one IngestError
naming the line and byte offset, and reading goes on. Lines are capped so a
file without newlines cannot exhaust memory.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Callable, Iterator

from forensics.events import Event
from forensics.ingestors.base import IngestContext, Record

MAX_LINE = 8 << 20  # a single event line longer than 8 MiB is damage, not data


def read_jsonl(ctx: IngestContext, convert: Callable[[dict, int], Event | None]) -> Iterator[Record]:
    offset = 0
    with open(ctx.path, "rb") as f:
        for n, raw in enumerate(iter(lambda: f.readline(MAX_LINE), b""), start=1):
            start, offset = offset, offset + len(raw)
            if len(raw) >= MAX_LINE and not raw.endswith(b"\n"):
                yield ctx.error(f"line longer than {MAX_LINE} bytes; rest of the file skipped", offset=start, line=n)
                return
            text = raw.strip()
            if not text:
                continue
            try:
                obj = json.loads(text.decode("utf-8-sig" if n == 1 else "utf-8", errors="strict"))
            except (UnicodeDecodeError, ValueError) as e:
                yield ctx.error(f"not a JSON object: {str(e)[:120]}", offset=start, line=n)
                continue
            if not isinstance(obj, dict):
                yield ctx.error("JSON value is not an object", offset=start, line=n)
                continue
            try:
                ev = convert(obj, n)
            except (ValueError, TypeError, KeyError) as e:
                yield ctx.error(str(e)[:200], offset=start, line=n)
                continue
            if ev is not None:
                yield ev


def read_csv(ctx: IngestContext, convert: Callable[[dict, int], Event | None]) -> Iterator[Record]:
    csv.field_size_limit(MAX_LINE)
    with open(ctx.path, "r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        n = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                yield ctx.error(f"CSV damaged: {e}", line=reader.line_num)
                return
            n = reader.line_num
            if None in row:  # more cells than header columns
                row = {k: v for k, v in row.items() if k is not None}
            try:
                ev = convert({k: v for k, v in row.items() if k}, n)
            except (ValueError, TypeError, KeyError) as e:
                yield ctx.error(str(e)[:200], line=n)
                continue
            if ev is not None:
                yield ev


def is_csv(ctx: IngestContext) -> bool:
    with open(ctx.path, "rb") as f:
        head = f.read(1).lstrip(b"\xef\xbb\xbf")
    return ctx.path.suffix.lower() == ".csv" or head not in (b"{", b"")
