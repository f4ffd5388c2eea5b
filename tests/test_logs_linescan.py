"""The compiled field walk of the bulk text-log lines (forensics/logs/_linescan.c) reads exactly what
fastpath's regexes and splits read: the same lines, the same fields; a block parsed with it gives the
same table and hands back the same lines."""
from __future__ import annotations

import os
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import Phase, given, settings, strategies as st

from forensics.logs import fastpath
from forensics.logs.fastpath import BlockConfig, parse_block

if not os.environ.get("CI"):
    pytest.importorskip("forensics.logs._linescan")

SETTINGS = settings(max_examples=400, deadline=None)
CFG = BlockConfig("ab" * 32, "textlog@t", "UTC", 2024, None)

word = st.sampled_from(["a", "root", "web01", "sshd", "x:y", "[", "]", "--", "2024", "from", "port", "22", "ssh2",
                        "invalid user", "-", '"', "\\", "", " ", "1.2.3.4", "01.2.3.4", "[12]", ":", "Failed", "for"])
text = st.lists(word, max_size=12).map(" ".join)


def _lines(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    starts, ends, _ = fastpath.split_lines(block, True)
    return starts, ends


def _arrow_lines(lines: list[str]) -> pa.Array:
    return pa.array(lines, pa.string())


def _same(a: pa.Array, b: pa.Array) -> bool:
    return a.cast(pa.string()).equals(b.cast(pa.string()))


def _both(lines: list[str], compiled, reference):
    """The compiled walk's and the reference's (keep, fields) of `lines`, which must keep the same lines."""
    block = "".join(x + "\n" for x in lines).encode()
    starts, ends = _lines(block)
    keep_c, fc = compiled(block, starts, ends)
    keep_r, fr = reference(_arrow_lines(lines))
    differ = [x for x, a, b in zip(lines, keep_c, keep_r) if a != b]  # (pytest's diff of long lists is slow)
    assert not differ, differ[:5]
    return keep_r, fc, fr


def _check_syslog(lines: list[str]) -> None:
    keep_r, fc, fr = _both(lines, fastpath.syslog_fields_c, fastpath.syslog_fields)
    if not keep_r.any():
        return
    for k in fastpath.SYSLOG_FIELDS:
        assert _same(fc[k], fr[k]), (k, fc[k], fr[k])
    full = pc.binary_join_element_wise(fr["tagc"], " ", fr["msg"], "")
    assert _same(fc["full"], full)
    # the walk judges sshd's lines (program exactly "sshd") for SSHD_RE only, the others for the
    # netfilter and clearing words only (what _syslog asks of each): the flags it leaves are 0
    sshd = fastpath._mask(pc.equal(fr["prog"], "sshd"))
    netfilter = fastpath._mask(pc.or_kleene(pc.match_substring(fr["msg"], "audit("), pc.match_substring(fr["msg"], "IN=")))
    assert np.array_equal(fc["_netfilter"], netfilter & ~sshd)
    clearing = fastpath._mask(pc.match_substring_regex(full, fastpath._CLEARING_PREFILTER))
    assert np.array_equal(fc["_clearing"], clearing & ~sshd)
    sm0, sf = fastpath.sshd_fields(fr["msg"])  # (sf: over the rows of sm0)
    sm = sm0 & sshd
    assert np.array_equal(fc["_sshd"], sm)
    if sm.any():
        sel = pa.array(sm)
        for k in fastpath.SSHD_FIELDS:
            assert _same(fc[k].filter(sel), sf[k].filter(pa.array(sshd[sm0]))), k
            assert fc[k].filter(pa.array(~sm)).null_count == int((~sm).sum())


def _check_access(lines: list[str]) -> None:
    keep_r, fc, fr = _both(lines, fastpath.access_fields_c, fastpath.access_fields)
    if keep_r.any():
        for k in fastpath.ACCESS_FIELDS:
            assert _same(fc[k], fr[k]), (k, fc[k], fr[k])


# each part of a line: its everyday value first, then values around it the patterns must judge
SYSLOG_PARTS = [["Jan ", "Dec ", "Foo ", "jan ", "May ", "Ja ", "Jan"], [" 1", "01", "31", "x1", "1 ", "1"],
                [" ", "  ", ":", ""], ["00:00:00", "23:59:59", "12:6:00", "1a:00:00", "00:00:0"], [" ", "  ", ":", ""],
                ["web01", "10.0.0.1", "2024", "--", "h:x", "[h]", "h]", "ff", "", "a" * 40, "h\\x", 'h"'],
                [" ", "  ", ""],
                ["sshd[12]: ", "CRON[1]:", "kernel: ", "1prog: ", "prog 1.4.1: ", "[prog] ", "a[b]: ", "p[]: ",
                 "p[12345678901]: ", "p[1234567890]: ", "p[1] : ", "p[1]:  ", "p" * 96 + ": ", "p" * 97 + ": ",
                 "sshd: ", "sshd[7]:", "-p: ", "p[1]x: ", "p:: ", "p[1]]: ", "~p: ", ":p: "],
                ["msg body", "", " ", "x", " x ", "x ", "a:b [c] \\ \"q\"", "Failed password for x from 1.2.3.4 port 22 ssh2",
                 "type=1 audit(1.2:3)", "IN=eth0 OUT=", "in=eth0", "Audit(", "HISTORY -c", "rm /Var/Log/x", "shre",
                 "systemctl stop x", "SeRvIcE", "journalctl", "wevtutil cl", "Clear-EventLog", "auditctl -D", "his"]]
SSHD_PARTS = [["Failed", "Accepted", "failed", "Failed ", "Accepted:", "Fail"], [" "],
              ["password", "publickey", "pass:word", "", "keyboard-interactive/pam", "a\\b"],
              [" for ", " for  ", " for invalid user ", " for illegal user ", " for invalid user", " from ", " fr ",
               " For ", "for "],
              ["bob", "", "a b", "x:y", "from", "a from 1.2.3.4 port 1 ssh2", 'q"x'],
              [" from ", "  from ", " from  ", " frm ", "from "],
              ["1.2.3.4", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "::1", "", "0.0.0.0",
               "1.2.3.04", "249.250.199.9", "1..2.3"],
              [" port ", " port  ", " Port ", " port"],
              ["22", "65535", "123456", "x", "", "00000", "2 2"], [" ssh2", " ssh2 ", " ssh2x", " ssh1", "", "ssh2"]]
ACCESS_PARTS = [["1.2.3.4", "::1", "256.1.1.1", "1.2.3.4:80", "h", "0.0.0.0", "01.2.3.4"], [" "],
                ["-", "", "x y", "[a]", '"'], [" "], ["-", "bob", "a b", "", '"q"'], [" ["],
                ["05/Jan/2024:03:00:01 +0000", "5/Jan/2024:03:00:01 +0000", "05/J4n/2024:03:00:01 +0000",
                 "05/Jan/2024:03:00:01", "05/Jan/2024:03:00:01.5 -0130", "05/jAN/2024:03:00:01 -0130",
                 "05/Jan/2024:03:00:01 *0000", "05-Jan/2024:03:00:01 +0000", "05/Jan/2024:03:00:01 +00001"],
                ['] "'], ["GET / HTTP/1.1", "", "GET /a\\b HTTP/1.0", "GET /\"", "x y z"], ['" ', '"  ', '"'],
                ["200", "-", "2000", "20", "--", "2x0"], [" ", "  ", ""], ["512", "-", "5x", "", "-5", "0", "1-"],
                ["", " ", "  ", ' "-" "Mozilla/5.0"', ' "ref" "ua" extra ', ' "a" "b', ' "only"', " trailing ",
                 ' "" ""', ' "a""b"', ' "a" "b"c"d', '  "a" "b"', " x\"y", ' "a" "b"  ', ' "a"  "b"', ' "a" "b" "c"',
                 ' "a\\" "b"', ' "', 'x']]


def _variants(parts: list[list[str]], seed: int, mixed: int = 1500) -> list[str]:
    """The everyday line, every line with one part changed, and `mixed` lines with several changed."""
    good = [p[0] for p in parts]
    out = ["".join(good)]
    for i, p in enumerate(parts):
        for v in p[1:]:
            out.append("".join(good[:i] + [v] + good[i + 1:]))
    rnd = random.Random(seed)
    for _ in range(mixed):
        line = list(good)
        for i in rnd.sample(range(len(parts)), rnd.randint(2, 4)):
            line[i] = rnd.choice(parts[i])
        out.append("".join(line))
    return out


def test_syslog_walk_reads_what_the_regex_and_splits_read():
    _check_syslog(_variants(SYSLOG_PARTS, 1))


def test_sshd_walk_reads_what_the_regex_and_splits_read():
    head = "Mar  3 10:00:00 h sshd[9]: "
    _check_syslog([head + x for x in _variants(SSHD_PARTS, 2)])


def test_access_walk_reads_what_the_regex_and_splits_read():
    _check_access(_variants(ACCESS_PARTS, 3))


@SETTINGS
@given(st.lists(st.sampled_from([0, 1, 2]), min_size=1, max_size=3), text, st.integers(0, 2**16))
def test_generated_lines_read_alike(kinds, body, seed):
    rnd = random.Random(seed)
    lines = []
    for k in kinds:
        parts = (SYSLOG_PARTS, SSHD_PARTS, ACCESS_PARTS)[k]
        line = "".join(rnd.choice(p) if rnd.random() < 0.3 else p[0] for p in parts)
        cut = rnd.randrange(len(line) + 1)
        lines.append(line[:cut] + (body if rnd.random() < 0.5 else "") + line[cut:])
    syslog = [x for x, k in zip(lines, kinds) if k < 2]
    sshd = [("Mar  3 10:00:00 h sshd[9]: " + x) for x, k in zip(lines, kinds) if k == 1]
    if syslog or sshd:
        _check_syslog(syslog + sshd)
    access = [x for x, k in zip(lines, kinds) if k == 2]
    if access:
        _check_access(access)


def _hostile_block(rnd: random.Random) -> bytes:
    """Everyday lines with damage between them: binary garbage, GBK and Latin-1 text, a line over
    1 MB, odd spacing, NULs and CRs, and no newline at the end."""
    good = [b"Jan  5 10:00:00 web01 sshd[77]: Failed password for invalid user bob from 1.2.3.4 port 2222 ssh2",
            b"Jan  5 10:00:01 web01 sshd[78]: Accepted publickey for root from 10.0.0.1 port 22 ssh2",
            b"Jan  5 10:00:02 web01 CRON[1]: (root) CMD (run-parts /etc/cron.hourly)",
            b'1.2.3.4 - - [05/Jan/2024:10:00:03 +0000] "GET /a HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
            b'1.2.3.4 - alice [05/Jan/2024:10:00:04 +0000] "POST /login HTTP/1.1" 401 - "r" "ua" extra',
            b"Jan  5 10:00:05 web01 kernel: a \\ backslash and a \" quote",
            b"Jan  5 10:00:16 web01 bash: history -c", b"Jan  5 10:00:17 web01 app: rm -rf /VAR/LOG/x",
            b"Jan  5 10:00:18 web01 kernel: IN=eth0 OUT= SRC=1.2.3.4", b"Jan  5 10:00:19 web01 service: ok"]
    bad = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))),
           "Jan  5 10:00:06 web01 sshd[7]: Failed password for 用户 from 1.2.3.4 port 22 ssh2".encode("gbk"),
           "Jan  5 10:00:07 web01 app: caf\xe9".encode("latin-1"),
           b"Jan  5 10:00:08  web01 sshd[7]: Failed password for x from 1.2.3.4 port 22 ssh2",
           b"Jan  5 10:00:09 web01 sshd[7]:  Failed password for x from 1.2.3.4 port 22 ssh2",
           b"Jan  5 10:00:10 web01 sshd[7]: Failed password for x from 1.2.3.4 port 22 ssh2\r",
           b'1.2.3.4 - - [05/Jan/2024:10:00:11 +0000] "GET /\x00 HTTP/1.1" 200 1',
           b'1.2.3.4  - - [05/Jan/2024:10:00:12 +0000] "GET / HTTP/1.1" 200 1',
           b'1.2.3.4 - - [05/Jan/2024:10:00:13 +0000] "GET / HTTP/1.1" 200 1 "a" "b',
           b"Jan  5 10:00:14 web01 sshd[7]: Failed password for x from 1.2.3.4 port 22 ssh2\tx",
           b"", b" ", b"Jan", b"1"]
    lines = [rnd.choice(good) if rnd.random() < 0.6 else rnd.choice(bad) for _ in range(rnd.randrange(20, 120))]
    if rnd.random() < 0.2:
        lines.insert(rnd.randrange(len(lines)), b"Jan  5 10:00:15 web01 app: " + b"x" * (1 << 20))
    block = b"\n".join(lines)
    return block if rnd.random() < 0.5 else block + b"\n"


# no shrinking: a block of a megabyte line parsed twice per step would take minutes; the seed is the example
@settings(max_examples=60, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(st.integers(0, 2**32 - 1), st.sampled_from([2024, None]))
def test_hostile_blocks_give_the_same_table_and_fallback_lines_both_ways(seed, year):
    block = _hostile_block(random.Random(seed))
    cfg = BlockConfig("ab" * 32, "textlog@t", "UTC", year, 1_704_067_200_000_000)
    c = parse_block(block, 1, 100, cfg, True, {}, compiled=True)
    r = parse_block(block, 1, 100, cfg, True, {}, compiled=False)
    assert c.fallback == r.fallback and c.lines == r.lines
    assert (c.table is None and r.table is None) or c.table.equals(r.table)


def test_the_compiled_walk_runs_in_ci():
    if os.environ.get("CI"):
        assert fastpath._linescan is not None


@pytest.mark.parametrize("args", [(2, b"x", b"", b""), (1, b"x", np.array([0], np.int64).tobytes(),
                                                         np.array([5], np.int64).tobytes()),
                                  (1, b"xy", np.array([2], np.int64).tobytes(), np.array([1], np.int64).tobytes())])
def test_scan_refuses_lines_outside_the_block(args):
    with pytest.raises(ValueError):
        fastpath._linescan.scan(*args)


def test_gather_refuses_spans_outside_the_block():
    with pytest.raises(ValueError):
        fastpath._linescan.gather(b"abc", np.array([0, 9], np.int64).tobytes(), 2, 0, 1)
    with pytest.raises(ValueError):
        fastpath._linescan.gather(b"abc", np.array([0, 2], np.int64).tobytes(), 2, 0, 2)
    offs, data, valid = fastpath._linescan.gather(b"abc", np.array([1, 3, -1, -1], np.int64).tobytes(), 2, 0, 2)
    assert data == b"bc" and np.frombuffer(offs, np.int32).tolist() == [0, 2, 2] and valid == b"\x01"
    # a span from one column to another (the tag and message of a syslog line: columns 2 and 9)
    assert fastpath._linescan.gather(b"abc", np.array([0, 1, 3], np.int64).tobytes(), 3, 0, 1, 2)[1] == b"abc"
    with pytest.raises(ValueError):  # an end column before the start column, or past the row
        fastpath._linescan.gather(b"abc", np.array([0, 1, 3], np.int64).tobytes(), 3, 1, 1, 0)
    with pytest.raises(ValueError):
        fastpath._linescan.gather(b"abc", np.array([0, 1, 3], np.int64).tobytes(), 3, 0, 1, 3)


def test_scan_gives_the_spans_of_the_lines_it_reads_only():
    block = b"x\n1.2.3.4 - - [05/Jan/2024:10:00:03 +0000] \"GET / HTTP/1.1\" 200 5\ny\n"
    starts, ends = _lines(block)
    ok, spans = fastpath._linescan.scan(3, block, starts, ends)
    assert list(ok) == [0, 1, 0] and len(spans) == 18 * 8


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**63, 2**63 - 1), st.integers(-2**63, 2**63 - 1)), max_size=50))
def test_locators_are_the_text_arrow_joins(rows):
    line_no = np.array([r[0] for r in rows], dtype=np.int64)
    offsets = np.array([r[1] for r in rows], dtype=np.int64)
    assert fastpath._locators(line_no, offsets, True).equals(fastpath._locators(line_no, offsets, False))


def test_locators_refuse_columns_of_two_lengths():
    with pytest.raises(ValueError):
        fastpath._linescan.locators(np.zeros(2, np.int64).tobytes(), np.zeros(3, np.int64).tobytes())


_PIECES = [b"Jan  5 10:00:00 h sshd[1]: x", b'1.2.3.4 - - [05/Jan/2024:10:00:03 +0000] "GET / HTTP/1.1" 200 1',
           b"a", b"Z", b"0", b" ", b"~", b"\x7f", b"\x1f", b"\t", b"\r", b"\x80", b"\xe4\xb8\xad", b"\x00", b"\n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.booleans())
def test_compiled_line_classes_are_the_numpy_ones(pieces, final):
    """Line bounds and classes (syslog / access / other / for the line parser) alike both ways, for
    any mix of printable text, control bytes, non-ASCII, empty lines and a tail without a newline."""
    block = b"".join(pieces)
    a, b = fastpath.line_classes(block, final), fastpath.line_classes_c(block, final)
    assert [x.tolist() for x in a[:3]] == [x.tolist() for x in b[:3]] and bool(a[3]) == bool(b[3])


def test_over_long_lines_are_left_to_the_line_parser_both_ways():
    block = b"Jan  5 10:00:00 h app: " + b"x" * (1 << 20) + b"\nJan  5 10:00:01 h app: y\n"
    for classes in (fastpath.line_classes(block, True)[2], fastpath.line_classes_c(block, True)[2]):
        assert classes.tolist() == [0, 1]


# strings of every length the copies of _linescan treat apart (0, 1-3, 4-7, 8-16, 17-32, longer), with nulls
_cell = st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_cell, min_size=1, max_size=12), min_size=2, max_size=4), st.integers(0, 2**32 - 1),
       st.integers(0, 2))
def test_runs_interleaved_in_line_order_are_the_take_of_the_concatenated_table(cols, seed, cut):
    """_in_line_order's compiled merge (_linescan.interleave for the string columns and the strings of
    list columns) gives the table the twin's take gives, for parts with nulls, sliced arrays, empty
    lists and any order of their line numbers."""
    rnd = random.Random(seed)
    lines = rnd.sample(range(10_000), sum(len(c) for c in cols))
    parts, at = [], 0
    for c in cols:
        run = sorted(lines[at:at + len(c)])
        at += len(c)
        text = pa.array([None] * cut + c, pa.string()).slice(cut)  # an offset into its buffers
        tags = pa.array([[] if x is None else x.split(" ")[:3] for x in [None] * cut + c], pa.list_(pa.string()))
        parts.append(pa.table({"text": text, "n": pa.array([None if x is None else len(x) for x in c], pa.int64()),
                               "tags": tags.slice(cut), "_line": pa.array(run, pa.int64())}))
    t_c, rows_c = fastpath._in_line_order(parts, True)
    t_r, rows_r = fastpath._in_line_order(parts, False)
    assert t_c.equals(t_r) and rows_c.tolist() == rows_r.tolist() == sorted(lines)


def test_interleave_refuses_sources_and_buffers_that_do_not_match():
    offs = np.array([0, 1, 2], np.int32).tobytes()
    with pytest.raises(ValueError):  # a source naming a part that is not there
        fastpath._linescan.interleave(bytes([0, 1]), [(None, 0, offs, b"ab")])
    with pytest.raises(ValueError):  # more rows taken from the part than its offsets hold
        fastpath._linescan.interleave(bytes([0, 0, 0]), [(None, 0, offs, b"ab")])
    with pytest.raises(ValueError):  # offsets past the data
        fastpath._linescan.interleave(bytes([0, 0]), [(None, 0, offs, b"a")])
    offs_, data, valid = fastpath._linescan.interleave(bytes([1, 0, 1]), [(None, 0, offs, b"ab"),
                                                                          (b"\x02", 0, offs, b"cd")])
    assert data == b"ad" and np.frombuffer(offs_, np.int32).tolist() == [0, 0, 1, 2] and valid == b"\x06"


def _same_rows_both_ways(block: bytes, year, kind: int, at_least: int) -> None:
    """The compiled walk's table and fallback lines are the twin's, with more than `at_least` rows of `kind`."""
    cfg = BlockConfig("ab" * 32, "textlog@t", "UTC", year, 1_704_067_200_000_000)
    c = parse_block(block, 1, 100, cfg, True, {}, compiled=True)
    r = parse_block(block, 1, 100, cfg, True, {}, compiled=False)
    assert c.fallback == r.fallback and c.table.equals(r.table)
    assert pc.sum(pc.equal(c.table.column("_kind"), kind)).as_py() > at_least


@pytest.mark.parametrize("year", [2024, None])
def test_syslog_lines_give_the_same_rows_both_ways(year):
    """The plain syslog rows (their fields gathered from the walk's spans for the rows kept only) and
    the lines sent back to the line parser are the twin's, for every variant of a syslog line."""
    block = "\n".join(_variants(SYSLOG_PARTS, 5)).encode() + b"\n"
    _same_rows_both_ways(block, year, fastpath.KIND_SYSLOG, 10)


@pytest.mark.parametrize("year", [2024, None])
def test_sshd_lines_give_the_same_rows_both_ways(year):
    """sshd's rows as _linescan.sshd writes them (decisions, message, user; the other fields gathered
    from the walk's spans) are the twin's (_sshd's Arrow passes over the regexes' fields), for every
    variant of the sshd message: invalid/illegal users, an empty user, publickey, odd spacing."""
    heads = ["Mar  3 10:00:00 h sshd[9]: ", "Mar  3 10:00:01 h sshd: ", "Dec 31 23:59:59 host-2 sshd[12345]: "]
    lines = [heads[i % 3] + x for i, x in enumerate(_variants(SSHD_PARTS, 4))]
    lines += [heads[0] + f"Failed {m} for {u}{user} from 1.2.3.4 port 22 ssh2" for m in ("password", "publickey")
              for u in ("", "invalid user ", "illegal user ", "invalid user", "Invalid user ") for user in ("", "bob")]
    lines += [heads[1] + "Accepted publickey for invalid user bob from 1.2.3.4 port 22 ssh2", "x"]
    block = "\n".join(lines).encode() + b"\n"
    _same_rows_both_ways(block, year, fastpath.KIND_SSHD, 100)


def test_sshd_reads_codes_message_and_user_from_the_spans():
    head = b"Mar  3 10:00:00 h sshd[9]: "
    msgs = [b"Failed password for invalid user bob from 1.2.3.4 port 22 ssh2",
            b"Failed password for invalid user from 1.2.3.4 port 22 ssh2",
            b"Failed publickey for root from 1.2.3.4 port 22 ssh2",
            b"Accepted publickey for  from 10.0.0.1 port 22 ssh2"]
    block = b"".join(head + m + b"\n" for m in msgs)
    starts, ends = _lines(block)
    ok, spans = fastpath._linescan.scan(1, block, starts, ends)
    codes, mo, md, uo, ud, uv = fastpath._linescan.sshd(block, spans)
    assert list(codes) == [4, 3, 2, 1]  # unknown user's failure, declined, rejected key, accepted
    assert md == (b"SSH password authentication failed for bob from 1.2.3.4"
                  b"SSH public key rejected for root from 1.2.3.4SSH login accepted for  from 10.0.0.1 (publickey)")
    assert np.frombuffer(mo, np.int32).tolist() == [0, 55, 100, 149] and ud == b"bobroot" and uv == b"\x03"
    with pytest.raises(ValueError):  # not whole rows of 20 spans
        fastpath._linescan.sshd(block, spans[:-8])
    row = np.frombuffer(spans, np.int64)[:20].copy()
    for col, value in ((10, -1), (17, len(block) + 1), (14, row[15] + 1)):  # no sshd message, past the block, backwards
        bad = row.copy()
        bad[col] = value
        with pytest.raises(ValueError):
            fastpath._linescan.sshd(block, bad.tobytes())


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=60), st.integers(1, 4), st.integers(0, 8), st.integers(0, 2**32 - 1))
def test_gathers_is_gather_column_by_column(block, width, n, seed):
    """_linescan.gathers (many columns in one walk) gives each column's gather, nulls (a start of -1)
    and shifted spans (the syslog time: the host's start shifted back) included."""
    rnd = random.Random(seed)
    spans = []
    for _ in range(n * width):
        a = rnd.randrange(-1, len(block) + 1)
        spans.append(a)
    sp = np.array(spans, np.int64).reshape(n, width) if n else np.zeros((0, width), np.int64)
    for i in range(n):  # each row's spans ascending where not null, so [col, col + k) is a span
        row = sorted(x for x in sp[i] if x >= 0)
        sp[i, [j for j in range(width) if sp[i, j] >= 0]] = row
    raw = sp.tobytes()
    columns = [(c, e, 0, 0) for c in range(width) for e in range(c + 1, width)]
    if not columns:
        return
    try:
        want = [fastpath._linescan.gather(block, raw, width, c, n, e) for c, e, _, _ in columns]
    except ValueError:  # a null end after a valid start: both refuse
        with pytest.raises(ValueError):
            fastpath._linescan.gathers(block, raw, width, n, columns)
        return
    assert list(fastpath._linescan.gathers(block, raw, width, n, columns)) == want
    starts = sp[:, 0].tolist() if n else []
    got = lambda: fastpath._linescan.gathers(block, raw, width, n, [(0, 0, -1, 1)])[0]  # noqa: E731
    if any(a >= 0 and not 1 <= a <= len(block) - 1 for a in starts):
        with pytest.raises(ValueError):
            got()
        return
    offs, data, valid = got()
    texts = [None if a < 0 else block[a - 1:a + 1] for a in starts]
    assert data == b"".join(t for t in texts if t is not None)
    assert valid is None if None not in texts else [bool(valid[i >> 3] >> (i & 7) & 1) for i in range(n)] == [
        t is not None for t in texts]


def test_gathers_refuses_columns_and_spans_outside():
    spans = np.array([0, 2], np.int64).tobytes()
    with pytest.raises(ValueError):
        fastpath._linescan.gathers(b"abc", spans, 2, 2, [(0, 1, 0, 0)])  # fewer spans than rows
    with pytest.raises(ValueError):
        fastpath._linescan.gathers(b"abc", spans, 2, 1, [(0, 2, 0, 0)])  # a column past the row
    with pytest.raises(ValueError):
        fastpath._linescan.gathers(b"abc", spans, 2, 1, [(0, 1, 0, 2)])  # shifted past the block
    with pytest.raises(ValueError):
        fastpath._linescan.gathers(b"abc", spans, 2, 1, [(0, 1, 3, 0)])  # shifted backwards
    assert fastpath._linescan.gathers(b"abc", spans, 2, 1, [(0, 1, 0, 0), (0, 1, 1, 1)]) == (
        (np.array([0, 2], np.int32).tobytes(), b"ab", None), (np.array([0, 2], np.int32).tobytes(), b"bc", None))


@pytest.mark.parametrize("text", ["", "x", "Event Time", "ab" * 32, "ü"])
@pytest.mark.parametrize("n", [0, 1, 7])
def test_constant_columns_are_pa_repeat(text, n):
    """_constant (offsets and bytes written at once) is the array pa.repeat of the string gives."""
    a = fastpath._constant(text, n)
    a.validate(full=True)
    assert a.equals(pa.repeat(pa.scalar(text), n)) and a.type == pa.string()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.lists(_cell, min_size=3, max_size=3), min_size=1, max_size=3), min_size=1, max_size=3),
       st.integers(0, 2**32 - 1))
def test_interleaves_is_interleave_column_by_column(columns, seed):
    """_linescan.interleaves (all string columns in one walk of the rows) gives each column's interleave."""
    rnd = random.Random(seed)
    k = min(len(c) for c in columns)  # parts per column
    source = bytes(rnd.randrange(k) for _ in range(rnd.randrange(4)))
    cols = []
    for col in columns:
        parts = []
        for cells in col[:k]:
            a = pa.array(cells, pa.string())
            validity, offs, data = a.buffers()
            parts.append((validity if a.null_count else None, 0, offs, data if data is not None else b""))
        cols.append(parts)
    try:
        want = [fastpath._linescan.interleave(source, parts) for parts in cols]
    except ValueError:  # a part with fewer rows than the source takes from it: both refuse
        with pytest.raises(ValueError):
            fastpath._linescan.interleaves(source, cols)
        return
    assert list(fastpath._linescan.interleaves(source, cols)) == want


def test_gathers_nulls_a_dash_or_an_empty_text_where_asked():
    block = b"-|x|--|"
    spans = np.array([[0, 1], [2, 3], [4, 6], [7, 7]], np.int64).tobytes()  # "-", "x", "--", ""
    plain, dash, empty, both = fastpath._linescan.gathers(block, spans, 2, 4, [(0, 1, 0, 0), (0, 1, 0, 0, 1),
                                                                                (0, 1, 0, 0, 2), (0, 1, 0, 0, 3)])
    def texts(col):
        offs, data, valid = col
        a = pa.Array.from_buffers(pa.string(), 4, [None if valid is None else pa.py_buffer(valid),
                                                   pa.py_buffer(offs), pa.py_buffer(data)])
        return a.to_pylist()
    assert texts(plain) == ["-", "x", "--", ""] and texts(dash) == [None, "x", "--", ""]
    assert texts(empty) == ["-", "x", "--", None] and texts(both) == [None, "x", "--", None]


@pytest.mark.parametrize("year", [2024, None])
def test_access_lines_give_the_same_rows_both_ways(year):
    """Access rows from the walk (user, agent, referer, status, size and extra gathered with "-" or an
    empty extra as null) are the twin's, for every variant of an access line."""
    block = "\n".join(_variants(ACCESS_PARTS, 6)).encode() + b"\n"
    _same_rows_both_ways(block, year, fastpath.KIND_ACCESS, 100)


def test_more_runs_than_a_byte_numbers_are_merged_by_the_twin():
    """_in_line_order numbers the runs in a byte for interleave; past 255 runs it takes the twin's way."""
    parts = [pa.table({"t": pa.array([str(i)]), "_line": pa.array([300 - i], pa.int64())}) for i in range(300)]
    t, rows = fastpath._in_line_order(parts, True)
    assert t.column("t").to_pylist() == [str(i) for i in range(299, -1, -1)] and rows.tolist() == list(range(1, 301))
