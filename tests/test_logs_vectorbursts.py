"""The SSH/HTTP burst rules over vector rows, set-wise (forensics.logs.vectorbursts): the same
records as the line-by-line reference however a source's rows mix with closing gaps, logins
after failures, PAM lines and other handed-back lines of the same source, across blocks; and
bulk rows that only extend bursts never reach the per-event rule code."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from forensics.logs import batchpath
from forensics.logs.detections import Detector
from tests.test_logs_batchpath import assert_same


def _line(rnd: random.Random, t: int, ip: str, kind: str) -> str:
    day, rest = divmod(t, 86400)
    stamp = f"Mar {day + 1:2d} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    user = rnd.choice(["root", "admin", "oracle", "alice", "bob", "carol", "dave"])
    pid = rnd.choice([100, 101, 102])
    if kind == "fail":
        inv = "invalid user " if rnd.random() < 0.2 else ""
        return f"{stamp} web01 sshd[{pid}]: Failed password for {inv}{user} from {ip} port 4000 ssh2"
    if kind == "ok":
        return f"{stamp} web01 sshd[{pid}]: Accepted password for {user} from {ip} port 4000 ssh2"
    if kind == "pam":  # handed back to the line parser: a PAM failure of the same source
        return (f"{stamp} web01 sshd[{pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
                f"euid=0 tty=ssh ruser= rhost={ip}  user={user}")
    if kind == "closed":  # handed back: another sshd message naming the source
        return f"{stamp} web01 sshd[{pid}]: Connection closed by {ip} port 4000 [preauth]"
    status = rnd.choice([401, 401, 403, 200])
    date = f"{day + 1:02d}/Mar/2024:{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d} +0000"
    return f'{ip} - - [{date}] "POST /wp-login.php HTTP/1.1" {status} 12 "-" "Mozilla/5.0"'


def _mixed(path: Path, seed: int, lines: int = 12000) -> None:
    rnd = random.Random(seed)
    ips = [f"203.0.113.{i}" for i in range(1, 40)] + [f"198.51.100.{i}" for i in range(1, 6)]
    t = 0
    out = []
    for i in range(lines):
        # mostly seconds apart; now and then a pause longer than the rules' gaps (bursts close)
        t += rnd.choice([0, 1, 1, 2, 5]) if rnd.random() < 0.995 else rnd.choice([400, 900, 4000])
        ip = rnd.choice(ips[:6]) if rnd.random() < 0.5 else rnd.choice(ips)  # a few busy sources
        r = rnd.random()
        kind = "fail" if r < 0.5 else "http" if r < 0.8 else "ok" if r < 0.86 else "pam" if r < 0.9 else \
            "closed" if r < 0.92 else "cron"
        if kind == "cron":
            out.append(f"Mar {t // 86400 + 1:2d} 01:00:00 web01 CRON[9]: (root) CMD (true)")
        else:
            out.append(_line(rnd, t, ip, kind))
    # one source with far more failures than the recent-failure memory keeps, then its login
    for k in range(1500):
        out.append(_line(rnd, t + k, "192.0.2.77", "fail"))
    out.append(_line(rnd, t + 1600, "192.0.2.77", "ok"))
    path.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("seed,block", [(1, 1 << 14), (2, 1 << 16), (3, 1 << 20)])
def test_mixed_sources_same_records(tmp_path, monkeypatch, seed, block):
    p = tmp_path / "auth_web.log"
    _mixed(p, seed)
    monkeypatch.setattr(batchpath, "BLOCK", block)
    recs = assert_same(p, year=2024)
    rules = {r["attributes"].split('"rule":"')[1].split('"')[0] for r in recs
             if isinstance(r, dict) and r["data_type"] == "detection"}
    assert {"ssh_brute_force", "http_brute_force", "login_after_failures"} <= rules


def test_bulk_rows_that_only_extend_bursts_skip_the_per_event_rules(tmp_path, monkeypatch):
    """The benchmark's shape: every source's failures and login attempts, no gap, no login after
    failures. Their detections come from the end-of-file close only, never from the rule code
    fed row by row."""
    from bench.logs import generate

    p = tmp_path / "bench.log"
    generate(p, 1)
    chunk = p.read_bytes()[: 300_000]
    p.write_bytes(chunk[: chunk.rfind(b"\n") + 1] * 10)  # each source's lines ten times, same times
    ref = assert_same(p, year=2024)
    assert sum(isinstance(r, dict) and r["data_type"] == "detection" for r in ref) > 100

    def boom(*a, **k):
        raise AssertionError("per-event rule code ran for a bulk row")

    for name in ("ssh_failures", "http_attempt", "_auth"):
        monkeypatch.setattr(Detector, name, boom)
    from forensics.ingestors.base import IngestContext
    from forensics.ingestors.textlog import TextLogIngestor
    ctx = IngestContext(p, "cd" * 32, "text_log", p.name, {"year": 2024})
    assert sum(1 for _ in TextLogIngestor().ingest_batches(ctx)) > 0


def test_mixed_sources_same_records_with_the_numbering_twin(tmp_path, monkeypatch):
    """Without _textcodes (not built) the sources and user names are numbered by _Codes, the rows
    collected by _append and _add: the same records."""
    from forensics.logs import vectorbursts

    p = tmp_path / "auth_web.log"
    _mixed(p, 4)
    monkeypatch.setattr(batchpath, "BLOCK", 1 << 15)
    monkeypatch.setattr(vectorbursts, "_textcodes", None)
    assert_same(p, year=2024)


def _hostile_columns() -> list:
    """String columns as blocks bring them and worse: nulls, empty texts, non-ASCII, very long
    values, sliced and chunked arrays, 64-bit offsets, and 100k distinct values (the table grows)."""
    import pyarrow as pa

    rnd = random.Random(7)
    mixed = ["", None, "é", "203.0.113.1", "", "日本語のテキスト", None, "x" * 1_000_000, "\x00nul\x00",
             "203.0.113.1 ", "203.0.113.1", "x" * 999_999 + "y", "🙂", "é", "e\u0301"]
    many = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(100_000)]
    rnd.shuffle(many)
    return [pa.array(mixed, pa.string()),
            pa.array([None, None], pa.string()),
            pa.array([], pa.string()),
            pa.array(mixed * 3, pa.string()).slice(5, 20),
            pa.chunked_array([pa.array(mixed[:4], pa.string()), pa.array(mixed[4:], pa.string())]),
            pa.array(many[:60_000] + [None] * 10, pa.string()),
            pa.array(many + mixed, pa.large_string()),
            pa.array([rnd.choice(many) for _ in range(20_000)], pa.string())]


def test_compiled_numbering_matches_its_twin_on_hostile_columns():
    """_textcodes.TextCodes gives each row the number _Codes gives it (nulls -1, new values in row
    order across calls), keeps the same values, and finds them (get) the same."""
    import numpy as np

    from forensics.logs import vectorbursts

    assert vectorbursts._textcodes is not None
    c, py = vectorbursts.codes(), vectorbursts.codes(compiled=False)
    assert isinstance(c, vectorbursts._CompiledCodes) and isinstance(py, vectorbursts._Codes)
    rnd = random.Random(3)
    for col in _hostile_columns():
        n = len(col)
        for rows in (np.arange(n, dtype=np.int64), np.array([rnd.randrange(n) for _ in range(min(n, 500))], np.int64)
                     if n else np.zeros(0, np.int64), np.arange(n, dtype=np.int64)[::-1]):
            got, want = c.lookup(col, rows), py.lookup(col, rows)
            assert got.dtype == np.int64 and got.tolist() == want.tolist()
        assert c.values == py.values
    assert len(c.values) > 100_000
    for v in ["", "é", "x" * 1_000_000, "10.0.0.1", "never seen", None, "\ud800", 5]:
        assert c.get(v) == py.ids.get(v) if isinstance(v, str) else c.get(v) is None


def test_compiled_numbering_refuses_rows_and_offsets_outside_the_column():
    import numpy as np
    import pyarrow as pa

    from forensics.logs import _textcodes

    t = _textcodes.TextCodes()
    _, offs, data = pa.array(["ab", "c"], pa.string()).buffers()
    with pytest.raises(IndexError):
        t.lookup(None, 0, offs, False, data, np.array([2], np.int64))
    with pytest.raises(IndexError):
        t.lookup(None, 1, offs, False, data, np.array([1], np.int64))
    with pytest.raises(IndexError):
        t.lookup(None, 0, offs, False, data, np.array([-1], np.int64))
    with pytest.raises(IndexError):  # a negative array offset must not reach before the offsets buffer
        t.lookup(None, -1, offs, False, data, np.array([0], np.int64))
    with pytest.raises(ValueError):
        t.lookup(None, 0, np.array([0, 9], np.int32).tobytes(), False, b"abc", np.array([0], np.int64))
    with pytest.raises(ValueError):
        t.lookup(None, 0, np.array([2, 1], np.int32).tobytes(), False, b"abc", np.array([0], np.int64))
    assert t.values == [] and len(t) == 0


def test_compiled_row_collection_matches_its_twin():
    import numpy as np

    from forensics.logs import _textcodes, vectorbursts

    rnd = random.Random(5)
    at = np.array([rnd.randrange(50) for _ in range(5000)], np.int64)
    refs = np.array([rnd.randrange(1 << 40) for _ in range(5000)], np.int64)
    times = np.array([rnd.randrange(1 << 50) for _ in range(5000)], np.int64)
    got, want = [[] for _ in range(50)], [[] for _ in range(50)]
    counts = [np.arange(60, dtype=np.int64) for _ in range(2)]
    last = [np.full(60, -7, dtype=np.int64) for _ in range(2)]
    _textcodes.append(got, at, refs, counts[0], last[0], times)
    vectorbursts._append(want, at, refs, counts[1], last[1], times)
    assert got == want
    assert counts[0].tolist() == counts[1].tolist() and last[0].tolist() == last[1].tolist()
    assert last[0][at[-1]] == times[-1] and last[0][55] == -7
    names = ["root", "", "é", "x" * 10_000]
    nums = np.array([rnd.randrange(-1, len(names)) for _ in range(5000)], np.int64)
    got, want = [set() for _ in range(50)], [set() for _ in range(50)]
    _textcodes.add(got, at, names, nums)
    vectorbursts._add(want, at, names, nums)
    assert got == want
    one, seven = np.zeros(2, np.int64), np.array([7], np.int64)
    with pytest.raises(IndexError):
        _textcodes.append([[], None], np.array([1], np.int64), seven, one, one.copy(), seven)
    with pytest.raises(IndexError):
        _textcodes.append([[], [], []], np.array([2], np.int64), seven, one, one.copy(), seven)
    with pytest.raises(IndexError):
        _textcodes.add([set()], np.array([0], np.int64), names, np.array([4], np.int64))
    with pytest.raises(ValueError):
        _textcodes.append([[]], np.array([0, 0], np.int64), seven, one, one.copy(), np.array([7, 8], np.int64))


@pytest.mark.parametrize("compiled", [True, False])
def test_hand_over_of_a_null_address_takes_over_no_source(compiled):
    """A null among the handed-over addresses numbers as -1: it must not stand for the last source held."""
    import numpy as np
    import pyarrow as pa

    from forensics.logs.vectorbursts import VectorBursts
    vb = VectorBursts(Detector(), lambda kept, srcs: [], compiled=compiled)
    # 1,024 sources fill the state arrays, so index -1 is a source held here
    vb._sids(pa.array([f"10.0.{i >> 8}.{i & 255}" for i in range(1024)], pa.string()), np.arange(1024))
    assert len(vb.owned) == 1024 and vb.owned[-1]
    taken: list = []
    vb.take_over = lambda sids, final=False: taken.append(list(sids))
    vb.hand_over([None])
    assert taken == []
    vb.hand_over([None, "10.0.0.1"])
    assert taken == [[1]]


def test_compiled_numbering_is_the_same_under_any_hash_key():
    """TextCodes hashes with Python's per-process keyed hash (a crafted log cannot aim at its probe
    runs); the numbers it gives must not depend on the key."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, pyarrow as pa\n"
            "from forensics.logs.vectorbursts import codes\n"
            "c = codes()\n"
            "col = pa.array([f'10.{i % 7}.{i % 251}.{i % 13}' if i % 5 else None for i in range(5000)])\n"
            "print(c.lookup(col, np.arange(5000, dtype=np.int64)).tolist(), c.values)\n")
    outs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed}, check=True,
                           capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]).stdout
            for seed in ("1", "2", "random")}
    assert len(outs) == 1 and len(next(iter(outs))) > 1000
