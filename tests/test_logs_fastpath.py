"""The string fast paths of the text-log parsers read exactly what their regexes read.

Each fast path either returns what the reference regex (still in the module,
still used for every other shape) would give, or declines (None). These
properties generate lines around the everyday shapes — with the odd spacing,
colons, quotes, versions and injections real logs contain — and compare.
"""
from __future__ import annotations

import io
import random
from pathlib import Path

from hypothesis import given, settings, strategies as st

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.textlog import TextLogIngestor
from forensics.logs import authlog, syslog3164, webaccess
from forensics.logs.common import clean_ip, first_chars
from forensics.logs.detections import CLEARING, is_clearing
from forensics.logs.lines import iter_raw_lines
from forensics.logs.timeparse import Clock

SETTINGS = settings(max_examples=300, deadline=None)

word = st.sampled_from(["a", "root", "web01", "sshd", "CRON", "x:y", "[", "]", "--", "1.4.1", "2024", "from", "port",
                        "22", "ssh2", "invalid user", "illegal", "-", '"', "\t", "", " ", "用户", "ff", "é", "1.2.3.4",
                        "::1", "[12]", "sshd[12]:", ":", "Failed", "Accepted", "for", "password", "publickey"])
text = st.lists(word, max_size=14).map(" ".join)


def _split_tag_regex(rest: str):
    return syslog3164.split_tag(rest)


@SETTINGS
@given(st.lists(word, max_size=10).map(lambda ws: " ".join(ws)), st.sampled_from(["", " ", "  ", ": ", "[77]: ", ":x"]))
def test_split_tag_fast_agrees_with_regex(head, tail):
    rest = head + tail + "msg body "
    fast = syslog3164._split_tag_fast(rest)
    if fast is not None:
        host, prog, pid, msg = fast
        assert (host, prog, pid, msg.strip()) == (lambda r: (r[0], r[1], r[2], r[3].strip()))(_split_tag_regex(rest))


@SETTINGS
@given(st.sampled_from(["Jan", "Feb", "Dec", "Foo", "jan"]), st.sampled_from([" 1", "01", "31", "30", " 9", "1 "]),
       st.sampled_from(["00:00:00", "23:59:59", "12:60:00", "24:00:00"]), st.sampled_from([" ", ".5 ", " 2023 ", ": ", "  "]),
       st.sampled_from(["web01", "10.0.0.1", "2024", "--", "h:x", "[h]", "h\tx", "ff", ""]), st.sampled_from([" ", "  ", ""]),
       st.sampled_from(["sshd[12]: ", "CRON[1]:", "kernel: ", "prog 1.4.1: ", "[prog] ", "a[b]: ", "x:y ", "", "p[]: "]),
       text, st.sampled_from([2023, None]))
def test_syslog_fast_path_agrees_with_regex(mon, day, hms, sep, host, sp, tag, body, year):
    line = f"{mon} {day} {hms}{sep}{host}{sp}{tag}{body}"
    opts = {"year": year} if year else {"acquired_at": "2024-03-01"}
    fast_clock, ref_clock = Clock.from_options(opts), Clock.from_options(opts)
    fast = syslog3164._parse_fast(line, fast_clock)
    if fast is not None:
        saved = syslog3164._parse_fast
        syslog3164._parse_fast = lambda line, clock: None
        try:
            assert fast == syslog3164.parse(line, ref_clock)
        finally:
            syslog3164._parse_fast = saved


@SETTINGS
@given(st.sampled_from(["Failed", "Accepted"]), st.sampled_from(["password", "publickey", "pass\tword", ""]),
       st.sampled_from(["for ", "for  ", "for invalid user ", "for illegal user ", "for invalid user", "from "]),
       text, st.sampled_from(["1.2.3.4", "from", "::1", "host name", "", "[::1]"]),
       st.sampled_from([" port 22 ssh2", " port 22", " port x ssh2", " ssh2", " port 22 ssh2: RSA SHA256:ab", " port 22 ssh2 "]))
def test_password_line_agrees_with_regex(verb, method, prefix, user, host, tail):
    msg = f"{verb} {method} {prefix}{user} from {host}{tail}"
    fast = authlog._password_line(msg)
    if fast is not None:
        m = authlog._SSHD[0 if verb == "Accepted" else 1][0].match(msg)
        assert m is not None and fast == m.groupdict()


@SETTINGS
@given(st.sampled_from(["1.2.3.4", "::1", "host:80 1.2.3.4", "a\tb", "h"]), st.sampled_from(["-", "", "x y"]),
       st.sampled_from(["-", "bob", "a b", ""]),
       st.sampled_from(["05/Jan/2024:03:00:01 +0000", "5/Jan/2024:03:00:01 +0000", "31/Feb/2024:03:00:01 +0000",
                        "05/Foo/2024:03:00:01 +0000", "05/Jan/2024:03:00:01", "05/Jan/2024:03:00:01.5 -0130"]),
       text.map(lambda t: f"GET /{t} HTTP/1.1"), st.sampled_from(["200", "-", "2000", "20"]),
       st.sampled_from(["512", "-", "5x", ""]),
       st.sampled_from(["", ' "-" "Mozilla/5.0"', ' "ref" "ua" extra', ' "a" "b', ' "only"', " trailing", ' "" ""']))
def test_access_fast_path_agrees_with_regex(client, ident, user, date, request, status, size, tail):
    line = f'{client} {ident} {user} [{date}] "{request}" {status} {size}{tail}'.rstrip("\n")
    fast = webaccess._fields_fast(line)
    if fast is not None:
        saved = webaccess._fields_fast
        webaccess._fields_fast = lambda line: None
        try:
            assert fast == webaccess._fields(line, Clock())
        finally:
            webaccess._fields_fast = saved


@SETTINGS
@given(st.lists(st.sampled_from(["rm -rf /var/log/x", "history -c", "HISTFILE=/dev/null", "cat x", "ls", "Service",
                                 "SYSTEMCTL STOP rsyslog", "wevtutil cl System", "ſhred /var/log", "echo > /VAR/LOG/a",
                                 "unset HISTFILE", "auditctl -D", "ok", "journalctl --vacuum-size=1"]), max_size=4).map("; ".join))
def test_clearing_prefilter_agrees_with_regex(cmd):
    assert is_clearing(cmd) == (CLEARING.search(cmd) is not None)


def test_first_chars_never_skips_a_pattern_that_matches():
    rnd = random.Random(7)
    for rx, _, _ in authlog._SSHD:
        chars = first_chars(rx)
        assert chars, rx.pattern  # every sshd pattern starts with a known character
    samples = ["error: PAM: Authentication failure for x from h", "fatal: Unable to negotiate with 1.2.3.4 port 2: x",
               "pam_unix(sshd:auth): authentication failure; rhost=1.2.3.4", "Received disconnect from 1.2.3.4 port 5:11: bye [preauth]"]
    for msg in samples + ["".join(rnd.choice("aeFRD :") for _ in range(12)) for _ in range(200)]:
        full = next((k for rx, k, _ in authlog._SSHD if rx.match(msg)), None)
        indexed = next((k for rx, k, _ in authlog._SSHD_BY_CHAR.get(msg[:1], authlog._SSHD_ANY) if rx.match(msg)), None)
        assert full == indexed


@SETTINGS
@given(st.sampled_from(["1.2.3.4", "01.2.3.4", "256.0.0.1", "0.0.0.0", "1.2.3", "1.2.3.4.5", "::ffff:1.2.3.4", "１.2.3.4", "-"]))
def test_clean_ip_fast_path(t):
    import ipaddress
    try:
        expect = str(ipaddress.ip_address(t.strip("[]()")))
    except ValueError:
        expect = None
    if t.startswith("::ffff:"):
        expect = t[7:]
    assert clean_ip(t) == expect


@SETTINGS
@given(st.binary(max_size=60).map(lambda b: b.replace(b"a", b"\n")), st.integers(1, 8), st.integers(1, 10))
def test_line_splitter_keeps_offsets(data, max_line, block):
    lines = list(iter_raw_lines(io.BytesIO(data), max_line, block))
    assert [r.number for r in lines] == list(range(1, len(lines) + 1))
    for r in lines:
        if not r.too_long:
            raw = data[r.offset:r.offset + len(r.data)]
            assert raw == r.data
        end = data.find(b"\n", r.offset)
        assert r.complete == (end >= 0)
        size = (end if end >= 0 else len(data)) - r.offset
        assert r.too_long == (size if size > max_line else 0)


def test_cached_second_conversion_matches_uncached_across_new_year(tmp_path):
    # the same text under two inferred years, and the Dec -> Jan rollover of a fixed year
    p = tmp_path / "x.log"
    p.write_text("Dec 31 23:59:59 h a: 1\nJan  1 00:00:00 h a: 2\nDec 31 23:59:59 h a: 3\nJan  1 00:00:00 h a: 4\n")
    evs = [r for r in TextLogIngestor().ingest(IngestContext(p, "0" * 64, "text_log", "x", {"year": 2022}))
           if isinstance(r, Event) and r.data_type != "detection"]
    assert [e.attributes.get("year_inferred") for e in evs] == [2022, 2023, 2023, 2024]
    ref = Clock(year=2022)
    assert [e.timestamp for e in evs] == [ref.yearless(12, 31, 23, 59, 59)[0], ref.yearless(1, 1, 0, 0, 0)[0],
                                         ref.yearless(12, 31, 23, 59, 59)[0], ref.yearless(1, 1, 0, 0, 0)[0]]


def _records(path: Path, **options) -> list:
    out = []
    for r in TextLogIngestor().ingest(IngestContext(path, "ab" * 32, "text_log", path.name, options)):
        out.append(r.to_row() if isinstance(r, Event) else r)
    return out


def test_fast_paths_change_nothing_on_the_corpus(corpus, monkeypatch):
    """Every record (events with their ids and attributes, detections, errors) is the same
    with the fast paths switched off, i.e. with only the reference regexes."""
    files = sorted((corpus / "logs").rglob("*.log"))
    assert files
    opts = {"acquired_at": "2005-08-14T12:00:00+02:00", "timezone": "Europe/Berlin"}
    fast = {p: _records(p, **opts) for p in files}
    monkeypatch.setattr(syslog3164, "_parse_fast", lambda line, clock: None)
    monkeypatch.setattr(webaccess, "_fields_fast", lambda line: None)
    monkeypatch.setattr(authlog, "_password_line", lambda msg: None)
    for p in files:
        ref = _records(p, **opts)
        assert len(ref) == len(fast[p]) and ref == fast[p], p.name
    assert sum(isinstance(r, dict) for recs in fast.values() for r in recs) > 5000


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                                             max_size=40)), min_size=1, max_size=30),
       st.integers(0, 45), st.one_of(st.none(), st.integers(-45, 45)), st.booleans())
def test_byte_slices_of_ascii_text_are_the_code_unit_slices(values, start, stop, chunked):
    """The fast path slices its printable-ASCII text by bytes; that must be utf8_slice_codeunits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from forensics.logs.fastpath import _slice
    for typ in (pa.string(), pa.large_string()):
        arr = pa.array(values, typ)
        if chunked:
            arr = pa.chunked_array([arr.slice(0, len(values) // 2), arr.slice(len(values) // 2)], typ)
        want = pc.utf8_slice_codeunits(arr, start) if stop is None else pc.utf8_slice_codeunits(arr, start, stop)
        assert _slice(arr, start, stop).to_pylist() == want.to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e),
                                                      max_size=8)), min_size=3, max_size=3), min_size=1, max_size=20),
       st.booleans())
def test_json_object_of_segments_drops_null_segments_and_wraps_in_braces(rows, compiled):
    """Fast-path text (printable ASCII, quotes and backslashes escaped) as a JSON object; a row with
    every segment null is {}; the compiled builder (_linescan.json_object) and its Arrow twin alike."""
    import json

    import pyarrow as pa

    from forensics.logs.fastpath import _json_object
    cols = list(zip(*rows))
    segs = [(f',"{k}":"', pa.array(list(c), pa.string()), '"', (True, True)) for k, c in zip(("a", "b", "c"), cols)]
    got = _json_object(len(rows), segs, compiled).to_pylist()
    for row, text in zip(rows, got):
        assert json.loads(text) == {k: v for k, v in zip(("a", "b", "c"), row) if v is not None}


_ASCII = st.text(alphabet=st.sampled_from(list('ab"\\ {}:,') + ["\x7e", "\x20"]), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(st.one_of(st.none(), _ASCII), min_size=1, max_size=30),
                          st.sampled_from([(False, False), (True, False), (False, True), (True, True)]),
                          st.integers(0, 5), st.booleans(), st.sampled_from(["", '"', "x"])), min_size=1, max_size=4),
       st.integers(0, 3))
def test_compiled_json_object_is_its_arrow_twin(segs, cut):
    """Segments of any escaping, null pattern, slice offset and chunking: the same text both ways."""
    import pyarrow as pa

    from forensics.logs.fastpath import _json_object
    n = min((len(v) for v, *_ in segs), default=0)
    n = max(0, n - cut)
    parts = []
    for k, (values, esc, skip, chunked, tail) in enumerate(segs):
        arr = pa.array(values, pa.string())
        arr = arr.slice(min(skip, len(arr) - n), n)  # a slice: offsets and validity bits not at 0
        if chunked and n > 1:
            arr = pa.chunked_array([arr.slice(0, n // 2), arr.slice(n // 2)])
        parts.append((f',"k{k}":' + tail, arr, tail, esc))
    c = _json_object(n, parts, compiled=True)
    r = _json_object(n, parts, compiled=False)
    assert c.to_pylist() == r.to_pylist()


def test_compiled_json_object_refuses_short_buffers():
    import numpy as np
    import pytest

    from forensics.logs import fastpath
    offs = np.array([0, 2], np.int32).tobytes()
    with pytest.raises(ValueError):  # two rows, offsets of one
        fastpath._linescan.json_object(2, [(b",", b"", 0, None, 0, offs, b"ab")])
    with pytest.raises(ValueError):  # text past the data
        fastpath._linescan.json_object(1, [(b",", b"", 0, None, 0, offs, b"a")])
    with pytest.raises(ValueError):  # no head to drop the comma of
        fastpath._linescan.json_object(1, [(b"", b"", 0, None, 0, offs, b"ab")])
    with pytest.raises(ValueError):  # validity of fewer bits than rows
        fastpath._linescan.json_object(1, [(b",", b"", 0, b"\x01", 8, offs, b"ab")])
    assert fastpath._linescan.json_object(1, [(b',"a":"', b'"', 3, None, 0, offs, b'"\\')]) == \
        (np.array([0, 12], np.int32).tobytes(), b'{"a":"\\"\\\\"}')
