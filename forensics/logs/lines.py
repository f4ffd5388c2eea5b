"""Streaming line reader for text logs that may be damaged.

Reads bytes, splits lines itself and decodes each line on its own, so one bad
spot (binary garbage, a line longer than a megabyte, a legacy encoding, a file
cut off mid-line) costs that line only. Memory stays bounded by `MAX_LINE`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator

MAX_LINE = 1 << 20  # a longer "line" is damage, not a log record
BLOCK = 1 << 20
# Decoding order: the encodings Chinese and Western servers actually write.
ENCODINGS = ("utf-8", "gbk", "latin-1")


@dataclass(slots=True)
class RawLine:
    number: int  # 1-based line number
    offset: int  # byte offset of the first byte of the line
    data: bytes  # without the line terminator; empty if `too_long`
    complete: bool = True  # False: the file ended without a newline
    too_long: int = 0  # length in bytes when the line exceeded MAX_LINE


def iter_raw_lines(f: BinaryIO, max_line: int = MAX_LINE, block: int = BLOCK) -> Iterator[RawLine]:
    """Yield every line with its number and byte offset; never holds more than one block plus one line."""
    for t in iter_lines(f, max_line, block):
        yield RawLine(*t)


def iter_lines(f: BinaryIO, max_line: int = MAX_LINE, block: int = BLOCK) -> Iterator[tuple[int, int, bytes, bool, int]]:
    """`iter_raw_lines` as plain (number, offset, data, complete, too_long) tuples, a block split at a time."""
    number = 0
    offset = 0  # file offset of buf[0]
    buf = b""
    skipping = 0  # >0 while discarding the rest of an over-long line (its length so far)
    skip_start = 0
    skip_no = 0
    while True:
        chunk = f.read(block)
        if not chunk:
            break
        buf += chunk
        parts = buf.split(b"\n")
        tail = parts.pop()  # the unterminated rest (b"" after a final newline)
        pos = offset
        for line in parts:
            size = len(line)
            if skipping:
                yield skip_no, skip_start, b"", True, skipping + size
                skipping = 0
            else:
                number += 1
                if size > max_line:
                    yield number, pos, b"", True, size
                elif line[-1:] == b"\r":
                    yield number, pos, line[:-1], True, 0
                else:
                    yield number, pos, line, True, 0
            pos += size + 1
        rest = len(tail)
        if skipping:
            skipping += rest
            offset, buf = pos + rest, b""
        elif rest > max_line:
            number += 1
            skipping, skip_start, skip_no = rest, pos, number
            offset, buf = pos + rest, b""
        else:
            offset, buf = pos, tail
    if skipping:
        yield skip_no, skip_start, b"", False, skipping
    elif buf:
        number += 1
        yield number, offset, buf[:-1] if buf.endswith(b"\r") else buf, False, 0


def decode_line(data: bytes) -> tuple[str, str]:
    """Text and the encoding that read it: UTF-8, else GBK, else Latin-1 (which always succeeds)."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gbk"), "gbk"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def looks_binary(data: bytes) -> bool:
    """NUL bytes or mostly control characters: not a log line but damage (or a binary file)."""
    if b"\x00" in data:
        return True
    if not data:
        return False
    head = data[:512]
    ctrl = len(head) - len(head.translate(None, _CONTROL))
    return ctrl * 4 > len(head)


_CONTROL = bytes([*range(0, 9), *range(14, 32), 127])
