"""The compacted copy of a big case (a sorted DuckDB database file) answers exactly as the plain
Parquet files do: timeline pages and totals under every filter shape (tricky text included), the
graph's edge table and the storyline."""
from __future__ import annotations

import random

import pandas as pd
from hypothesis import given, settings, strategies as hs
import pytest

from case_store import eventstore
from case_store.eventstore import EventQuery, EventWriter
from forensics import timecorrect
from forensics.events import Event

T = 1_772_400_000_000_000
DAY = 86_400_000_000
TEXTS = ["Logon of Alice", "logon OF alice", "100% done", "100 percent done", "a_b", "axb", "50%_off", "用户登录成功", "用户登录失败",
         "Ünïcödé straße", "UNÏCÖDÉ STRASSE", "İstanbul office", "istanbul office", "event 12", "event 123", "Event 3", "\\ backslash", "'quote'"]
WORDS = ["alice", "%", "_", "100%", "a_b", "%_", "登录", "ünïcödé", "ÜNÏCÖDÉ", "straße", "İstanbul", "istanbul", "event 1", "EVENT 3",
         "\\", "'", "nothing-matches-this", "Alice Logon"]


def _files(tmp_path, n_files=3, per_file=700) -> list[str]:
    rng = random.Random(5)
    out = []
    for f in range(n_files):
        w = EventWriter(tmp_path / f"e{f}.parquet")
        for i in range(per_file):
            h = rng.randrange(12)
            e = Event(T + rng.randrange(0, 10 * DAY) // 1000 * 1000 + (i % 3), rng.choice(["network:flow", "windows:evtx:record",
                                                                                         "windows:sysmon:network", "linux:syslog"]),
                      rng.choice(TEXTS) + f" #{i}", "", host=rng.choice([f"WS{h:02d}", f"ws{h:02d}.corp.local", None]),
                      user=rng.choice(["CORP\\bob", "bob@corp.local", None]), src_ip=f"10.1.0.{rng.randrange(1, 20)}",
                      dst_ip=rng.choice(["203.0.113.5", "10.0.0.2", None]), tags=rng.choice([[], ["login"], ["login_failed"]]),
                      attributes=rng.choice([{}, {"note": rng.choice(TEXTS)}]))
            e.evidence_sha256, e.parser, e.locator = f"{f + 1:064x}", "synth@1", f"line {i}"
            w.add(e)
        out.append(str(w.commit()))
    return out


def _fresh(monkeypatch, min_rows: int) -> None:
    monkeypatch.setattr(eventstore, "COMPACT_MIN_ROWS", min_rows)
    for f in (timecorrect._shared, timecorrect._host_spellings, timecorrect._time_span, eventstore._shared_connection):
        f.cache_clear()


QUERIES = ([EventQuery(text=w, limit=50, offset=o) for w in WORDS for o in (0, 10)]
           + [EventQuery(start_us=T + d * DAY, end_us=T + (d + s) * DAY, text=w, limit=20)
              for d, s, w in ((1, 1, "alice"), (2, 3, "登录"), (0, 10, "%"), (4, 1, "_"), (9, 5, "nothing-matches-this"))]
           + [EventQuery(start_us=T + DAY, end_us=T + 4 * DAY, tag="login", limit=30, offset=30),
              EventQuery(data_type="windows:*", limit=100, offset=200), EventQuery(ip="203.0.113.5", limit=10, offset=5),
              EventQuery(user="bob@corp.local", limit=40), EventQuery(host="WS03", limit=25),
              EventQuery(start_us=T + 3 * DAY + 17, end_us=T + 3 * DAY + 5_000_000_000, limit=100),
              EventQuery(limit=20_000), EventQuery(offset=5_000, limit=10)])


def _answers(files, offsets) -> list:
    out = []
    for q in QUERIES:
        for host in (None, "ws03"):
            page, total = timecorrect.query(None, q, files=files, offsets=offsets, host_entity=host)
            out.append((total, page.reset_index(drop=True)))
        page, total = eventstore.query(None, q, files=files)
        out.append((total, page.reset_index(drop=True)))
    return out


@pytest.mark.parametrize("offsets", [{}, {f"{2:064x}": 3_600_000_000}])
def test_compacted_pages_equal_plain_files(tmp_path, monkeypatch, cc_home, offsets):
    files = _files(tmp_path)
    _fresh(monkeypatch, 10**12)
    plain = _answers(files, offsets)
    _fresh(monkeypatch, 1)
    fast = _answers(files, offsets)
    assert list(eventstore.events_dir().glob("_timeline/*.duckdb")), "the compacted copy was used"
    assert len(plain) == len(fast)
    for (tp, pp), (tf, pf) in zip(plain, fast):
        assert tp == tf
        pd.testing.assert_frame_equal(pp, pf)
    assert any(t == 0 for t, _ in plain) and any(t > 0 for t, _ in plain)
    _fresh(monkeypatch, eventstore.COMPACT_MIN_ROWS)


def test_compacted_graph_and_storyline_equal_plain_files(tmp_path, monkeypatch, cc_home):
    from forensics import graph
    from forensics.storyline import build_storyline

    files = _files(tmp_path, per_file=300)
    res = []
    for min_rows in (10**12, 1):
        _fresh(monkeypatch, min_rows)
        con = timecorrect.case_connection(None, files, offsets={})
        edges = graph.edge_table(con)
        con.close()
        res.append((edges, build_storyline("c", files=files, offsets={}, data_inventory=[], case_docs=[]).model_dump_json()))
    pd.testing.assert_frame_equal(res[0][0], res[1][0])
    assert res[0][1] == res[1][1]
    _fresh(monkeypatch, eventstore.COMPACT_MIN_ROWS)


def test_compacted_copy_is_reused_and_read_only(tmp_path, monkeypatch, cc_home):
    files = _files(tmp_path, n_files=1, per_file=50)
    _fresh(monkeypatch, 1)
    con = eventstore.connect(files)
    (db,) = eventstore.events_dir().glob("_timeline/*.duckdb")
    mtime = db.stat().st_mtime_ns
    with pytest.raises(Exception):
        con.execute("DELETE FROM timeline.main.events")  # evidence-derived: never written after it is built
    con.close()
    eventstore.connect(files).close()
    assert db.stat().st_mtime_ns == mtime and not list(db.parent.glob(".*.tmp*"))
    _fresh(monkeypatch, eventstore.COMPACT_MIN_ROWS)


TRICKY = ["event 3", "EVENT 3", "Event 3 of 9", "100% done", "100 done", "a_b", "axb", "50%_off", "用户 12 登录成功", "用户12登录",
          "İSTANBUL 12", "istanbul 12", "\u212a 7", "k 7", "straße 1", "STRASSE 1", "\\ x", "\\\\ x", "x'y 1", '{"note": "event 3"}', "",
          "１２ fullwidth", "12 fullwidth", "a\u0307 12", "%%", "__", " 3", "3 "]


@settings(max_examples=60, deadline=None)
@given(text=hs.one_of(hs.sampled_from(["event 3", "100% done", "a_b", "50%_off", "12", " 12 ", "用户 12", "İ 12", "\\ 1", "x'y 1"]),
                      hs.text(alphabet="aAiİk\u212a 0123%_\\'.-用户", min_size=1, max_size=6)),
       rows=hs.lists(hs.one_of(hs.sampled_from(TRICKY), hs.text(alphabet="aAiİk\u212a 0123%_\\'.-用户ß", max_size=12)), max_size=30))
def test_text_anchor_selects_what_plain_ilike_selects(text, rows):
    """The substring test put before ILIKE never drops a row ILIKE would match (case, % _ \\, non-ASCII, Chinese, empty)."""
    import duckdb

    from case_store.eventstore import EventQuery

    con = duckdb.connect()
    con.execute("CREATE TABLE events (message VARCHAR, attributes VARCHAR)")
    # the filter's own text in other cases and with the letters lower-casing folds onto ASCII
    variants = [text, text.upper(), text.lower(), text.swapcase(), text.replace("i", "İ"), text.replace("I", "İ"),
                text.replace("k", "\u212a"), text.replace("K", "\u212a"), "pre " + text.upper() + " post"]
    data = ([[m, "{}"] for m in rows + TRICKY + variants] + [["x", m] for m in TRICKY + variants]
            + [[None, None], [None, text.upper()]])
    con.executemany("INSERT INTO events VALUES (?, ?)", data)
    where, params = EventQuery(text=text).where()
    fast = con.execute(f"SELECT rowid FROM events{where} ORDER BY rowid", params).fetchall()
    plain = con.execute("SELECT rowid FROM events WHERE (message ILIKE ? OR attributes ILIKE ?) ORDER BY rowid",
                        [f"%{text}%"] * 2).fetchall()
    assert fast == plain


def test_text_anchor_is_a_literal_run_between_wildcards():
    from case_store.eventstore import text_anchor

    assert text_anchor("event 3") == " 3" and text_anchor("100% done") == "100" and text_anchor("50%_off") == "50"
    assert text_anchor("alice") is None and text_anchor("a_b") is None and text_anchor("\\ x") is None
    assert text_anchor("用户 12 登录") == " 12 "
