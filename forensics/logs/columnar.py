"""Vectorised parsing of the two bulk formats (syslog/auth.log and NCSA access
logs) into Arrow columns, a block of lines at a time, with RE2 regexes in
pyarrow.compute instead of a Python loop per line.

This is the throughput path for very large logs (bench/logs.py); the
line-by-line `TextLogIngestor` remains the reference for every format, the
damage handling and the detections. Both give the same locators
(`line=N;off=BYTE`), so rows can be joined back to the exact bytes.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SYSLOG_RE = (r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) (?P<host>\S+) "
             r"(?P<program>[^\[: ]+)(?:\[(?P<pid>\d+)\])?: (?P<message>.*)$")
ACCESS_RE = (r'^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<ts>\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
             r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)(?: "(?P<referer>[^"]*)" "(?P<ua>[^"]*)")?')
SSH_FROM_RE = r"(?:Failed|Accepted) \S+ for (?:invalid user )?(?P<user>\S*) from (?P<ip>[0-9a-fA-F:.]+) port (?P<port>\d+)"


def lines_array(block: bytes) -> tuple[pa.StringArray, np.ndarray]:
    """The block's lines as one Arrow string array and each line's start offset in `block`."""
    if not block.isascii():
        block = block.decode("utf-8", "replace").encode("utf-8")
    buf = np.frombuffer(block, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1)).astype(np.int64)
    if starts[-1] == len(block):  # the block ended with a newline
        starts = starts[:-1]
    # Arrow strings are slices of one buffer: drop the newlines from the buffer
    # and shift each line's start back by the newlines before it.
    data = block.replace(b"\n", b"")
    offsets = np.empty(len(starts) + 1, dtype=np.int64)
    offsets[:-1] = starts - np.arange(len(starts))
    offsets[-1] = len(data)
    return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data)), starts


def parse_block(block: bytes, first_line: int, base_offset: int, year: int) -> pa.Table:
    """Rows for every line of `block` (complete lines only), in line order; unrecognised lines have null fields."""
    lines, starts = lines_array(block)
    n = len(lines)
    line_no = pa.array(np.arange(first_line, first_line + n, dtype=np.int64))
    offset = pa.array(starts + base_offset)
    # each regex runs only over the lines that can be its format (cheap first-byte test)
    is_sys = pc.match_substring_regex(lines, r"^[A-Z][a-z][a-z] ")
    sys_idx = pc.indices_nonzero(is_sys)
    acc_idx = pc.indices_nonzero(pc.invert(is_sys))
    parts = []
    if len(sys_idx):
        parts.append(_syslog(pc.take(lines, sys_idx), pc.take(line_no, sys_idx), pc.take(offset, sys_idx), year))
    if len(acc_idx):
        parts.append(_access(pc.take(lines, acc_idx), pc.take(line_no, acc_idx), pc.take(offset, acc_idx)))
    if not parts:
        return pa.table({"line": line_no, "offset": offset})
    return pa.concat_tables(parts, promote_options="default").sort_by("line")


def _syslog(lines, line_no, offset, year: int) -> pa.Table:
    sys = pc.extract_regex(lines, SYSLOG_RE)
    ls = pa.large_string()
    ts_text = pc.binary_join_element_wise(pa.scalar(str(year), ls), pc.struct_field(sys, "mon"),
                                          pc.struct_field(sys, "day"), pc.struct_field(sys, "time"), pa.scalar(" ", ls))
    ts = pc.strptime(ts_text, format="%Y %b %d %H:%M:%S", unit="us", error_is_null=True)
    msg = pc.struct_field(sys, "message")
    ssh = pc.extract_regex(msg, SSH_FROM_RE)
    outcome = pc.if_else(pc.starts_with(msg, "Failed "), "failure",
                         pc.if_else(pc.starts_with(msg, "Accepted "), "success", pa.scalar(None, pa.string())))
    return pa.table({
        "line": line_no, "offset": offset, "timestamp": pc.cast(ts, pa.int64()),
        "data_type": pc.if_else(pc.is_valid(outcome), "linux:auth",
                                pc.if_else(pc.is_valid(sys), "linux:syslog:line", pa.scalar(None, pa.string()))),
        "host": pc.struct_field(sys, "host"), "process_name": pc.struct_field(sys, "program"),
        "process_pid": pc.cast(pc.struct_field(sys, "pid"), pa.int64()), "outcome": outcome,
        "user": pc.struct_field(ssh, "user"), "src_ip": pc.struct_field(ssh, "ip"), "message": msg,
    })


def _access(lines, line_no, offset) -> pa.Table:
    acc = pc.extract_regex(lines, ACCESS_RE)
    ts = pc.strptime(pc.struct_field(acc, "ts"), format="%d/%b/%Y:%H:%M:%S %z", unit="us", error_is_null=True)
    return pa.table({
        "line": line_no, "offset": offset, "timestamp": pc.cast(pc.cast(ts, pa.timestamp("us")), pa.int64()),
        "data_type": pc.if_else(pc.is_valid(acc), "web:access", pa.scalar(None, pa.string())),
        "user": pc.struct_field(acc, "user"), "src_ip": pc.struct_field(acc, "client"),
        "request": pc.struct_field(acc, "request"), "status": pc.cast(pc.struct_field(acc, "status"), pa.int32()),
        "message": pc.struct_field(acc, "request"),
    })
