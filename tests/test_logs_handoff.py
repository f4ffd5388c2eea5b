"""Large text logs are parsed in a second process: same records, same order, no stray process."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import forensics.ingestors.textlog as textlog
from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.textlog import TextLogIngestor

pytestmark = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")


def _records(path: Path, **options) -> list:
    ctx = IngestContext(path, "ab" * 32, "text_log", path.name, options)
    return [r.to_row() if isinstance(r, Event) else r for r in TextLogIngestor().ingest(ctx)]


def _both(monkeypatch, path: Path, **options) -> tuple[list, list]:
    monkeypatch.setattr(textlog, "PARALLEL_MIN_BYTES", 1 << 60)
    here = _records(path, **options)
    monkeypatch.setattr(textlog, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    return here, _records(path, **options)


def test_child_parse_gives_the_same_records_on_damaged_input(tmp_path, monkeypatch):
    good = b"Jan  5 03:00:%02d srv sshd[7]: Failed password for root from 203.0.113.9 port 22 ssh2\n"
    data = b"".join(good % (i % 60) for i in range(5000)) + bytes(b for b in range(256) if b != 10) + b"\n" + \
        "Jan  5 03:00:02 srv app: 用户登录失败\n".encode("gbk") + b"x" * ((1 << 20) + 3) + b"\n" + \
        b'203.0.113.9 - - [05/Jan/2024:03:00:01 +0000] "GET /../../etc/passwd HTTP/1.1" 404 12 "-" "sqlmap"\n' * 3000 + \
        b"Jan  5 03:00:0"
    p = tmp_path / "big.log"
    p.write_bytes(data)
    here, child = _both(monkeypatch, p, year=2024)
    assert len(here) > 8000 and here == child
    errors = [r for r in child if isinstance(r, IngestError)]
    assert {e.line for e in errors} == {5001, 5003, 8004}  # garbage, over-long line, truncated last line
    assert any(r["data_type"] == "detection" for r in child if isinstance(r, dict))


def test_child_parse_gives_the_same_records_on_the_corpus(corpus, monkeypatch):
    for p in sorted((corpus / "logs").rglob("*.log")):
        here, child = _both(monkeypatch, p, acquired_at="2005-08-14T12:00:00+02:00", timezone="Europe/Berlin")
        assert here == child, p.name


def test_stopping_early_ends_the_child(tmp_path, monkeypatch):
    p = tmp_path / "big.log"
    p.write_bytes(b"Jan  5 03:00:01 srv app: hello\n" * 200_000)
    monkeypatch.setattr(textlog, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    it = TextLogIngestor().ingest(IngestContext(p, "ab" * 32, "text_log", p.name, {"year": 2024}))
    assert isinstance(next(it), Event)
    assert multiprocessing.active_children()
    it.close()
    assert not multiprocessing.active_children()


def test_a_failing_child_is_an_error_in_the_caller(tmp_path, monkeypatch):
    p = tmp_path / "x.log"
    p.write_bytes(b"Jan  5 03:00:01 srv app: hello\n")

    def broken(self, ctx):
        yield from ()
        raise ZeroDivisionError("parser bug")

    monkeypatch.setattr(textlog, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr(TextLogIngestor, "parse_records", broken)
    with pytest.raises(RuntimeError, match="ZeroDivisionError: parser bug"):
        list(TextLogIngestor().ingest(IngestContext(p, "ab" * 32, "text_log", p.name, {"year": 2024})))
    assert not multiprocessing.active_children()
