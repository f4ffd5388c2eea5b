"""The columnar text-log path (what the event store gets: TextLogIngestor.ingest_batches,
forensics.logs.fastpath + batchpath) gives exactly the records of the line-by-line
reference (`ingest`): every column of every event (ids, locators, timestamps,
attributes JSON byte for byte) and the detections in the same order, and the same errors.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from forensics.events import EVENT_COLUMNS, Event, EventBatch, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.textlog import TextLogIngestor
from forensics.logs import batchpath, fastpath


def _rows(records) -> list:
    out = []
    for r in records:
        if isinstance(r, EventBatch):
            for d in r.table.to_pylist():
                d = {k: d.get(k) for k in EVENT_COLUMNS if k != "datetime"}
                d["tags"], d["attack"] = d["tags"] or [], d["attack"] or []
                out.append(d)
        elif isinstance(r, Event):
            d = r.to_row()
            d.pop("datetime")
            out.append(d)
        else:
            assert isinstance(r, IngestError)
            out.append(r)
    return out


def both(path: Path, **options) -> tuple[list, list]:
    def ctx():
        return IngestContext(path, "cd" * 32, "text_log", path.name, dict(options))
    ref = _rows(TextLogIngestor().ingest(ctx()))
    new = _rows(TextLogIngestor().ingest_batches(ctx()))
    return ref, new


def assert_same(path: Path, **options) -> list:
    """The same events in the same order, and the same errors in the same order (the batch path
    reports a block's errors ahead of its events: their place among the events is not stored)."""
    ref, new = both(path, **options)
    for kind in (dict, IngestError):
        a_, b_ = [r for r in ref if isinstance(r, kind)], [r for r in new if isinstance(r, kind)]
        for i, (a, b) in enumerate(zip(a_, b_)):
            assert a == b, (path.name, kind.__name__, i, a, b)
        assert len(a_) == len(b_), (path.name, kind.__name__)
    assert len(ref) == len(new), path.name
    return new


BERLIN = {"acquired_at": "2005-08-14T12:00:00+02:00", "timezone": "Europe/Berlin"}


@pytest.mark.corpus
@pytest.mark.parametrize("options", [BERLIN, {"year": 2005}, {"acquired_at": "2024-01-02"}])
def test_corpus_logs_same_records(corpus, options):
    files = sorted(p for p in (corpus / "logs").rglob("*") if p.is_file() and not p.name.endswith(".csv"))
    assert any("loghub" in str(p) for p in files) and any("fail2ban" in str(p) for p in files)
    vector = 0
    for p in files:
        recs = assert_same(p, **options)
        vector += sum(isinstance(r, dict) for r in recs)
    assert vector > 5000


@pytest.mark.corpus
def test_corpus_logs_in_small_blocks(corpus, monkeypatch):
    """Block boundaries every few lines: pending continuations, sshd memory and clock carried across."""
    monkeypatch.setattr(batchpath, "BLOCK", 700)
    for name in ("loghub/OpenSSH_2k.log", "loghub/Linux_2k.log", "fail2ban/f2b_sshd.log", "loghub/Apache_2k.log"):
        assert_same(corpus / "logs" / name, **BERLIN)


GOOD = [
    "Jan  5 03:00:01 srv sshd[11]: Failed password for root from 203.0.113.9 port 22 ssh2",
    "Jan  5 03:00:02 srv sshd[11]: Failed password for invalid user admin from 203.0.113.9 port 22 ssh2",
    "Jan  5 03:00:03 srv sshd[12]: Accepted publickey for deploy from 198.51.100.7 port 50022 ssh2",
    "Jan  5 03:00:04 srv sshd[13]: Failed publickey for alice from 198.51.100.7 port 50022 ssh2",
    "Jan  5 03:00:05 srv CRON[99]: (root) CMD (run-parts /etc/cron.hourly)",
    "Jan  5 03:00:06 srv kernel: a plain kernel line with \"quotes\" and \\ backslash",
    '203.0.113.9 - - [05/Jan/2024:03:00:07 +0000] "GET /index.php?id=3 HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    '203.0.113.9 - bob [05/Jan/2024:03:00:08 +0100] "POST /wp-login.php HTTP/1.1" 401 - "http://x/" "curl/8"',
    '198.51.100.7 - - [05/Jan/2024:03:00:09 -0500] "GET /a%20b+c HTTP/1.0" 304 0',
    '198.51.100.7 - - [05/Jan/2024:03:00:10 +0000] "GET / HTTP/1.1" 200 5 "-" "-" "extra field"',
]
ODD = [
    "Jan  5 03:00:11 srv sshd[11]: Connection closed by 203.0.113.9 port 22 [preauth]",
    "Jan  5 03:00:12 srv sshd[11]: Disconnecting: Too many authentication failures [preauth]",
    "Jan  5 03:00:13 srv sshd[40]: Disconnecting: Too many authentication failures [preauth]",
    "Jan  5 03:00:14 srv sudo:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/rm -rf /var/log/auth.log",
    "Jan  5 03:00:15 srv bash[5]: history -c",
    '203.0.113.9 - - [05/Jan/2024:03:00:16 +0000] "GET /../../etc/passwd HTTP/1.1" 404 12 "-" "sqlmap/1.5"',
    "    at com.example.Trace(Trace.java:12)",
    "continued wrapped syslog text",
    "Feb 29 01:02:03 srv app: leap day",
    "Jan 32 01:02:03 srv app: no such day",
    "Jan  5 03:00:17 2024 srv app: a year after the time",
    "Jan  5 03:00:18 srv app:",
    "Jan  5 03:00:19 srv  app: two spaces",
    "Jan  5 03:00:20 srv sshd[7]: Failed password for invalid user from 203.0.113.9 port 22 ssh2",
    "Jan  5 03:00:21 srv sshd[7]: Failed password for x from 01.2.3.4 port 22 ssh2",
    "Jan  5 03:00:22 srv sshd[7]: Failed password for x from host.example port 22 ssh2",
    "<34>Jan  5 03:00:23 srv app[1]: with a priority",
    "2024-01-05T03:00:24+00:00 srv app[1]: rsyslog high precision",
    "Jan  5 03:00:25 srv kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.1 PROTO=TCP SPT=1 DPT=22",
    '203.0.113.9 - - [05/Jan/2024:03:00:26 +0000] "GET /x" y" HTTP/1.1" 200 1 "-" "ua"',
    "not a log line at all",
    "#Fields: date time c-ip cs-method cs-uri-stem sc-status",
]


def _damaged_file(path: Path, rnd: random.Random, lines: int = 3000) -> None:
    """Bulk lines with every kind of odd line and damage mixed in; December to January turns."""
    out = bytearray()
    long_lines = 0  # a few over-long lines only: the file stays under the line path's fork threshold
    month = ["Nov", "Dec", "Jan", "Feb"]
    for i in range(lines):
        r = rnd.random()
        if r < 0.7:
            line = rnd.choice(GOOD)
        elif r < 0.9:
            line = rnd.choice(ODD)
        else:
            line = None
        if line is not None:
            if line[:3] == "Jan" and rnd.random() < 0.5:  # walk the months so the fixed year rolls over
                line = month[(i // 400) % 4] + line[3:]
            if rnd.random() < 0.05:
                line = line.replace("03:00", f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}")
            out += line.encode() + (b"\r\n" if rnd.random() < 0.03 else b"\n")
            continue
        k = rnd.randrange(6)
        if k == 0:
            out += bytes(rnd.randrange(256) for _ in range(40)).replace(b"\n", b"") + b"\n"
        elif k == 1:
            out += "Jan  5 03:00:30 srv app: 中文 message".encode("gbk") + b"\n"
        elif k == 2:
            out += "Jan  5 03:00:31 srv app: café".encode("latin-1") + b"\n"
        elif k == 3 and long_lines < 3:
            long_lines += 1
            out += b"Jan  5 03:00:32 srv app: " + b"x" * (1 << 20) + b"\n"
        elif k == 4:
            out += b"\n   \n"
        else:
            out += "Jan  5 03:00:33 srv app: ünïcode ok".encode() + b"\n"
    out += b"Jan  5 03:00:59 srv sshd[1]: Failed password for root from 203.0.113.9 port 22"  # truncated
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("options", [{"year": 2023}, {"acquired_at": "2024-02-10T00:00:00Z"},
                                     {"year": 2023, "timezone": "Europe/Berlin"}])
def test_generated_mixed_file_with_damage(tmp_path, monkeypatch, options):
    p = tmp_path / "mixed.log"
    _damaged_file(p, random.Random(7))
    monkeypatch.setattr(batchpath, "BLOCK", 1 << 16)
    recs = assert_same(p, **options)
    assert sum(isinstance(r, IngestError) for r in recs) > 20
    assert sum(isinstance(r, dict) and r["data_type"] == "detection" for r in recs) >= 3


def test_bench_lines_all_take_the_vector_path(tmp_path):
    from bench.logs import generate

    p = tmp_path / "bench.log"
    generate(p, 1)
    blk = fastpath.parse_block(p.read_bytes(), 1, 0, fastpath.BlockConfig("cd" * 32, "textlog@x", "UTC", 2024, None))
    assert blk.fallback == [] and blk.table.num_rows == blk.lines
    assert_same(p, year=2024)


def test_percent_decoded_quotes_backslashes_and_control_characters_are_json_escaped(tmp_path):
    """A decoded URL may hold what its request line cannot (%5C, %22, %0A, %09, %01, non-ASCII):
    stored as the line parser's JSON escapes it, whether or not the block holds a backslash."""
    p = tmp_path / "decoded.log"
    p.write_text("".join(f'1.2.3.4 - - [05/Jan/2024:10:00:0{i} +0000] "GET /a{e}b HTTP/1.1" 200 5 "-" "ua"\n'
                         for i, e in enumerate(["%5C", "%22", "%0A", "%09", "%01", "%C3%A9", "%FF"])))
    recs = assert_same(p, year=2024)
    assert ['"decoded_url":"/a\\\\b"' in r["attributes"] for r in recs][0]


def test_worker_processes_give_the_same_records(tmp_path, monkeypatch):
    p = tmp_path / "mixed.log"
    _damaged_file(p, random.Random(11), lines=6000)
    monkeypatch.setattr(batchpath, "BLOCK", 1 << 16)
    monkeypatch.setattr(batchpath, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(batchpath, "PARALLEL_MIN_CORES", 1)
    assert_same(p, year=2023)
    assert batchpath.WORKER_CPU["seconds"] > 0  # the blocks were parsed by the workers


def test_parse_workers_only_from_three_cores(tmp_path, monkeypatch):
    """On two cores one process outruns the pool (its main and writer threads already use both):
    a big file is parsed without one; from three cores the pool starts."""
    p = tmp_path / "big.log"
    _damaged_file(p, random.Random(3), lines=500)
    monkeypatch.setattr(batchpath, "PARALLEL_MIN_BYTES", 1)
    started = []

    def no_pool():
        started.append(True)
        raise RuntimeError("pool started")
    monkeypatch.setattr(batchpath, "_pool_context", no_pool)
    ctx = IngestContext(p, "ab" * 32, "text_log", p.name, {"year": 2023})
    for cores, pool in ((2, False), (3, True)):
        monkeypatch.setattr("os.cpu_count", lambda: cores)
        started.clear()
        try:
            list(batchpath.ingest_batches(TextLogIngestor(), ctx))
        except RuntimeError:
            pass
        assert bool(started) is pool


def test_year_rollover_across_vector_and_line_rows(tmp_path):
    p = tmp_path / "roll.log"
    p.write_text("Dec 31 23:59:58 h app: a\n<13>Jan  1 00:00:01 h app: b\nDec 31 23:59:59 h app: c\n"
                 "Jan  1 00:00:02 h app: d\nJan  1 00:00:03 h app: e\n")
    recs = assert_same(p, year=2022)
    assert [r["attributes"][-5:-1] for r in recs if isinstance(r, dict) and r["data_type"] != "detection"] == ["2022", "2023", "2023", "2024", "2024"]


# ---------------------------------------------------------------- fuzz
_ALPHABET = st.sampled_from(list(' "\\[]:-./0123456789aAzZ\t\x00\xe9()%+=') + ["中", "\r", " from ", " port ",
                                                                              "invalid user ", "ssh2", '" "'])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(GOOD + ODD), st.integers(0, 200), st.integers(0, 3), _ALPHABET),
                min_size=1, max_size=12),
       st.sampled_from([{"year": 2024}, {"acquired_at": "2024-03-01"}]))
def test_fuzzed_lines_same_records(tmp_path, lines, options):
    """Bulk and odd lines with a character inserted, deleted or replaced somewhere."""
    text = []
    for line, pos, op, ch in lines:
        pos = pos % (len(line) + 1)
        if op == 1:
            line = line[:pos] + ch + line[pos:]
        elif op == 2:
            line = line[:pos] + line[pos + 1:]
        elif op == 3:
            line = line[:pos] + ch + line[pos + 1:]
        text.append(line)
    p = tmp_path / "fuzz.log"
    p.write_bytes("\n".join(text).encode("utf-8", "surrogatepass") + b"\n")
    assert_same(p, **options)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet='ab"\\中 ', max_size=6)), max_size=8),
       st.integers(0, 4), st.integers(0, 4))
def test_holds_answers_like_the_substring_kernel(values, start, stop):
    """fastpath._holds (one byte search over a string array's values) = any(match_substring)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, pa.string())
    arr = arr.slice(min(start, len(arr)), max(0, len(arr) - start - stop))
    for ch in ("\\", '"'):
        want = bool(pc.any(pc.match_substring(arr, ch)).as_py())
        assert fastpath._holds(arr, ch) is want
        assert fastpath._holds(pa.chunked_array([arr, arr]), ch) is want


_TWO = st.one_of(st.sampled_from(["00", "09", "23", "24", "59", "60", "61", "99"]),
                 st.integers(0, 99).map(lambda v: f"{v:02d}"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["Jan", "Feb", "Apr", "Dec", "feb", "FEB"]), st.integers(0, 32),
                          _TWO, _TWO, _TWO, st.sampled_from(["2023", "2024", "0000", "1900"]),
                          st.sampled_from(["+0000", "-0130", "+2359", "+9999", "-0099"])),
                min_size=1, max_size=30))
def test_day_and_digits_times_same_as_reference(tmp_path, stamps):
    """Syslog and access-log times of a fixed year in UTC are read as day (by the reference) plus
    digits: impossible days, hours, minutes, seconds, leap days and odd zones agree line for line."""
    lines = []
    for mon, day, h, m, s, year, zone in stamps:
        d2 = f"{day:2d}" if day < 10 and day % 2 else f"{day:02d}"
        lines.append(f"{mon.title()} {d2} {h}:{m}:{s} srv app[1]: tick")
        lines.append(f'203.0.113.9 - - [{day:02d}/{mon}/{year}:{h}:{m}:{s} {zone}] "GET / HTTP/1.1" 200 5')
    p = tmp_path / "times.log"
    p.write_text("\n".join(lines) + "\n")
    assert_same(p, year=2024)
    assert_same(p, year=2023)


@pytest.mark.parametrize("items", [[], ["web_request"], ["a", "b"]])
def test_same_list_column(items):
    import pyarrow as pa

    for n in (1, 7):
        assert fastpath._same_list(items, n).equals(pa.repeat(pa.scalar(items, pa.list_(pa.string())), n))
    empty = fastpath._same_list(items, 0)
    assert len(empty) == 0 and empty.type == pa.list_(pa.string())


def test_fixed_year_utc_times_ask_the_reference_once_per_day(tmp_path, monkeypatch):
    """A block's syslog and access times (fixed year, UTC) cost one reference call per distinct
    day, not per distinct second."""
    from bench.logs import generate
    from forensics.logs import timeparse, webaccess

    p = tmp_path / "bench.log"
    generate(p, 1)
    calls = {"sec": 0, "date": 0}
    sec, date = timeparse._seconds_fields, webaccess._date_us

    def count_sec(text):
        calls["sec"] += 1
        return sec(text)

    def count_date(text):
        calls["date"] += 1
        return date(text)

    monkeypatch.setattr(fastpath, "_seconds_fields", count_sec)
    monkeypatch.setattr(webaccess, "_date_us", count_date)
    blk = fastpath.parse_block(p.read_bytes(), 1, 0, fastpath.BlockConfig("cd" * 32, "textlog@x", "UTC", 2024, None))
    assert blk.table.num_rows > 5000
    assert 0 < calls["sec"] <= 6 * 28 and 0 < calls["date"] <= 6 * 28  # months x days the generator uses


def test_a_worker_that_cannot_write_its_block_leaves_no_file(tmp_path, monkeypatch):
    """A failed write of a block's columns (a full /dev/shm) raises, and no half file stays behind."""
    from bench.logs import generate

    p = tmp_path / "bench.log"
    generate(p, 1)
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(batchpath, "_SHM", str(shm))

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(batchpath.pa.ipc, "new_file", full)
    cfg = fastpath.BlockConfig("cd" * 32, "textlog@x", "UTC", 2024, None)
    with pytest.raises(OSError):
        batchpath._work((str(p), 0, p.stat().st_size, 1, True, cfg, os.getpid()))
    assert list(shm.iterdir()) == []


def test_memory_files_of_killed_ingests_are_swept(tmp_path, monkeypatch):
    """A block file whose ingest was killed before mapping it is freed by the next parallel ingest;
    a live ingest's files and other files are left alone."""
    shm = tmp_path / "shm"
    shm.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = shm / f"cyberclaim-block-{dead.pid}-x1.arrow"
    live = shm / f"cyberclaim-block-{os.getpid()}-x2.arrow"
    other = shm / "PostgreSQL.123"
    for f in (orphan, live, other):
        f.write_bytes(b"x")
    monkeypatch.setattr(batchpath, "_SHM", str(shm))
    monkeypatch.setattr(batchpath, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(batchpath, "PARALLEL_MIN_CORES", 1)
    p = tmp_path / "a.log"
    p.write_text("Jan  1 00:00:00 h sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2\n" * 50)
    ctx = IngestContext(p, "ab" * 32, "text_log", p.name, {"year": 2023})
    assert list(batchpath.ingest_batches(TextLogIngestor(), ctx))
    assert batchpath.WORKER_CPU["seconds"] > 0  # the pool ran
    assert sorted(f.name for f in shm.iterdir()) == sorted([live.name, other.name])


# ---------------------------------------------------------------- alternating lines (issue #5)
def _alternating_file(path: Path, rnd: random.Random, lines: int = 1200) -> None:
    """Bulk lines (sshd, access) alternating with lines the line parser takes: GBK, binary, sshd
    and access lines of the same sources, sshd lines whose address is the bulk line's before,
    continuation lines, a log clearing; gaps of hours and a December/January turn."""
    pool = ["203.0.113.1", "203.0.113.2", "198.51.100.7"]
    months = ["Nov", "Dec", "Jan", "Feb"]
    out = bytearray()
    t = 0
    for i in range(lines):
        t += rnd.randint(1, 8) if rnd.random() > 0.01 else rnd.randint(5 * 3600, 9 * 3600)
        mon = months[min(3, i * 4 // lines)]
        day, hh, mm, ss = 1 + (t // 86400) % 28, (t // 3600) % 24, (t // 60) % 60, t % 60
        stamp = f"{mon} {day:2d} {hh:02d}:{mm:02d}:{ss:02d}"
        web = f'[{day:02d}/{mon}/2024:{hh:02d}:{mm:02d}:{ss:02d} +0000] "POST /wp-login.php HTTP/1.1" 401 12 "-"'
        ip = rnd.choice(pool)
        if i % 2 == 0:
            r = rnd.random()
            if r < 0.6:
                line = f"{stamp} srv sshd[{100 + i % 7}]: Failed password for {rnd.choice(['root', 'bob'])} from {ip} port 22 ssh2"
            elif r < 0.75:
                line = f"{stamp} srv sshd[{100 + i % 7}]: Accepted password for deploy from {ip} port 22 ssh2"
            else:
                line = f'{ip} - - {web} "Mozilla/5.0"'
            out += line.encode() + b"\n"
            continue
        k = rnd.randrange(8)
        if k == 0:
            out += f"{stamp} srv app: 中文 消息 {i}".encode("gbk")
        elif k == 1:
            out += bytes(rnd.randrange(256) for _ in range(30)).replace(b"\n", b"")
        elif k == 2:
            out += f"{stamp} srv sshd[{100 + i % 7}]: Failed password for invalid user from {ip} port 22 ssh2".encode()
        elif k == 3:
            out += f"{stamp} srv sshd[{100 + i % 7}]: Connection closed by {ip} port 22 [preauth]".encode()
        elif k == 4:
            out += f'{ip} - - {web} "sqlmap/1.5"'.encode()
        elif k == 5:
            out += b"    at com.example.Trace(Trace.java:12)"
        elif k == 6:  # its address from the bulk line before (sshd's connection memory)
            out += f"{stamp} srv sshd[{100 + (i - 1) % 7}]: Disconnecting: Too many authentication failures [preauth]".encode()
        else:
            out += f"{stamp} srv bash[5]: history -c".encode()
        out += b"\n"
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("block", [batchpath.BLOCK, 1 << 12])
@pytest.mark.parametrize("options", [{"year": 2023}, {"acquired_at": "2024-03-01T00:00:00Z"}])
def test_alternating_lines_same_records(tmp_path, monkeypatch, block, options):
    """Every other line for the line parser: the events (in order) and detections are the
    line-by-line reading's, also where the line parser's events and the vector rows share sources."""
    p = tmp_path / "alternating.log"
    _alternating_file(p, random.Random(5))
    monkeypatch.setattr(batchpath, "BLOCK", block)
    recs = assert_same(p, **options)
    assert any('"address_from"' in r["attributes"] for r in recs if isinstance(r, dict))
    rules = {json.loads(r["attributes"])["rule"] for r in recs if isinstance(r, dict) and r["data_type"] == "detection"}
    assert {"ssh_brute_force", "http_brute_force", "login_after_failures", "log_gap", "log_clearing"} <= rules


def test_alternating_lines_cost_per_block_not_per_alternation(tmp_path, monkeypatch):
    """The rules' set-wise pass, the set-wise update of sshd's connection memory and the event
    store's batches come once per block, however often bulk lines and line-parser lines alternate
    (they came once per alternation: ~1 ms each)."""
    from forensics.logs.vectorbursts import VectorBursts

    p = tmp_path / "alternating.log"
    _alternating_file(p, random.Random(6), lines=2000)
    calls = {"update": 0, "block": 0, "peers": 0}
    update, block, last_per_key = VectorBursts.update, batchpath._Merger.block, batchpath._last_per_key

    def count_update(self, *a):
        calls["update"] += 1
        return update(self, *a)

    def count_block(self, *a):
        calls["block"] += 1
        return block(self, *a)

    def count_peers(*a):
        calls["peers"] += 1
        return last_per_key(*a)

    monkeypatch.setattr(VectorBursts, "update", count_update)
    monkeypatch.setattr(batchpath, "_last_per_key", count_peers)
    monkeypatch.setattr(batchpath._Merger, "block", count_block)
    for size in (batchpath.BLOCK, 1 << 14):
        monkeypatch.setattr(batchpath, "BLOCK", size)
        calls.update(update=0, block=0, peers=0)
        recs = list(TextLogIngestor().ingest_batches(IngestContext(p, "cd" * 32, "text_log", p.name, {"year": 2023})))
        blocks = calls["block"]
        assert 1 <= blocks <= 10
        assert calls["update"] <= 2 * blocks
        assert calls["peers"] <= blocks  # sshd's connection memory, read after most bulk sshd lines
        # a batch per block table (the previous block's held-back row, the block's own rows); the
        # only events outside the batches are the end-of-file detections
        assert sum(isinstance(r, EventBatch) for r in recs) <= 2 * blocks + 1
        assert all(r.data_type == "detection" for r in recs if isinstance(r, Event))


def test_end_of_file_detections_come_as_batches_cut_like_the_stores(tmp_path, monkeypatch):
    """The detections Detector.finish raises reach the event store as batches built while the
    collector is off, cut every BATCH_ROWS rows as the store cuts events handed one by one."""
    from bench.logs import generate
    from case_store import eventstore

    p = tmp_path / "bench.log"
    generate(p, 1)
    monkeypatch.setattr(eventstore, "BATCH_ROWS", 7)
    ctx = IngestContext(p, "cd" * 32, "text_log", p.name, {"year": 2024})
    recs = list(TextLogIngestor().ingest_batches(ctx))
    assert not any(isinstance(r, Event) for r in recs)
    tail = [r.table.num_rows for r in recs if isinstance(r, EventBatch) and
            set(r.table.column("data_type").to_pylist()) == {"detection"}]
    assert len(tail) > 2 and all(n == 7 for n in tail[:-1]) and 1 <= tail[-1] <= 7
    assert_same(p, year=2024)


def test_blocks_number_lines_by_the_parses_counts(tmp_path):
    """One process parses each block before reading the next: the parse's line count numbers the
    next block's first line (the newlines are not counted twice)."""
    p = tmp_path / "x.log"
    p.write_bytes(b"a\n" * 100)
    counted: list[int] = []
    firsts = []
    for b in batchpath._blocks(str(p), 200, 50, counted):
        firsts.append(b[2])
        counted.append(1000)
    assert firsts == [1, 1001, 2001, 3001]
    assert [b[2] for b in batchpath._blocks(str(p), 200, 50)] == [1, 26, 51, 76]
