"""Text logs as real systems write them: syslog/auth.log (RFC 3164, no year, the
host's clock in UTC), Apache/Nginx combined access logs (with offset), and
iptables/UFW kernel lines. Lines come from time-ordered iterators and are merged
on the way to disk, so background volume can grow without memory growth."""
from __future__ import annotations

import heapq
from datetime import timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

from scenarios.writers.clock import dt

Line = tuple[int, str]  # (timestamp_us, text without newline)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def syslog_line(ts: int, host: str, program: str, pid: int | None, message: str) -> Line:
    """RFC 3164: 'Mar  2 01:12:03 host sshd[812]: message' (day space-padded, no year)."""
    d = dt(ts)
    tag = f"{program}[{pid}]" if pid is not None else program
    return ts, f"{_MONTHS[d.month - 1]} {d.day:2d} {d:%H:%M:%S} {host} {tag}: {message}"


def access_line(ts: int, client: str, method: str, path: str, status: int, size: int, referer: str = "-",
                agent: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", user: str = "-",
                utc_offset_hours: int = 8) -> Line:
    """Combined log format with the server's local offset, e.g. [02/Mar/2026:09:12:03 +0800]."""
    d = dt(ts).astimezone(timezone(timedelta(hours=utc_offset_hours)))
    sign = "+" if utc_offset_hours >= 0 else "-"
    off = f"{sign}{abs(utc_offset_hours):02d}00"
    stamp = f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:{d:%H:%M:%S} {off}"
    return ts, f'{client} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "{referer}" "{agent}"'


def firewall_line(ts: int, host: str, uptime_s: float, action: str, src: str, dst: str, proto: str,
                  spt: int, dpt: int, length: int = 60, in_if: str = "eth0") -> Line:
    """A UFW/iptables kernel log line in syslog framing."""
    flags = " SYN URGP=0" if proto == "TCP" else ""
    ports = f"SPT={spt} DPT={dpt}"
    win = " WINDOW=64240 RES=0x00" if proto == "TCP" else f" LEN={length - 20}"
    msg = (f"[{uptime_s:12.6f}] [UFW {action}] IN={in_if} OUT= MAC=02:00:0a:00:00:01:00:1b:21:3a:4f:01:08:00 "
           f"SRC={src} DST={dst} LEN={length} TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO={proto} {ports}{win}{flags}")
    return syslog_line(ts, host, "kernel", None, msg)


def write_lines(path: Path, *streams: Iterable[Line]) -> int:
    """Merge time-ordered line streams (ties keep stream order) and write them; returns the line count."""
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for _, text in heapq.merge(*streams, key=lambda x: x[0]):
            f.write(text)
            f.write("\n")
            n += 1
    return n


def sorted_lines(lines: list[Line]) -> Iterator[Line]:
    """Scenario-authored lines, put in time order (stable for equal times)."""
    return iter(sorted(lines, key=lambda x: x[0]))
