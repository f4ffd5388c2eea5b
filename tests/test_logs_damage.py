"""Bad input: garbage, mixed encodings, huge lines, truncation — and a fuzz."""
from __future__ import annotations

import io
import os
from pathlib import Path

from hypothesis import given, settings, strategies as st

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.tabular import TabularIngestor
from forensics.ingestors.textlog import TextLogIngestor
from forensics.logs.lines import iter_raw_lines

GOOD = b"Jan  5 03:00:%02d srv sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2\n"


def run(tmp_path: Path, data: bytes, cls=TextLogIngestor, etype="text_log"):
    p = tmp_path / "damaged.log"
    p.write_bytes(data)
    out = list(cls().ingest(IngestContext(p, "ef" * 32, etype, "damaged.log", {"year": 2024})))
    assert all(isinstance(r, (Event, IngestError)) for r in out)
    evs = [r for r in out if isinstance(r, Event) and r.data_type != "detection"]
    return evs, [r for r in out if isinstance(r, IngestError)]


def lines_of(evs):
    return [int(e.locator.split(";")[0][5:]) for e in evs]


def test_binary_garbage_between_good_lines(tmp_path):
    garbage = bytes(b for b in range(256) if b != 10) * 3
    data = GOOD % 1 + garbage + b"\n" + GOOD % 2
    evs, errs = run(tmp_path, data)
    assert lines_of(evs) == [1, 3]
    assert len(errs) == 1 and errs[0].line == 2 and errs[0].file == "damaged.log" and errs[0].offset == len(GOOD % 1)
    assert "binary" in errs[0].reason


def test_mixed_encodings_decode_per_line(tmp_path):
    utf8 = "Jan  5 03:00:01 srv app: 用户登录成功\n".encode("utf-8")
    gbk = "Jan  5 03:00:02 srv app: 用户登录失败\n".encode("gbk")
    latin1 = "Jan  5 03:00:03 srv app: caf\xe9 cr\xe8me \xff\n".encode("latin-1")
    evs, errs = run(tmp_path, utf8 + gbk + latin1)
    assert not errs and len(evs) == 3
    assert "用户登录成功" in evs[0].message and "用户登录失败" in evs[1].message and "café" in evs[2].message
    assert "encoding" not in evs[0].attributes and evs[1].attributes["encoding"] == "gbk"
    assert evs[2].attributes["encoding"] == "latin-1"


def test_line_longer_than_one_megabyte(tmp_path):
    huge = b"Jan  5 03:00:05 srv app: " + b"A" * (3 << 20) + b"\n"
    evs, errs = run(tmp_path, GOOD % 1 + huge + GOOD % 2)
    assert lines_of(evs) == [1, 3]
    assert len(errs) == 1 and errs[0].line == 2 and "exceeds" in errs[0].reason
    assert errs[0].offset == len(GOOD % 1)


def test_truncated_mid_line(tmp_path):
    whole = GOOD % 1 + GOOD % 2
    evs, errs = run(tmp_path, whole + b"Jan  5 03:0")
    assert lines_of(evs) == [1, 2]
    assert len(errs) == 1 and errs[0].line == 3 and "truncated" in errs[0].reason
    # a cut inside the message still parses: nothing is lost
    evs, errs = run(tmp_path, whole + (GOOD % 3)[:50])
    assert lines_of(evs) == [1, 2, 3] and not errs


def test_run_of_unknown_lines_is_one_error(tmp_path):
    evs, errs = run(tmp_path, GOOD % 1 + b"hello\n" * 5 + GOOD % 2)
    assert lines_of(evs) == [1, 7] and len(errs) == 1 and errs[0].line == 2 and "5 consecutive" in errs[0].reason


def test_tabular_damage(tmp_path):
    data = b'{"ts": 1, "msg": "a"}\n' + bytes(b for b in range(200) if b != 10) + b'\n{"ts": 2, "msg": "b"}\n{"ts": 3, "ms'
    evs, errs = run(tmp_path, data, TabularIngestor, "jsonl")
    assert [e.message for e in evs] == ["a", "b"]
    assert [e.line for e in errs] == [2, 4] and "truncated" in errs[1].reason


def test_raw_lines_offsets_across_block_boundaries():
    data = b"".join(b"x" * (i % 7) + b"\n" for i in range(1000)) + b"tail"
    got = list(iter_raw_lines(io.BytesIO(data), max_line=5, block=13))
    pos = 0
    for i, r in enumerate(got[:-1]):
        n = i % 7
        assert r.number == i + 1 and r.offset == pos
        assert (r.too_long == n) if n > 5 else (r.data == b"x" * n)
        pos += n + 1
    assert got[-1].data == b"tail" and not got[-1].complete and got[-1].offset == pos


_line = st.one_of(
    st.binary(max_size=120),
    st.sampled_from([GOOD % 9, b'1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1\n',
                     b"<34>1 2024-01-01T00:00:00Z h app - - - msg\n", b"type=SYSCALL msg=audit(1.2:3): pid=1\n",
                     b"#Fields: date time c-ip cs-method\n", b"2024-01-01 00:00:00 1.2.3.4 GET\n"]),
    st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_line, max_size=30))
def test_fuzz_textlog_never_raises(tmp_path_factory, parts):
    tmp = tmp_path_factory.mktemp("fuzz")
    data = b"".join(parts)
    evs, errs = run(tmp, data)
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    assert len(evs) + len(errs) <= max(n_lines, 0) + 1
    for e in evs:
        e.to_row()


@settings(max_examples=80, deadline=None)
@given(st.lists(_line, max_size=20))
def test_fuzz_tabular_never_raises(tmp_path_factory, parts):
    tmp = tmp_path_factory.mktemp("fuzz")
    for etype in ("jsonl", "csv"):
        evs, _ = run(tmp, b"".join(parts), TabularIngestor, etype)
        for e in evs:
            e.to_row()
