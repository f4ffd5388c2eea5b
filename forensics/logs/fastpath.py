"""The bulk text-log shapes parsed a block at a time into event columns.

The everyday lines of auth.log/syslog (`Mmm dd hh:mm:ss host prog[pid]: msg`,
sshd's `Failed/Accepted ... from IPv4 port N ssh2`) and of NCSA common/combined
access logs (`IPv4 ident user [date] "request" status size "ref" "ua"`) are
read with RE2 regexes in pyarrow.compute and turned into exactly the columns
the line parsers (syslog3164, authlog, webaccess, syslogline) give for them.
The regexes are deliberately strict: a line they do not read in full — other
formats, other sshd messages, non-ASCII or control bytes, over-long lines,
impossible dates, a line the detections would tag (web attacks, scanners, log
clearing) — is handed back as a *fallback* line for the line-by-line parser,
so every odd case keeps the reference behaviour. Values whose derivation is
subtle (dates, clock/year inference, request splitting, URL decoding, attack
signatures) are computed by the reference functions once per distinct value.

Runs in a worker process: it depends only on the block's bytes, its first
line number and file offset, and the file's fixed settings (`BlockConfig`).
The two pieces of sequential state — the December/January year rollover of a
fixed year and sshd's per-connection address memory — are settled by the
ingestor in file order (`_yb`, `_roll`, `_month` columns below).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forensics.events import EVENT_SCHEMA, canonical_json
from forensics.logs import detections, webaccess
from forensics.logs.authlog import AUTH_PROGRAMS
from forensics.logs.lines import MAX_LINE
from forensics.logs.timeparse import Clock, _seconds_fields

try:  # the compiled event ids (_eventid.c); without a C compiler at install, hashlib per row
    from forensics.logs import _eventid
except ImportError as e:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise ImportError(f"forensics.logs._eventid is not built ({e}); run `pip install -e .` with a C compiler") from e
    _eventid = None

try:  # the compiled field walk (_linescan.c); without it the regexes and splits below read the fields
    from forensics.logs import _linescan
except ImportError as e:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise ImportError(f"forensics.logs._linescan is not built ({e}); run `pip install -e .` with a C compiler") from e
    _linescan = None

_OCT = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"(?:{_OCT}\.){{3}}{_OCT}"
# printable ASCII without space, ':', '[' and ']' (what a syslog host or tag may hold on the fast path)
_TAGCH = r"[!-9;-Z\\^-~]"
SYSLOG_RE = (r"^(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) "
             rf"(?P<host>{_TAGCH}+) (?P<prog>[!-/;-Z\\^-~]{_TAGCH}{{0,95}})(?:\[(?P<pid>[0-9]{{1,10}})\])?: "
             r"(?P<msg>[!-~](?:.*[!-~])?)$")
SSHD_RE = (rf"^(?P<verb>Failed|Accepted) (?P<method>[!-9;-~]+) for (?P<u>[^:]*) from (?P<ip>{IPV4}) "
           r"port (?P<port>[0-9]{1,5}) ssh2$")
ACCESS_RE = (rf"^(?P<client>{IPV4}) (?P<ident>[!-~]+) (?P<user>[!-~]+) "
             r"\[(?P<date>[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4})\] "
             r'"(?P<request>[^"]*)" (?P<status>[0-9]{3}|-) (?P<size>[0-9]+|-)'
             # after the size: nothing, '"referer" "agent"' (no quote inside either) then anything, or
             # text not starting with a quote (webaccess reads other quotings its own way)
             r'(?P<rest>(?: "[^"]*" "[^"]*".*| [^"].*| )?)$')
# every alternative of detections.CLEARING contains one of these words (see detections._CLEARING_WORDS)
_CLEARING_PREFILTER = "(?i)" + "|".join(detections._CLEARING_WORDS)

KIND_SYSLOG, KIND_SSHD, KIND_ACCESS = 1, 2, 3
DET_NONE, DET_FAILURE, DET_SUCCESS, DET_HTTP = 0, 1, 2, 3
STR = pa.string()
_STR_LIST = pa.list_(STR)
_RAW = (False, False)  # a JSON segment with nothing to escape
_PRINTABLE_NL = bytes(range(0x20, 0x7f)) + b"\n"


@dataclass(frozen=True)
class BlockConfig:
    evidence_sha256: str
    parser_id: str
    zone: str
    fixed_year: int | None
    reference_us: int | None


def clock_of(cfg: BlockConfig) -> Clock:
    return Clock(cfg.zone, cfg.fixed_year, cfg.reference_us)


@dataclass
class Block:
    """A parsed block: vector rows (in line order) and the lines left to the line parser."""

    table: pa.Table | None  # EVENT columns (no datetime) + event_id, discriminator and the `_` helper columns
    fallback: list[tuple[int, int, bytes, bool, int]]  # iter_lines tuples
    lines: int  # lines in the block (complete and incomplete)
    cpu: float = 0.0  # seconds the parse took (set by the worker that ran it)
    ipc_path: str | None = None  # where a worker left `table` (Arrow IPC file) for the parent to map


def split_lines(block: bytes, final: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """(starts, ends) of the block's lines, ends excluding the newline; whether the last has none."""
    buf = np.frombuffer(block, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1)).astype(np.int64)
    ends = np.concatenate((nl, [len(block)])).astype(np.int64)
    if starts[-1] == len(block):  # ends with a newline: no unterminated tail
        return starts[:-1], ends[:-1], False
    return starts, ends, final


def line_classes(block: bytes, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """split_lines, and each line's class for the bulk parsers: 0 not for them, else by its first
    byte 1 'A'-'Z' (syslog), 2 '0'-'9' (access), 3 other. Lines with a byte outside printable ASCII
    (control bytes, \\r, tabs, UTF-8, legacy encodings), empty, over-long or unterminated lines are 0:
    the line parser decodes and judges them one by one. _linescan.lines is the compiled twin."""
    starts, ends, unterminated = split_lines(block, final)
    if not len(starts):
        return starts, ends, np.zeros(0, dtype=np.uint8), unterminated
    buf = np.frombuffer(block, dtype=np.uint8)
    clean = (ends > starts) & (ends - starts <= MAX_LINE)
    if block.translate(None, _PRINTABLE_NL):
        bad_at = np.flatnonzero(((buf < 0x20) | (buf > 0x7e)) & (buf != 10))
        clean[np.searchsorted(starts, bad_at, side="right") - 1] = False
    if unterminated:
        clean[-1] = False
    first = np.where(ends > starts, buf[np.minimum(starts, len(buf) - 1)], 0)
    classes = np.where((first >= 65) & (first <= 90), 1, np.where((first >= 48) & (first <= 57), 2, 3))
    return starts, ends, np.where(clean, classes, 0).astype(np.uint8), unterminated


def line_classes_c(block: bytes, final: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    starts, ends, classes, unterminated = _linescan.lines(block, final, MAX_LINE)
    return (np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64),
            np.frombuffer(classes, dtype=np.uint8), unterminated)


def parse_block(block: bytes, first_line: int, base_offset: int, cfg: BlockConfig, final: bool = True,
                memo: dict | None = None, compiled: bool = True) -> Block:
    """`block` holds whole lines (plus, when `final`, the file's unterminated last line).
    compiled=False: the fields are read by the regexes and splits even where _linescan is built."""
    memo = {} if memo is None else memo
    walk = _linescan is not None and compiled
    starts, ends, classes, unterminated = line_classes_c(block, final) if walk else line_classes(block, final)
    n = len(starts)
    if n == 0:
        return Block(None, [], 0)
    is_sys, is_acc = classes == 1, classes == 2
    all_lines = None if walk else _all_lines(block, starts)
    line_no = np.arange(first_line, first_line + n, dtype=np.int64)
    offsets = starts + base_offset
    parts = []
    # whether any line holds a backslash or a double quote (the JSON text escapes them; when none
    # does, the escaping passes are skipped: the same text either way)
    esc = (block.find(b"\\") >= 0, block.find(b'"') >= 0)
    sys_idx = np.flatnonzero(is_sys)
    if len(sys_idx):
        if walk:
            fields = syslog_fields_c(block, starts[sys_idx], ends[sys_idx], decisions_only=True)
        else:
            fields = syslog_fields(_take_lines(all_lines, sys_idx))
        parts += _syslog(fields, line_no[sys_idx], offsets[sys_idx], cfg, memo, esc, compiled)
    acc_idx = np.flatnonzero(is_acc)
    if len(acc_idx):
        if walk:
            fields = access_fields_c(block, starts[acc_idx], ends[acc_idx])
        else:
            fields = access_fields(_take_lines(all_lines, acc_idx))
        parts.append(_access(fields, line_no[acc_idx], offsets[acc_idx], cfg, memo, esc, compiled))
    parts = [p.select(_PART_COLUMNS) for p in parts if p is not None and p.num_rows]
    table = None
    taken = np.zeros(n, dtype=bool)
    if parts:
        table, rows = _in_line_order(parts, _linescan is not None and compiled)
        taken[rows - first_line] = True
        table = _finish(table, cfg, compiled)
    fallback = []
    for i in np.flatnonzero(~taken).tolist():
        s, e = int(starts[i]), int(ends[i])
        size = e - s
        complete = not (unterminated and i == n - 1)
        if size > MAX_LINE:
            fallback.append((first_line + i, base_offset + s, b"", complete, size))
        else:
            data = block[s:e]
            if data[-1:] == b"\r":
                data = data[:-1]
            fallback.append((first_line + i, base_offset + s, data, complete, 0))
    return Block(table, fallback, n)


def _in_line_order(parts: list[pa.Table], compiled: bool = True) -> tuple[pa.Table, np.ndarray]:
    """The parts' rows (each part a run in line order, the line numbers `_line` distinct) as one
    table in line order, and its line numbers. Compiled: each string column written once by
    _linescan.interleave from the parts' own buffers (Arrow's take of the concatenated table copied
    every chunk together first: a sixth of a worker's time), the other columns by one take; else
    that take (the twin)."""
    if len(parts) == 1:
        return parts[0], parts[0].column("_line").to_numpy()
    runs = [p.column("_line").to_numpy() for p in parts]
    rows = np.concatenate(runs)
    if (np.diff(rows) > 0).all():  # the runs follow each other already
        return pa.concat_tables(parts), rows
    # (the line numbers are distinct: numpy's argsort and one take cost less than sort_by)
    order = np.argsort(rows)
    if not compiled or len(parts) > 255:  # (a part's number is one byte of `source`)
        return pa.concat_tables(parts).take(pa.array(order)), rows[order]
    source = np.repeat(np.arange(len(parts), dtype=np.uint8), [len(r) for r in runs])[order]
    idx = pa.array(order)
    cols, strings = [], []
    for name in parts[0].column_names:
        # (combine_chunks copies even a single chunk)
        arrays = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in map(lambda p: p.column(name), parts)]
        if all(a.type == STR for a in arrays):
            strings.append(len(cols))  # all the string columns in one walk, below
            cols.append(arrays)
        elif all(a.type == _STR_LIST and not a.null_count and not a.values.null_count for a in arrays):
            # a list's strings interleaved as the lists are: each value follows its list's source
            lengths = np.concatenate([pc.list_value_length(a).to_numpy() for a in arrays])[order]
            offsets = np.zeros(len(order) + 1, dtype=np.int32)
            np.cumsum(lengths, out=offsets[1:])
            values = [a.values.slice(a.offsets[0].as_py(), a.offsets[-1].as_py() - a.offsets[0].as_py()) for a in arrays]
            cols.append(pa.ListArray.from_arrays(pa.array(offsets), _interleaved(np.repeat(source, lengths), values)))
        else:
            cols.append(pa.concat_arrays(arrays).take(idx))
    for at, merged in zip(strings, _interleaved_all(source, [cols[at] for at in strings])):
        cols[at] = merged
    return pa.table(cols, names=parts[0].column_names), rows[order]


def _interleaved(source: np.ndarray, arrays: list[pa.Array]) -> pa.Array:
    """The string column whose row i is the next row of arrays[source[i]] (_linescan.interleave)."""
    return _interleaved_all(source, [arrays])[0]


def _interleaved_all(source: np.ndarray, columns: list[list[pa.Array]]) -> list[pa.Array]:
    """_interleaved of many columns in one walk of the rows (_linescan.interleaves)."""
    bufs = []
    for arrays in columns:
        col = []
        for a in arrays:
            validity, offs, data = a.buffers()
            at = a.offset
            col.append((validity if a.null_count else None, at, memoryview(offs)[4 * at:4 * (at + len(a) + 1)],
                        data if data is not None else b""))
        bufs.append(col)
    return [pa.Array.from_buffers(STR, len(source), [None if valid is None else pa.py_buffer(valid),
                                                     pa.py_buffer(offs), pa.py_buffer(data)])
            for offs, data, valid in _linescan.interleaves(source, bufs)]


def _all_lines(block: bytes, starts: np.ndarray) -> pa.Array:
    """All lines as one Arrow array over the block's bytes with the newlines taken out (binary: the
    unclean lines need not be UTF-8; only the selected ones become strings); the regex path reads them."""
    n = len(starts)
    data = block.replace(b"\n", b"")
    offs = np.empty(n + 1, dtype=np.int64)
    offs[:-1] = starts - np.arange(n)
    offs[-1] = len(data)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offs), pa.py_buffer(data)])


def _constant(text: str, n: int) -> pa.Array:
    """`n` copies of one string, its offsets and bytes written at once (pa.repeat of a string scalar
    appends them one by one: ~2 % of a worker's time over a block's constant columns)."""
    raw = text.encode()
    offs = np.arange(n + 1, dtype=np.int64) * len(raw)
    if offs[-1] > 2**31 - 1:
        return pa.repeat(pa.scalar(text), n)
    return pa.Array.from_buffers(STR, n, [None, pa.py_buffer(offs.astype(np.int32)), pa.py_buffer(raw * n)])


def _same_list(items: list[str], n: int) -> pa.Array:
    """`n` copies of one list of strings, built from its offsets and values (pa.repeat of a list
    scalar builds each list on its own: a quarter of a second for 40,000 rows)."""
    k = len(items)
    values = _constant(items[0], n) if k == 1 else pa.array(items * n, STR)
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * k), values)


def _fixed_width(arr: pa.Array, width: int) -> np.ndarray | None:
    """The bytes of a string array whose values are all `width` bytes long, as an (n, width) matrix
    (a view); None when some value is null or of another length."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if arr.null_count or arr.type != STR or n == 0:
        return None
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * arr.offset)
    if not (np.diff(offs) == width).all():
        return None
    return np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width, offset=int(offs[0])).reshape(n, width)


def _time_of_day(digits: np.ndarray, at: int) -> tuple[np.ndarray, np.ndarray]:
    """("hh:mm:ss" at column `at` is a possible time for utc_us: h < 24, m < 60, s < 61; its µs)."""
    d = digits[:, at:at + 8].astype(np.int64) - 48
    h, m, sec = d[:, 0] * 10 + d[:, 1], d[:, 3] * 10 + d[:, 4], d[:, 6] * 10 + d[:, 7]
    return (h < 24) & (m < 60) & (sec < 61), ((h * 60 + m) * 60 + sec) * 1_000_000


def _take_lines(all_lines: pa.Array, idx: np.ndarray) -> pa.Array:
    """The selected lines (all printable ASCII) as a string array."""
    # a view, not a cast: the bytes are printable ASCII (checked by parse_block), so UTF-8 validation is moot
    return all_lines.take(pa.array(idx)).view(pa.large_string()).cast(STR)


def _field(sa: pa.Array, name: str) -> pa.Array:
    return pc.struct_field(sa, name)


def _by_value(arr: pa.Array, fn, memo: dict, types: tuple) -> list[pa.Array]:
    """fn(value) -> tuple, computed once per distinct value of `arr` (memoised across blocks), as columns."""
    enc = pc.dictionary_encode(arr)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    values = enc.dictionary.to_pylist()
    out = []
    for v in values:
        r = memo.get(v, memo)
        if r is memo:
            r = memo[v] = fn(v)
        out.append(r)
    cols = list(zip(*out)) if out else [() for _ in types]
    idx = enc.indices
    return [pc.take(pa.array(list(c), t), idx) for c, t in zip(cols, types)]


def _json_str(arr: pa.Array, backslash: bool = True, quote: bool = True) -> pa.Array:
    """A JSON string literal's inside for printable-ASCII text (only backslash and quote need escaping);
    `backslash`/`quote`: whether the text may hold one (the caller knows when its lines cannot)."""
    if backslash and _holds(arr, "\\"):
        arr = pc.replace_substring(arr, "\\", "\\\\")
    if quote and _holds(arr, '"'):
        arr = pc.replace_substring(arr, '"', '\\"')
    return arr


def _holds(arr: pa.Array, ch: str) -> bool:
    """Whether any value of a string array holds the character `ch`: one search over the values'
    bytes (memchr), not a kernel pass per value."""
    if isinstance(arr, pa.ChunkedArray) or arr.null_count or arr.type != STR:
        return bool(pc.any(pc.match_substring(arr, ch)).as_py())
    n = len(arr)
    data = arr.buffers()[2]
    if n == 0 or data is None:
        return False
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * arr.offset)
    return memoryview(data)[int(offs[0]):int(offs[-1])].tobytes().find(ch.encode()) >= 0


def _json_object(n: int, segments: list[tuple], compiled: bool = True) -> pa.Array:
    """Per row '{' + the segments (head, value, tail, (backslash, quote)) whose value is not null, each
    as head + value (those characters escaped) + tail, the first one's leading comma dropped, + '}'.
    Written by _linescan.json_object when built (one pass), else by Arrow joins (its twin)."""
    if _linescan is None or not compiled:
        return _object([pc.binary_join_element_wise(head, _json_str(value, *esc), tail, "")
                        for head, value, tail, esc in segments])
    parts = []
    for head, value, tail, (bs, quote) in segments:
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        if value.type != STR:
            value = value.cast(STR)
        validity, offs, data = value.buffers()
        at = value.offset
        parts.append((head.encode(), tail.encode(), int(bs) | int(quote) << 1,
                      validity if value.null_count else None, at, memoryview(offs)[4 * at:4 * (at + n + 1)],
                      data if data is not None else b""))
    offs, data = _linescan.json_object(n, parts)
    return pa.Array.from_buffers(STR, n, [None, pa.py_buffer(offs), pa.py_buffer(data)])


def _object(segments: list[pa.Array]) -> pa.Array:
    # the closing brace joined with the segments and the first segment's leading comma overwritten
    # in place: two passes over the column where slice-then-wrap took three
    joined = pc.binary_join_element_wise(*segments, "}", "", null_handling="replace", null_replacement="")
    out = pc.binary_replace_slice(joined, 0, 1, "{")
    empty = pc.equal(joined, "}")  # every segment null: the brace is all there is, no comma to overwrite
    return pc.if_else(empty, "{}", out) if pc.any(empty).as_py() else out


def _slice(arr: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    """utf8_slice_codeunits for the fast path's text, which is printable ASCII (parse_block sends every
    other line to the line parser), so code units are bytes: a byte slice, ~8× cheaper on an open end."""
    if isinstance(arr, pa.ChunkedArray):
        return pa.chunked_array([_slice(c, start, stop) for c in arr.chunks], arr.type)
    raw = pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary()
    return pc.binary_slice(arr.view(raw), start, _OPEN_END if stop is None else stop).view(arr.type)


_OPEN_END = 2**31 - 1


# ------------------------------------------------------------------ syslog / auth.log

def _program_class(prog: str) -> tuple:
    """0: plain syslog line; 1: sshd (vector messages only); 2: another auth program (line parser)."""
    base = prog.split("(", 1)[0].lower()
    if base == "sshd-session":
        base = "sshd"
    if prog == "sshd":
        return (1,)
    return (2,) if base in AUTH_PROGRAMS else (0,)


def _split(arr: pa.Array, sep: str, max_splits: int | None = None, reverse: bool = False) -> pa.Array:
    return pc.split_pattern(arr, sep, max_splits=max_splits, reverse=reverse)


def _el(lists: pa.Array, i: int) -> pa.Array:
    return pc.list_element(lists, i)


def _mask(a) -> np.ndarray:
    return np.asarray(pc.fill_null(a, False).to_numpy(zero_copy_only=False), dtype=bool)


# the fields of the bulk lines: (mask of the lines the pattern reads, {field: array over those lines});
# the regexes and splits here, their compiled twin in _linescan.c (the *_c functions)
SYSLOG_FIELDS = ("ts_text", "host", "tagc", "prog", "pid_text", "msg")
SSHD_FIELDS = ("verb", "method", "u", "ip", "port")
ACCESS_FIELDS = ("client", "user", "date", "request", "status_text", "size", "ref", "ua", "extra")


def syslog_fields(lines: pa.Array) -> tuple[np.ndarray, dict]:
    # the strict pattern decides (a DFA match, no captures); the fields then sit at fixed
    # places and between single spaces, so splits read them
    keep = _mask(pc.match_substring_regex(lines, SYSLOG_RE))
    if not keep.any():
        return keep, {}
    lines = lines.filter(pa.array(keep))
    ts_text = _slice(lines, 0, 15)
    parts = _split(_slice(lines, 16), " ", 2)
    host, tagc, msg = _el(parts, 0), _el(parts, 1), _el(parts, 2)  # tagc: "prog[pid]:" or "prog:"
    tp = _split(pc.binary_join_element_wise(_slice(tagc, 0, -1), "[", ""), "[")
    prog, pid_text = _el(tp, 0), pc.utf8_rtrim(_el(tp, 1), "]")
    pid_text = pc.if_else(pc.equal(pid_text, ""), pa.scalar(None, STR), pid_text)
    return keep, {"ts_text": ts_text, "host": host, "tagc": tagc, "prog": prog, "pid_text": pid_text, "msg": msg}


def sshd_fields(msg: pa.Array) -> tuple[np.ndarray, dict]:
    """SSHD_RE over syslog messages: `Failed|Accepted METHOD for USERPART from IPv4 port N ssh2`."""
    keep = _mask(pc.match_substring_regex(msg, SSHD_RE))
    if not keep.any():
        return keep, {}
    msg = msg.filter(pa.array(keep))
    tail = _split(msg, " ", 5, reverse=True)  # [head, "from", ip, "port", port, "ssh2"]
    head = _split(_el(tail, 0), " ", 3)  # [verb, method, "for", user part]
    return keep, {"verb": _el(head, 0), "method": _el(head, 1), "u": _el(head, 3), "ip": _el(tail, 2),
                  "port": _el(tail, 4)}


def _gathered_all(block: bytes, spans: bytes, width: int, n: int, columns: list[tuple]) -> list[pa.Array]:
    """String columns of the walked lines ((start, end, start shift, end shift) span slots each), copied
    in one walk of the spans and the lines (_linescan.gathers)."""
    return [pa.Array.from_buffers(STR, n, [None if valid is None else pa.py_buffer(valid), pa.py_buffer(offs),
                                           pa.py_buffer(data)])
            for offs, data, valid in _linescan.gathers(block, spans, width, n, columns)]


# where scan's syslog rows (width 20) hold each field: its start and end columns and the shifts of
# both (the time is the line's first 15 bytes, and the host starts at the line's 17th)
_SPAN_COLUMNS = {"host": (0, 1, 0, 0), "tagc": (2, 3, 0, 0), "prog": (4, 5, 0, 0), "pid_text": (6, 7, 0, 0),
                 "msg": (8, 9, 0, 0), "verb": (10, 11, 0, 0), "method": (12, 13, 0, 0), "u": (14, 15, 0, 0),
                 "ip": (16, 17, 0, 0), "port": (18, 19, 0, 0), "full": (2, 9, 0, 0), "ts_text": (0, 0, -16, -1)}


def syslog_fields_c(block: bytes, starts: np.ndarray, ends: np.ndarray,
                    decisions_only: bool = False) -> tuple[np.ndarray, dict]:
    """syslog_fields of the lines [starts, ends) of `block`, walked by _linescan; the fields also
    hold sshd_fields' of every message SSHD_RE reads (null elsewhere) and "_sshd", its mask; "full"
    (tag and message), "_netfilter" (the message holds "audit(" or "IN=") and "_clearing" (the full
    text holds a word of _CLEARING_PREFILTER), as _syslog would compute them; "_spans", the walk's
    (rows, 20) spans and "_block", the block. decisions_only: of the fields only those _syslog judges
    every row by (ts_text, host, prog); it reads the others from the spans for the rows it keeps."""
    ok, spans = _linescan.scan(1, block, np.ascontiguousarray(starts, np.int64), np.ascontiguousarray(ends, np.int64))
    ok = np.frombuffer(ok, dtype=np.uint8)
    keep = (ok & 1) > 0
    if not keep.any():
        return keep, {}
    n = len(spans) // (20 * 8)  # the spans of the kept lines only
    names = ("ts_text", "host", "prog") if decisions_only else ("ts_text", *SYSLOG_FIELDS[1:], *SSHD_FIELDS, "full")
    fields = dict(zip(names, _gathered_all(block, spans, 20, n, [_SPAN_COLUMNS[k] for k in names])))
    fields["_spans"], fields["_block"] = np.frombuffer(spans, dtype=np.int64).reshape(n, 20), block
    flags = ok[keep]
    fields["_sshd"], fields["_netfilter"], fields["_clearing"] = (flags & 2) > 0, (flags & 4) > 0, (flags & 8) > 0
    return keep, fields


def _walked(block: bytes, spans: np.ndarray, rows: np.ndarray, names: tuple) -> list[pa.Array]:
    """The fields `names` (of _SPAN_COLUMNS, or "ts_text") of the walked syslog rows `rows` of `spans`."""
    return _gathered_all(block, np.ascontiguousarray(spans[rows]), 20, len(rows), [_SPAN_COLUMNS[k] for k in names])


def access_fields(lines: pa.Array) -> tuple[np.ndarray, dict]:
    keep = _mask(pc.match_substring_regex(lines, ACCESS_RE))
    if not keep.any():
        return keep, {}
    lines = lines.filter(pa.array(keep))
    parts = _split(lines, " ", 3)  # [client, ident, user, '[date] "request" status size rest']
    client, user, after = _el(parts, 0), _el(parts, 2), _el(parts, 3)
    date = _slice(after, 1, 27)
    rq = _split(_slice(after, 30), '"', 1)  # [request, ' status size rest']
    request = _el(rq, 0)
    ssr = _split(pc.binary_join_element_wise(_slice(_el(rq, 1), 1), " ", ""), " ", 2)
    status_text, size, rest = _el(ssr, 0), _el(ssr, 1), _slice(_el(ssr, 2), 0, -1)
    # rest (after "size "): '"ref" "ua"extra' (neither with a quote inside), or anything not starting with '"';
    # four sentinel quotes give every row five parts
    quoted = pc.starts_with(rest, '"')
    rp = _split(pc.binary_join_element_wise(rest, '""""', ""), '"', 4)  # ["", ref, " ", ua, extra + '""""']
    none = pa.scalar(None, STR)
    ref = pc.if_else(quoted, _el(rp, 1), none)
    ua = pc.if_else(quoted, _el(rp, 3), none)
    extra = pc.if_else(quoted, _slice(_el(rp, 4), 0, -4), pc.binary_join_element_wise(" ", rest, ""))
    extra = pc.utf8_trim(extra, " ")
    return keep, {"client": client, "user": user, "date": date, "request": request, "status_text": status_text,
                  "size": size, "ref": ref, "ua": ua, "extra": extra}


def access_fields_c(block: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, dict]:
    ok, spans = _linescan.scan(3, block, np.ascontiguousarray(starts, np.int64), np.ascontiguousarray(ends, np.int64))
    keep = np.frombuffer(ok, dtype=np.uint8) > 0
    if not keep.any():
        return keep, {}
    n = len(spans) // (18 * 8)  # the spans of the kept lines only
    cols = _gathered_all(block, spans, 18, n, [(2 * k, 2 * k + 1, 0, 0) for k in range(len(ACCESS_FIELDS))] +
                         _ACCESS_DASH)
    fields = dict(zip(ACCESS_FIELDS, cols))
    fields["_dash"] = cols[len(ACCESS_FIELDS):]
    return keep, fields


# user, user agent, referer, status, size with "-" as null, and extra with an empty text as null
# (what _access stores), gathered with the fields (gathers' nulls bits 1 and 2)
_ACCESS_DASH = [(2, 3, 0, 0, 1), (14, 15, 0, 0, 1), (12, 13, 0, 0, 1), (8, 9, 0, 0, 1), (10, 11, 0, 0, 1),
                (16, 17, 0, 0, 2)]


def _syslog(fields: tuple, line_no, offsets, cfg: BlockConfig, memo: dict, esc: tuple,
            compiled: bool = True) -> list[pa.Table]:
    """The plain syslog rows and sshd's rows, two runs in line order each."""
    keep, f = fields
    if not keep.any():
        return []
    line_no, offsets = line_no[keep], offsets[keep]
    # (the compiled walk's decisions_only fields leave tagc, pid_text and msg to _walked)
    ts_text, host, tagc, prog, pid_text, msg = (f.get(k) for k in SYSLOG_FIELDS)
    # "host" that is a 4-digit number may be a year after the time; "--" is a login tag: line parser
    ok = pc.invert(pc.or_kleene(pc.match_substring_regex(host, r"^[0-9]{4}$"), pc.equal(host, "--")))
    # the clock, once per distinct second: (month, timestamp, inferred year, valid)
    year0 = cfg.fixed_year
    clock = clock_of(cfg)

    def seconds(text: str) -> tuple:
        f = _seconds_fields(text)
        if f is None or (f[0], f[1]) == (2, 29):  # leap days: the line parser walks the years
            return 0, 0, 0, False
        try:
            if year0 is not None:
                return f[0], clock.local(year0, *f), year0, True
            ts, y = clock.yearless(*f)
            return f[0], ts, y, True
        except ValueError:
            return 0, 0, 0, False

    digits = _fixed_width(ts_text, 15) if year0 is not None and clock._utc else None
    if digits is not None:
        # a UTC wall time of a fixed year is its day's start plus the time of day: the reference
        # runs once per distinct day ("Mmm dd"), the hours, minutes and seconds are read as digits
        month, day_us, _, day_ok = (a.to_numpy(zero_copy_only=False) for a in _by_value(
            _slice(ts_text, 0, 6), lambda day: seconds(day + " 00:00:00"),
            memo.setdefault(("day", year0), {}), (pa.int8(), pa.int64(), pa.int32(), pa.bool_())))
        ok_time, tod = _time_of_day(digits, 7)
        good = day_ok & ok_time
        month = pa.array(np.where(good, month, 0).astype(np.int8))
        ts0 = pa.array(np.where(good, day_us + tod, 0))
        year = pa.array(np.where(good, year0, 0).astype(np.int32))
        valid = pa.array(good)
    else:
        month, ts0, year, valid = _by_value(ts_text, seconds, memo.setdefault(("sec", year0), {}),
                                            (pa.int8(), pa.int64(), pa.int32(), pa.bool_()))
    ok = pc.and_kleene(ok, valid)
    (pclass,) = _by_value(prog, _program_class, memo.setdefault("prog", {}), (pa.int8(),))
    if "_netfilter" in f:  # the compiled walk looked already
        plain = pc.and_kleene(pc.equal(pclass, 0), pa.array(~f["_netfilter"]))
        full = f.get("full")
        cand = _mask(plain) & f["_clearing"]
    else:
        plain = pc.and_kleene(pc.equal(pclass, 0), pc.invert(pc.or_kleene(pc.match_substring(msg, "audit("),
                                                                        pc.match_substring(msg, "IN="))))
        full = pc.binary_join_element_wise(tagc, " ", msg, "")
        # a line the clearing rule would tag goes to the line parser (the detections rewrite its event);
        # every alternative of the rule holds one of its words, looked for in the program's part of the line
        cand = _mask(pc.and_kleene(plain, pc.match_substring_regex(full, _CLEARING_PREFILTER)))
    if cand.any():
        texts = (full.filter(pa.array(cand)) if full is not None else
                 _walked(f["_block"], f["_spans"], np.flatnonzero(cand), ("full",))[0]).to_pylist()
        hit = np.zeros(len(cand), dtype=bool)
        hit[np.flatnonzero(cand)] = [detections.is_clearing(x) for x in texts]
        plain = pc.and_kleene(plain, pa.array(~hit))
    ok_plain = _mask(pc.and_kleene(ok, plain))
    ok_sshd = _mask(pc.and_kleene(ok, pc.equal(pclass, 1)))
    if ok_sshd.any():
        if "_sshd" in f:  # the compiled walk read the messages' sshd fields already
            ok_sshd &= f["_sshd"]
            # (without the sshd fields: _sshd_c reads sshd's rows from the walk's spans)
            sf = {k: f[k] for k in SSHD_FIELDS} if "verb" in f else None
        else:  # the messages of sshd's lines only
            sel = np.flatnonzero(ok_sshd)
            m, part = sshd_fields(msg.take(pa.array(sel)))
            ok_sshd[:] = False
            ok_sshd[sel[m]] = True
            sf = {k: _scatter(v, sel[m], len(ok_sshd)) for k, v in part.items()}
    walk = (f["_block"], f["_spans"]) if msg is None else None
    tables = []
    if ok_plain.any():
        sel = pa.array(ok_plain)
        f = lambda a: a.filter(sel)  # noqa: E731
        n = int(ok_plain.sum())
        if walk is None:
            p_ts, p_host, p_prog, p_pid, p_msg, p_full = map(f, (ts_text, host, prog, pid_text, msg, full))
        else:  # gathered for these rows only
            p_ts, p_host, p_prog, p_pid, p_msg, p_full = _walked(
                *walk, np.flatnonzero(ok_plain), ("ts_text", "host", "prog", "pid_text", "msg", "full"))
        p_year = f(year)
        attrs = _json_object(n, [(',"body":"', p_msg, '"', esc), (',"program":"', p_prog, '"', esc),
                                 (',"time_text":"', p_ts, '"', _RAW), (',"year_inferred":', pc.cast(p_year, STR), "", _RAW)],
                             compiled)
        tables.append(pa.table({
            "timestamp": f(ts0), "data_type": _constant("linux:syslog:line", n), "message": p_full,
            "host": p_host, "user": pa.nulls(n, STR), "process_pid": pc.cast(p_pid, pa.int64()),
            "process_name": p_prog, "src_ip": pa.nulls(n, STR), "src_port": pa.nulls(n, pa.int32()),
            "proto": pa.nulls(n, STR), "tags": _same_list([], n),
            "attack": _same_list([], n), "attributes": attrs,
            "_line": pa.array(line_no[ok_plain]), "_off": pa.array(offsets[ok_plain]),
            "_kind": pa.repeat(pa.scalar(KIND_SYSLOG, pa.int8()), n), "_det": pa.repeat(pa.scalar(DET_NONE, pa.int8()), n),
            "_month": f(month), "timestamp_desc": _constant("Event Time", n),
            "url": pa.nulls(n, STR), "bytes_out": pa.nulls(n, pa.int64()),
        }))
    if ok_sshd.any():
        if sf is None:
            t = _sshd_c(np.flatnonzero(ok_sshd), *walk, ts0, year, month, line_no, offsets, esc)
        else:
            t = _sshd(ok_sshd, sf, ts_text, host, prog, pid_text, msg, ts0, year, month, line_no, offsets, esc,
                      compiled)
        if t is not None:
            tables.append(t)
    return tables


_OUTCOMES = pa.array(["failure", "success", "attempt"])
_KINDS = pa.array(["failed", "accepted", "publickey_rejected"])
# authlog._event's tags and _sshd's ATT&CK ids, sorted as Event.to_row stores them
_SSH_TAGS = pa.array([["authentication", "login_failed"], ["authentication", "login"], ["authentication"]])
_SSH_ATTACK = pa.array([["T1110"], ["T1021.004"], []], pa.list_(STR))
_SSH_DET = pa.array([DET_FAILURE, DET_SUCCESS, DET_NONE], pa.int8())


def _scatter(values: pa.Array, at: np.ndarray, n: int) -> pa.Array:
    """`values` placed at rows `at` of an array of `n` rows, null elsewhere."""
    idx = np.full(n, -1, dtype=np.int64)
    idx[at] = np.arange(len(at))
    return values.take(pa.array(idx, mask=idx < 0))


def _sshd(mask, sf, ts_text, host, prog, pid_text, msg, ts0, year, month, line_no, offsets, esc,
          compiled: bool = True) -> pa.Table | None:
    """sshd's everyday `Failed|Accepted METHOD for [invalid user ]USER from IPv4 port N ssh2` (authlog._sshd);
    `sf`: sshd_fields of the rows (valid where `mask`)."""
    sel = pa.array(mask)
    f = lambda a: a.filter(sel)  # noqa: E731
    ts_text, host, prog, pid_text, msg, ts0, year, month = map(f, (ts_text, host, prog, pid_text, msg, ts0, year, month))
    verb, method, u, ip, port = (f(sf[k]) for k in SSHD_FIELDS)
    line_no, offsets = line_no[mask], offsets[mask]
    failed = pc.equal(verb, "Failed")
    inv = pc.and_kleene(failed, pc.match_substring_regex(u, r"^(?:invalid|illegal) user "))
    # exactly "invalid user" with nothing after: authlog._password_line declines, so do we
    keep = _mask(pc.invert(pc.and_kleene(failed, pc.is_in(u, pa.array(["invalid user", "illegal user"])))))
    if not keep.all():
        if not keep.any():
            return None
        sel = pa.array(keep)
        f = lambda a: a.filter(sel)  # noqa: E731
        ts_text, host, prog, pid_text, msg, ts0, year, month, ip, port, verb, method, u, failed, inv = map(
            f, (ts_text, host, prog, pid_text, msg, ts0, year, month, ip, port, verb, method, u, failed, inv))
        line_no, offsets = line_no[keep], offsets[keep]
    n = len(line_no)
    user = pc.if_else(inv, _slice(u, 13), u)
    attempt = pc.and_kleene(pc.and_kleene(failed, pc.equal(method, "publickey")), pc.invert(inv))
    # 0 failure, 1 success (accepted), 2 attempt (a valid user's rejected key): the per-outcome values by take
    code = pa.array(np.where(_mask(failed), np.where(_mask(attempt), 2, 0), 1).astype(np.int8))
    outcome = _OUTCOMES.take(code)
    kind = _KINDS.take(code)
    # "SSH {method} authentication failed for {user} from {ip}" | "SSH public key rejected for ..." |
    # "SSH login accepted for {user} from {ip} ({method})"
    head = pc.if_else(attempt, "SSH public key rejected for ",
                      pc.if_else(failed, pc.binary_join_element_wise("SSH ", method, " authentication failed for ", ""),
                                 "SSH login accepted for "))
    tail = pc.if_else(failed, "", pc.binary_join_element_wise(" (", method, ")", ""))
    message = pc.binary_join_element_wise(head, user, " from ", ip, tail, "")
    attrs = _json_object(n, [
        (',"body":"', msg, '"', esc), (',"invalid_user":', pc.if_else(inv, "true", pa.scalar(None, STR)), "", _RAW),
        (',"kind":"', kind, '"', _RAW), (',"method":"', method, '"', esc), (',"outcome":"', outcome, '"', _RAW),
        (',"program":"', prog, '"', esc), (',"time_text":"', ts_text, '"', _RAW),
        (',"year_inferred":', pc.cast(year, STR), "", _RAW)], compiled)
    tags = _SSH_TAGS.take(code)
    attack = _SSH_ATTACK.take(code)
    return pa.table({
        "timestamp": ts0, "data_type": _constant("linux:auth", n), "message": message,
        "host": host, "user": pc.if_else(pc.equal(user, ""), pa.scalar(None, STR), user),
        "process_pid": pc.cast(pid_text, pa.int64()), "process_name": prog,
        "src_ip": ip, "src_port": pc.cast(port, pa.int32()), "proto": _constant("ssh", n),
        "tags": tags, "attack": attack, "attributes": attrs,
        "_line": pa.array(line_no), "_off": pa.array(offsets),
        "_kind": pa.repeat(pa.scalar(KIND_SSHD, pa.int8()), n),
        "_det": _SSH_DET.take(code),
        "_month": month, "timestamp_desc": _constant("Event Time", n),
        "url": pa.nulls(n, STR), "bytes_out": pa.nulls(n, pa.int64()),
    })


_TRUE = pa.array(["true", None], STR)


def _sshd_c(rows: np.ndarray, block: bytes, spans: np.ndarray, ts0, year, month, line_no, offsets,
            esc) -> pa.Table | None:
    """_sshd of the walked syslog rows `rows` (sshd's lines SSHD_RE reads), its decisions, message and
    user written by _linescan.sshd from the walk's spans, the other fields gathered from the block."""
    codes, mo, md, uo, ud, uv = _linescan.sshd(block, np.ascontiguousarray(spans[rows]))
    codes = np.frombuffer(codes, dtype=np.uint8)
    keep = codes != 3
    if not keep.all():
        if not keep.any():
            return None
        rows, codes = rows[keep], codes[keep]
    n = len(rows)
    ts_text, host, prog, pid_text, msg, method, ip, port = _walked(
        block, spans, rows, ("ts_text", "host", "prog", "pid_text", "msg", "method", "ip", "port"))
    idx = pa.array(rows)
    ts0, year, month = ts0.take(idx), year.take(idx), month.take(idx)
    line_no, offsets = line_no[rows], offsets[rows]
    code = pa.array((codes & 3).astype(np.int8))
    user = pa.Array.from_buffers(STR, n, [None if uv is None else pa.py_buffer(uv), pa.py_buffer(uo), pa.py_buffer(ud)])
    kind, outcome = _KINDS.take(code), _OUTCOMES.take(code)
    attrs = _json_object(n, [
        (',"body":"', msg, '"', esc), (',"invalid_user":', _TRUE.take(pa.array((codes < 4).astype(np.int8))), "", _RAW),
        (',"kind":"', kind, '"', _RAW), (',"method":"', method, '"', esc), (',"outcome":"', outcome, '"', _RAW),
        (',"program":"', prog, '"', esc), (',"time_text":"', ts_text, '"', _RAW),
        (',"year_inferred":', pc.cast(year, STR), "", _RAW)])
    return pa.table({
        "timestamp": ts0, "data_type": _constant("linux:auth", n),
        "message": pa.Array.from_buffers(STR, n, [None, pa.py_buffer(mo), pa.py_buffer(md)]),
        "host": host, "user": user, "process_pid": pc.cast(pid_text, pa.int64()), "process_name": prog,
        "src_ip": ip, "src_port": pc.cast(port, pa.int32()), "proto": _constant("ssh", n),
        "tags": _SSH_TAGS.take(code), "attack": _SSH_ATTACK.take(code), "attributes": attrs,
        "_line": pa.array(line_no), "_off": pa.array(offsets),
        "_kind": pa.repeat(pa.scalar(KIND_SSHD, pa.int8()), n),
        "_det": _SSH_DET.take(code),
        "_month": month, "timestamp_desc": _constant("Event Time", n),
        "url": pa.nulls(n, STR), "bytes_out": pa.nulls(n, pa.int64()),
    })


def _locators(line_no: np.ndarray, offsets: np.ndarray, compiled: bool = True) -> pa.Array:
    """"line=N;off=M" per row; written by _linescan when built, else joined by Arrow (its twin)."""
    if _linescan is not None and compiled:
        n = len(line_no)
        offs, data = _linescan.locators(np.ascontiguousarray(line_no, np.int64), np.ascontiguousarray(offsets, np.int64))
        return pa.Array.from_buffers(STR, n, [None, pa.py_buffer(offs), pa.py_buffer(data)])
    return pc.binary_join_element_wise("line=", pc.cast(pa.array(line_no), STR), ";off=",
                                       pc.cast(pa.array(offsets), STR), "")


# ------------------------------------------------------------------ access logs

def _date(text: str) -> tuple:
    ts = webaccess._date_us(text)
    return (0, False) if ts is None else (ts, True)


def _request(text: str) -> tuple:
    """webaccess's reading of a request line, and what the web rules of the detections make of it:
    whether a signature matches (Detector._web: the decoded URL, else the URL, else the request, and
    the raw URL) and whether the URL is a login page."""
    method, url, proto, decoded = webaccess._request(text)
    sig_url = decoded or url or text or ""
    attacked = bool(detections._signatures((sig_url, url or "")))
    login = detections.LOGIN_URL.search(url or "") is not None
    # the decoded URL as the inside of its JSON string (percent-decoding may give quotes,
    # backslashes, control characters: escaped as the line parser's canonical_json escapes them)
    decoded_json = None if decoded is None else canonical_json(decoded)[1:-1]
    return method, url, proto, decoded_json, attacked, login


def _access(fields: tuple, line_no, offsets, cfg: BlockConfig, memo: dict, esc: tuple,
            compiled: bool = True) -> pa.Table | None:
    keep, f = fields
    if not keep.any():
        return None
    line_no, offsets = line_no[keep], offsets[keep]
    bs = esc[0]
    client, user, date, request, status_text, size, ref, ua, extra = (f[k] for k in ACCESS_FIELDS)
    none = pa.scalar(None, STR)
    digits = _fixed_width(date, 26)  # "dd/Mon/yyyy:hh:mm:ss +zzzz"
    if digits is not None:
        # the reference once per distinct day ("dd/Mon/yyyy", at midnight UTC); time of day and
        # UTC offset from the digits (parse_offset: sign * (hh h + mm min), mm not checked)
        day_us, day_ok = (a.to_numpy(zero_copy_only=False) for a in _by_value(
            _slice(date, 0, 11), lambda day: _date(day + ":00:00:00 +0000"),
            memo.setdefault("day", {}), (pa.int64(), pa.bool_())))
        ok_time, tod = _time_of_day(digits, 12)
        d = digits[:, 22:26].astype(np.int64) - 48
        zone = (d[:, 0] * 10 + d[:, 1]) * 3600 + (d[:, 2] * 10 + d[:, 3]) * 60
        zone = np.where(digits[:, 21] == ord("-"), -zone, zone) * 1_000_000
        good = day_ok & ok_time
        ts, valid = pa.array(np.where(good, day_us + tod - zone, 0)), pa.array(good)
    else:
        ts, valid = _by_value(date, _date, memo.setdefault("date", {}), (pa.int64(), pa.bool_()))
    method, url, proto, decoded, attacked, login = _by_value(
        request, _request, memo.setdefault("req", {}), (STR, STR, STR, STR, pa.bool_(), pa.bool_()))
    if "_dash" in f:  # the walk gathered the fields with "-" (and an empty extra) as null already
        user, ua_attr, referer, status_num, size, extra = f["_dash"]
    else:
        user, ua_attr, referer, status_num, size = (
            pc.if_else(pc.equal(a, "-"), none, a) for a in (user, ua, ref, status_text, size))
        extra = pc.if_else(pc.equal(extra, ""), none, extra)
    # a line the detections' web rules would tag goes to the line parser
    (scanner,) = _by_value(pc.fill_null(ua_attr, ""), lambda x: (bool(x) and detections._is_scanner(x),),
                           memo.setdefault("ua", {}), (pa.bool_(),))
    okn = _mask(pc.and_kleene(valid, pc.invert(pc.or_kleene(attacked, scanner))))
    if not okn.any():
        return None
    if not okn.all():
        sel = pa.array(okn)
        f = lambda a: a.filter(sel)  # noqa: E731
        (client, user, date, request, status_text, status_num, size, ref, referer, ua_attr, extra, ts, method, url,
         proto, decoded, login) = map(f, (client, user, date, request, status_text, status_num, size, ref, referer,
                                          ua_attr, extra, ts, method, url, proto, decoded, login))
        line_no, offsets = line_no[okn], offsets[okn]
    n = len(line_no)
    status = pc.cast(status_num, pa.int64())
    http = pc.or_kleene(pc.is_in(status, pa.array([401, 403], pa.int64())),
                        pc.and_kleene(pc.equal(pc.fill_null(method, ""), "POST"), login))
    http = pc.fill_null(http, False)
    # request, referer and user agent hold no quote (the strict pattern); the decoded URL comes
    # escaped as the reference's JSON escapes it (it may hold any character once decoded)
    attributes = _json_object(n, [
        (',"decoded_url":"', decoded, '"', _RAW),
        (',"extra":"', extra, '"', (bs, True)),
        (',"format":"', pc.if_else(pc.is_valid(ref), "combined", "common"), '"', _RAW),
        (',"http_version":"', proto, '"', _RAW), (',"method":"', method, '"', _RAW),
        (',"referer":"', referer, '"', (bs, False)),
        (',"request":"', request, '"', (bs, False)), (',"status":', pc.cast(status, STR), "", _RAW),
        (',"time_text":"', date, '"', _RAW), (',"user_agent":"', ua_attr, '"', (bs, False)),
    ], compiled)
    return pa.table({
        "timestamp": ts, "data_type": _constant("web:access", n),
        "message": pc.binary_join_element_wise(client, " ", request, " -> ", status_text, ""),
        "host": pa.nulls(n, STR), "user": user,
        "process_pid": pa.nulls(n, pa.int64()), "process_name": pa.nulls(n, STR),
        "src_ip": client, "src_port": pa.nulls(n, pa.int32()), "proto": _constant("http", n),
        "url": url, "bytes_out": pc.cast(size, pa.int64()),
        "tags": _same_list(["web_request"], n), "attack": _same_list([], n),
        "attributes": attributes, "_line": pa.array(line_no), "_off": pa.array(offsets),
        "_kind": pa.repeat(pa.scalar(KIND_ACCESS, pa.int8()), n),
        "_det": pc.if_else(http, DET_HTTP, DET_NONE).cast(pa.int8()), "_month": pa.repeat(pa.scalar(0, pa.int8()), n),
        "timestamp_desc": _constant("Request Time", n),
    })


# ------------------------------------------------------------------ all columns

_PART_COLUMNS = ("timestamp", "timestamp_desc", "data_type", "message", "host", "user", "process_pid", "process_name",
                 "src_ip", "src_port", "proto", "url", "bytes_out", "tags", "attack", "attributes",
                 "_line", "_off", "_kind", "_det", "_month")


def _finish(t: pa.Table, cfg: BlockConfig, compiled: bool = True) -> pa.Table:
    """The EVENT_SCHEMA columns (but `datetime`, which the event store derives) in schema order,
    plus event_id, discriminator and the helper columns `_line`, `_kind`, `_det`, `_month`, `_roll`."""
    n = t.num_rows
    kind = t.column("_kind").to_numpy()
    line_no = t.column("_line").to_numpy()
    locator = _locators(line_no, t.column("_off").to_numpy(), compiled)
    cols = {}
    for field in EVENT_SCHEMA:
        name = field.name
        if name in ("event_id", "datetime"):
            continue
        if name == "locator":
            cols[name] = locator
        elif name == "timestamp_desc" and "timestamp_desc" not in t.column_names:
            cols[name] = _constant("Event Time", n)
        elif name in t.column_names:
            col = t.column(name)
            cols[name] = col if col.type == field.type else col.cast(field.type)
        elif name == "parser":
            cols[name] = _constant(cfg.parser_id, n)
        elif name == "evidence_sha256":
            cols[name] = _constant(cfg.evidence_sha256, n)
        elif name == "severity":
            cols[name] = _constant("info", n)
        else:
            cols[name] = pa.nulls(n, field.type)
    cols["discriminator"] = _constant("", n)
    cols["event_id"] = event_ids(cfg, locator, cols["data_type"])
    for name in ("_line", "_kind", "_det", "_month"):
        cols[name] = t.column(name)
    # the rollover test of Clock.yearless between consecutive syslog rows (the ingestor settles the years)
    month = t.column("_month").to_numpy().astype(np.int16)
    roll = np.zeros(n, dtype=bool)
    pos = np.flatnonzero(kind != KIND_ACCESS)
    if len(pos) > 1:
        roll[pos[1:]] = month[pos[1:]] < month[pos[:-1]] - 5
    cols["_roll"] = pa.array(roll)
    return pa.table(cols)


def event_ids(cfg: BlockConfig, locators: pa.Array, data_types: pa.Array) -> pa.Array:
    """make_event_id(sha, locator, parser, data_type) of every row (these events have no discriminator).

    hashlib, not DuckDB's sha256: this runs in pool workers forked from a process that may have
    used DuckDB, and DuckDB in a forked child can crash (seen: a segfault in the end-to-end tests)."""
    if _eventid is not None:
        cols = []
        for arr in (locators, data_types):
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            cols.append(arr)
        if all(a.null_count == 0 and a.type == STR for a in cols):
            n = len(cols[0])
            bufs = []
            for a in cols:
                _, offs, data = a.buffers()
                bufs += [memoryview(offs)[4 * a.offset: 4 * (a.offset + n + 1)], data if data is not None else b""]
            # the key "sha|locator|parser|data_type" is hashed in pieces, never joined
            hexes = _eventid.ids3(f"{cfg.evidence_sha256}|".encode(), bufs[0], bufs[1], f"|{cfg.parser_id}|".encode(),
                                  bufs[2], bufs[3], n)
            return pa.Array.from_buffers(STR, n, [None, pa.py_buffer(np.arange(0, 32 * n + 1, 32, dtype=np.int32)),
                                                  pa.py_buffer(hexes)])
    keys = pc.binary_join_element_wise(f"{cfg.evidence_sha256}|", locators, f"|{cfg.parser_id}|", data_types, "")
    sha256 = hashlib.sha256
    return pa.array([sha256(k.encode()).hexdigest()[:32] for k in keys.to_pylist()], STR)
