"""Event ids of the text-log parse workers, compiled (forensics/logs/_eventid.c): the ids
`make_event_id` gives, for every key length around the SHA-256 padding and block edges, any
head length, non-ASCII text and sliced Arrow arrays; bad offsets are refused, not read."""
from __future__ import annotations

import hashlib
import os

import pyarrow as pa
import pytest

from forensics.events import make_event_id
from forensics.logs import fastpath

_eventid = pytest.importorskip("forensics.logs._eventid") if not os.environ.get("CI") else fastpath._eventid


def _ref(head: str, tails: list[str]) -> list[str]:
    return [hashlib.sha256((head + t).encode()).hexdigest()[:32] for t in tails]


def _compiled(head: str, arr: pa.Array) -> list[str]:
    _, offs, data = arr.buffers()
    n = len(arr)
    out = _eventid.ids(head.encode(), memoryview(offs)[4 * arr.offset: 4 * (arr.offset + n + 1)], data or b"", n)
    return [out[32 * i: 32 * i + 32].decode() for i in range(n)]


def test_compiled_path_is_built_and_used():
    assert fastpath._eventid is not None


@pytest.mark.parametrize("head", ["", "a", "cd" * 32, "x" * 63, "y" * 65, "z" * 130])
def test_every_length_same_as_hashlib(head):
    tails = ["|" + "k" * i for i in range(0, 260)] + ["é中q" * i for i in range(1, 40)] + ["", "|中文|ü", "\x00\x01"]
    assert _compiled(head, pa.array(tails, pa.string())) == _ref(head, tails)


def test_sliced_array():
    tails = [f"|line={i};off={i * 97}|textlog@1.1.0|linux:auth" for i in range(1000)]
    arr = pa.array(tails, pa.string()).slice(123, 500)
    assert _compiled("ab" * 32, arr) == _ref("ab" * 32, tails[123:623])


def test_bad_offsets_refused():
    with pytest.raises(ValueError):
        _eventid.ids(b"h", pa.array([0, 5, 2], pa.int32()).buffers()[1], b"abcde", 2)
    with pytest.raises(ValueError):
        _eventid.ids(b"h", pa.array([0, 9], pa.int32()).buffers()[1], b"abcde", 1)
    with pytest.raises(ValueError):
        _eventid.ids(b"h", pa.array([0], pa.int32()).buffers()[1], b"abcde", 1)


def test_block_ids_equal_make_event_id():
    cfg = fastpath.BlockConfig("cd" * 32, "textlog@1.1.0", "UTC", 2024, None)
    locs = pa.array([f"line={i};off={i * 1000003}" for i in range(1, 3000, 7)])
    types = pa.array(["linux:auth", "web:access", "linux:syslog:line"] * (len(locs) // 3) +
                     ["linux:auth"] * (len(locs) % 3))
    got = fastpath.event_ids(cfg, locs, types).to_pylist()
    assert got == [make_event_id(cfg.evidence_sha256, l, cfg.parser_id, d)
                   for l, d in zip(locs.to_pylist(), types.to_pylist())]


def _compiled3(head: str, a: pa.Array, middle: str, b: pa.Array) -> list[str]:
    n = len(a)
    bufs = []
    for arr in (a, b):
        _, offs, data = arr.buffers()
        bufs += [memoryview(offs)[4 * arr.offset: 4 * (arr.offset + n + 1)], data or b""]
    out = _eventid.ids3(head.encode(), bufs[0], bufs[1], middle.encode(), bufs[2], bufs[3], n)
    return [out[32 * i: 32 * i + 32].decode() for i in range(n)]


@pytest.mark.parametrize("head", ["", "cd" * 32 + "|", "x" * 63])
def test_key_in_pieces_same_as_hashlib(head):
    """ids3 hashes head + a + middle + b without joining them: every length around the block edges."""
    a = ["k" * i for i in range(0, 140)] + ["é中q", ""]
    b = ["t" * (i % 70) for i in range(len(a))]
    sa, sb = pa.array(a, pa.string()).slice(3), pa.array(b, pa.string()).slice(3)
    assert _compiled3(head, sa, "|textlog@1.1.0|", sb) == _ref(head, [x + "|textlog@1.1.0|" + y for x, y in zip(a[3:], b[3:])])


def test_key_in_pieces_bad_offsets_refused():
    good = pa.array([0, 2], pa.int32()).buffers()[1]
    with pytest.raises(ValueError):
        _eventid.ids3(b"h", good, b"ab", b"|", pa.array([0, 9], pa.int32()).buffers()[1], b"abc", 1)
    with pytest.raises(ValueError):
        _eventid.ids3(b"h", pa.array([0], pa.int32()).buffers()[1], b"ab", b"|", good, b"ab", 1)
