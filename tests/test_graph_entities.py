"""Entity resolution and the set-wise entity graph, on synthetic event Parquet written with EventWriter."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st

from case_store.eventstore import EventWriter
from forensics import entities as E
from forensics.events import Event
from forensics.graph import build_graph, edge_table, to_dot, to_graphml, to_json
from forensics.timecorrect import case_connection

T = 1_772_400_000_000_000


def write(tmp_path, events, name="a", sha="a" * 64):
    w = EventWriter(tmp_path / f"{name}.parquet")
    for i, e in enumerate(events):
        e.evidence_sha256, e.parser = e.evidence_sha256 or sha, e.parser or "synth@1"
        e.locator = e.locator or f"line {i}"
        w.add(e)
    return str(w.commit())


@pytest.mark.parametrize("spellings, expected", [
    (["WS01", "ws01.corp.local", "WS01$", "\\\\WS01", " ws01 "], "host:ws01"),
    (["10.0.0.5", "::ffff:10.0.0.5", "[::ffff:10.0.0.5]:445"], "ip:10.0.0.5"),
])
def test_host_spellings_resolve_to_one_entity(spellings, expected):
    assert {E.host_id(s) for s in spellings} == {expected}


def test_account_spellings_and_machine_accounts():
    assert {E.account_id(s) for s in ["CORP\\alice", "alice@corp.local", "alice", "ALICE"]} == {"account:alice"}
    assert E.account_id("WS01$") == "host:ws01"  # a machine account is its host
    assert E.account_id("-") is None and E.host_id("-") is None and E.ip_key("0.0.0.0") is None


def test_documentation_ranges_are_external():
    # Python's is_private counts TEST-NET ranges as private; attackers in exercises live there
    assert not E.is_private("203.0.113.45") and not E.is_private("198.51.100.7")
    assert E.is_private("10.1.2.3") and E.is_private("172.16.0.1") and E.is_private("fd00::1")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcDEF019.-_$\\@: ", max_size=24))
def test_resolution_is_idempotent_on_its_own_keys(s):
    h = E.host_id(s)
    if h and h.startswith("host:"):
        assert E.host_id(h.split(":", 1)[1]) == h
    a = E.account_id(s)
    if a and a.startswith("account:"):
        assert E.account_id(a.split(":", 1)[1]) == a


def _case(tmp_path):
    evs = [
        Event(T, "windows:evtx:record", "logon", "", host="WS01.corp.local", user="CORP\\alice", src_ip="::ffff:10.0.0.9", tags=["login"]),
        Event(T + 1, "windows:evtx:record", "logon", "", host="WS01", user="alice@corp.local", src_ip="10.0.0.9", tags=["login"]),
        Event(T + 2, "windows:evtx:record", "fail", "", host="ws01", user="alice", src_ip="10.0.0.9", tags=["login_failed"]),
        Event(T + 3, "windows:evtx:record", "proc", "", host="WS01", user="alice", process_pid=42, process_name="cmd.exe",
              tags=["application_execution"]),
        Event(T + 4, "windows:sysmon:network", "net", "", host="ws01", process_pid=42, src_ip="10.0.0.9", dst_ip="8.8.8.8"),
        # pid 42 reused later: a different process
        Event(T + 10, "windows:evtx:record", "proc", "", host="WS01", process_pid=42, process_name="evil.exe", tags=["application_execution"]),
        Event(T + 11, "windows:sysmon:file", "file", "", host="WS01", process_pid=42, file_sha256="AB" * 32),
    ]
    a = write(tmp_path, evs, "a")
    flows = [Event(T + 100 + i, "network:flow", "flow", f"pkt {i}", src_ip="10.0.0.9", dst_ip="8.8.8.8", bytes_out=100, bytes_in=5)
             for i in range(7)]
    b = write(tmp_path, flows, "b", sha="b" * 64)
    return [a, b]


def test_one_node_per_entity_across_evidence(tmp_path):
    g = build_graph(case_connection(None, _case(tmp_path)))
    assert sorted(n for n in g if n.startswith(("host:", "account:", "ip:"))) == ["account:alice", "host:ws01", "ip:10.0.0.9", "ip:8.8.8.8"]
    assert set(g.nodes["host:ws01"]["aliases"]) == {"WS01", "WS01.corp.local", "ws01"}
    procs = sorted(n for n in g if n.startswith("process:"))
    assert procs == [f"process:ws01:42:{T + 3}", f"process:ws01:42:{T + 10}"]  # pid reuse = two processes
    assert g.has_edge(f"process:ws01:42:{T + 3}", "ip:8.8.8.8")
    assert g.has_edge(f"process:ws01:42:{T + 10}", "file:" + "ab" * 32)


def test_edge_counts_equal_event_counts(tmp_path):
    files = _case(tmp_path)
    con = case_connection(None, files)
    g = build_graph(con)
    e = g.get_edge_data("ip:10.0.0.9", "ip:8.8.8.8", "connects_to")
    n_events = con.execute("SELECT count(*) FROM events WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL").fetchone()[0]
    assert e["count"] == n_events == 8
    assert e["bytes_out"] == 700 and e["first_seen"] == T + 4 and e["last_seen"] == T + 106
    assert len(e["sample_event_ids"]) == 5
    first_ids = [r[0] for r in con.execute(
        "SELECT event_id FROM events WHERE dst_ip IS NOT NULL ORDER BY timestamp, event_id LIMIT 5").fetchall()]
    assert e["sample_event_ids"] == first_ids
    assert g.get_edge_data("account:alice", "host:ws01", "logon")["count"] == 2
    assert g.get_edge_data("account:alice", "host:ws01", "logon_failed")["count"] == 1


def test_sums_match_a_plain_count_at_scale(tmp_path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forensics.events import EVENT_SCHEMA
    n = 200_000
    rng = np.random.default_rng(1)
    src = rng.integers(0, 50, n)
    cols = {f.name: pa.nulls(n, f.type) for f in EVENT_SCHEMA}
    cols.update(event_id=pa.array([f"e{i:08d}" for i in range(n)]), timestamp=pa.array(T + np.arange(n), pa.int64()),
                src_ip=pa.array([f"10.0.0.{s}" for s in src]), dst_ip=pa.array(["8.8.8.8"] * n),
                bytes_out=pa.array(rng.integers(0, 1000, n), pa.int64()), data_type=pa.array(["network:flow"] * n),
                tags=pa.array([[]] * n, pa.list_(pa.string())), attack=pa.array([[]] * n, pa.list_(pa.string())),
                attributes=pa.array(["{}"] * n))
    pq.write_table(pa.table(cols, schema=EVENT_SCHEMA), tmp_path / "big.parquet")
    df = edge_table(case_connection(None, [str(tmp_path / "big.parquet")]))
    assert len(df) == 50 and df["count"].sum() == n
    for s in (0, 17, 49):
        row = df[df.src == f"ip:10.0.0.{s}"].iloc[0]
        assert row["count"] == int((src == s).sum())
        assert row["bytes_out"] == int(cols["bytes_out"].to_numpy()[src == s].sum())


def test_exports_parse_and_are_deterministic(tmp_path):
    files = _case(tmp_path)
    g = build_graph(case_connection(None, files))
    j = to_json(g)
    assert j == to_json(build_graph(case_connection(None, files)))
    data = json.loads(j)
    assert {n["id"] for n in data["nodes"]} == set(g.nodes)
    g2 = nx.node_link_graph(data, edges="links", multigraph=True, directed=True)
    assert g2.number_of_edges() == g.number_of_edges()
    root = ET.fromstring(to_graphml(g))
    assert len(root.findall(".//{http://graphml.graphdrawing.org/xmlns}edge")) == g.number_of_edges()
    dot = to_dot(g)
    assert dot.startswith("digraph") and dot.count("->") == g.number_of_edges()


def _reference_process_edges(rows):
    """Plain-Python process resolution, event by event: the latest start on the same host
    (case-insensitive) and pid at or before the event, else unknown start."""
    starts: dict[tuple[str, int], list[int]] = {}
    for r in rows:
        if r["start"]:
            starts.setdefault((r["host"].lower(), r["pid"]), []).append(r["t"])
    out: dict[tuple[str, str, str], list] = {}
    for r in rows:
        before = [s for s in starts.get((r["host"].lower(), r["pid"]), []) if s <= r["t"]]
        proc = E.process_id(r["host"], r["pid"], max(before) if before else None)
        links = [(E.host_id(r["host"]), proc, "runs")]
        if r["user"]:
            links.append((E.account_id(r["user"]), proc, "started"))
        if r["dst"]:
            links.append((proc, E.RESOLVERS["ip"](r["dst"]), "connects_to"))
        for k in links:
            out.setdefault(k, []).append((r["t"], r["eid"]))
    return {k: (len(v), min(v)[0], max(v)[0], [e for _, e in sorted(v)[:5]]) for k, v in out.items()}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["WS01", "ws01", "WS02.corp.local"]), st.sampled_from([4, 8]),
                          st.integers(0, 40), st.booleans(), st.sampled_from([None, "CORP\\bob", "bob"]),
                          st.sampled_from([None, "8.8.8.8", "::ffff:10.0.0.7"])), min_size=1, max_size=40))
def test_process_edges_match_event_by_event_resolution(tmp_path_factory, evs):
    """Pid reuse, host spellings and the one-pass as-of grouping agree with a per-event reference."""
    tmp = tmp_path_factory.mktemp("proc")
    rows = [dict(host=h, pid=pid, t=T + dt, start=start, user=user, dst=dst, id=f"e{i:03d}")
            for i, (h, pid, dt, start, user, dst) in enumerate(evs)]
    events = [Event(r["t"], "windows:evtx:record" if r["start"] else "windows:sysmon:network", "p", r["id"], host=r["host"],
                    process_pid=r["pid"], user=r["user"], dst_ip=r["dst"], process_name="x.exe",
                    tags=["application_execution"] if r["start"] else []) for r in rows]
    f = write(tmp, events)
    con = case_connection(None, [f])
    ids = dict(con.execute("SELECT locator, event_id FROM events").fetchall())
    g = build_graph(con)
    for r in rows:
        r["eid"] = ids[r["id"]]
    want = _reference_process_edges(rows)
    got = {(u, v, k): (a["count"], a["first_seen"], a["last_seen"], a["sample_event_ids"])
           for u, v, k, a in g.edges(keys=True, data=True) if k in ("runs", "started") or u.startswith("process:")}
    assert got == want


def test_host_filter_and_time_bounds_with_clock_offsets(tmp_path):
    from case_store.eventstore import EventQuery
    from forensics.timecorrect import query

    a = write(tmp_path, [Event(T + i * 1_000_000, "x", f"a{i}", "", host=h) for i, h in
                         enumerate(["WS01", "ws01.corp.local", "WS02", "WS01$", "WS03"])], "a")
    b = write(tmp_path, [Event(T + i * 1_000_000, "x", f"b{i}", "", host="WS01") for i in range(5)], "b", sha="b" * 64)
    page, total = query(None, EventQuery(limit=100), files=[a, b], offsets={}, host_entity="WS01.CORP.LOCAL")
    assert total == 8 and set(page.host) == {"WS01", "ws01.corp.local", "WS01$"}
    # evidence b's clock was 10 s fast (offset -10 s), a's is right: a window on corrected time must
    # find b's events although their stored times lie outside it
    for offs in ({"b" * 64: -10_000_000}, {"b" * 64: 10_000_000}, {"a" * 64: -3_000_000, "b" * 64: -10_000_000}):
        lo, hi = T - 20_000_000, T + 2_000_000
        page, total = query(None, EventQuery(start_us=lo, end_us=hi, limit=100), files=[a, b], offsets=offs)
        con = case_connection(None, [a, b], offsets=offs)
        want = con.execute("SELECT count(*) FROM events WHERE timestamp BETWEEN ? AND ?", [lo, hi]).fetchone()[0]
        assert total == want == len(page)
        assert page.timestamp.between(lo, hi).all()
        assert (page.timestamp - page.original_timestamp).isin([offs.get("a" * 64, 0), offs.get("b" * 64, 0)]).all()


def test_empty_case_gives_an_empty_graph(tmp_path):
    g = build_graph(case_connection(None, []))
    assert g.number_of_nodes() == 0 and json.loads(to_json(g))["links"] == []
    f = write(tmp_path, [Event(T, "text:log", "no entities here", "")])
    assert build_graph(case_connection(None, [f])).number_of_nodes() == 0


@pytest.mark.parametrize("offsets, day_counts_max", [({}, 10_000_000), ({"b" * 64: -7_200_000_000}, 10_000_000), ({}, 1)])
def test_page_query_matches_a_plain_query(tmp_path, monkeypatch, offsets, day_counts_max):
    """The timeline page (day counts, windowed key search, two-step row read) returns exactly what
    one plain ORDER BY ... LIMIT/OFFSET query and count(*) return, for many filters and pages."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from case_store.eventstore import EventQuery
    from forensics import timecorrect
    from forensics.events import EVENT_SCHEMA

    day = 86_400_000_000
    rng = np.random.default_rng(3)
    files = []
    for k, sha in enumerate(("a" * 64, "b" * 64)):
        n = 20_000
        ts = T - 2 * day + rng.integers(0, 9 * day, n)
        ts[:50] = T  # ties on time: the event id decides
        cols = {f.name: pa.nulls(n, f.type) for f in EVENT_SCHEMA}
        cols.update(event_id=pa.array([f"{k}-{i:06d}" for i in range(n)]), timestamp=pa.array(ts, pa.int64()),
                    evidence_sha256=pa.array([sha] * n), data_type=pa.array(rng.choice(["x:a", "x:b", "y:c"], n)),
                    host=pa.array(rng.choice(["WS01", "ws01.corp.local", "WS02", None], n)),
                    tags=pa.array([[t] if t else [] for t in rng.choice(["login", "login_failed", ""], n)], pa.list_(pa.string())),
                    message=pa.array([("late " if t > T + 5 * day else "m ") + str(i % 97) for i, t in enumerate(ts)]),
                    attributes=pa.array(["{}"] * n))
        p = tmp_path / f"{k}.parquet"
        pq.write_table(pa.table(cols, schema=EVENT_SCHEMA), p)
        files.append(str(p))
    monkeypatch.setattr(timecorrect, "DAY_COUNTS_MAX", day_counts_max)  # 1: too fragmented, totals by scanning
    con = case_connection(None, files, offsets=offsets)
    cases = [dict(), dict(start_us=T - day // 3, end_us=T + 5 * day + 17), dict(start_us=T, end_us=T, limit=10, offset=20),
             dict(tag="login_failed", start_us=T - 2 * day, end_us=T + 6 * day - 1), dict(data_type="x:*", offset=300),
             dict(text="m 5", start_us=T, end_us=T + 3 * day), dict(tag="login", offset=100_000),
             dict(text="late 1"), dict(text="late", tag="login", offset=50)]  # matches only at the end
    for i, kw in enumerate(cases):
        for host in (None, "ws01"):
            q = EventQuery(**{"limit": 100, **kw})
            page, total = timecorrect.query(None, q, files=files, offsets=offsets, host_entity=host)
            where, params = q.where()
            if host:
                where = (where + " AND " if where else " WHERE ") + "host IN ('WS01', 'ws01.corp.local')"
            want_total = con.execute(f"SELECT count(*) FROM events{where}", params).fetchone()[0]
            want = [r[0] for r in con.execute(f"SELECT event_id FROM events{where} ORDER BY timestamp, event_id "
                                              f"LIMIT {q.limit} OFFSET {q.offset}", params).fetchall()]
            assert (total, list(page.event_id)) == (want_total, want), (kw, host)


def test_cc_private_prefix_macro_equals_the_regex_reference():
    """The prefix-test `cc_private` answers as the two-regex reference on addresses and near misses."""
    import random

    import duckdb

    from forensics.entities import CC_PRIVATE_REGEX, install_macros, is_private

    con = duckdb.connect()
    install_macros(con)
    con.execute(f"CREATE MACRO cc_private_ref(x) AS {CC_PRIVATE_REGEX}")
    vals = ["10.0.0.1", "10.", "192.168.1.1", "172.16.0.1", "172.31.9.9", "172.32.0.1", "172.15.0.1", "172.1.0.1", "172.160.0.1",
            "127.0.0.1", "169.254.1.1", "::ffff:10.0.0.1", "::FFFF:10.0.0.1", "::ffff:8.8.8.8", "::1", "::1 ", "fc00::1",
            "FD12:3456::1", "fe80::1", "FE80::1", "feb0:1::", "fec0::1", "8.8.8.8", None, "", "172.2x.0.1", "١٠.0.0.1", "::ffff:172.20.1.1"]
    rng = random.Random(3)
    alph = "0123456789.:abcdefABCDEFx١ "
    vals += ["".join(rng.choice(alph) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    vals += [p + "".join(rng.choice(alph) for _ in range(rng.randint(0, 8)))
             for p in ("10.", "192.168.", "172.1", "172.2", "172.3", "127.", "169.254.", "::ffff:", "fc", "fd", "fe8", "feb", "::1")
             for _ in range(200)]
    con.execute("CREATE TABLE v(x VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[v] for v in vals])
    assert con.execute("SELECT count(*) FROM v WHERE cc_private(x) IS DISTINCT FROM cc_private_ref(x)").fetchone()[0] == 0
    for ip in ("10.1.2.3", "172.20.0.1", "192.168.0.1", "8.8.8.8", "203.0.113.5", "fe80::1", "::1"):
        assert con.execute("SELECT cc_private(?)", [ip]).fetchone()[0] == is_private(ip)


def test_bulk_edge_build_equals_networkx_add_edges_from(tmp_path):
    """The graph written straight into networkx's dicts is the one add_edges_from builds (nodes, edges, keys,
    attributes, iteration order), on a case with parallel relations, byte sums and null byte columns."""
    import networkx as nx
    import pyarrow as pa

    from forensics import graph as G

    files = _case(tmp_path)
    con = case_connection(None, files)
    edges = G._edge_arrow(con)
    names = G.aliases(con)
    fast = build_graph(con)
    ref = nx.MultiDiGraph()
    ref.add_nodes_from(G._nodes(edges.drop_columns(["sample_event_ids"]).to_pandas(), names))
    rows = edges.to_pylist()
    ref.add_edges_from((r["src"], r["dst"], r["relation"],
                        {"relation": r["relation"], "first_seen": r["first_seen"], "last_seen": r["last_seen"], "count": r["count"],
                         "sample_event_ids": r["sample_event_ids"],
                         **({"bytes_out": r["bytes_out"]} if r["bytes_out"] is not None else {}),
                         **({"bytes_in": r["bytes_in"]} if r["bytes_in"] is not None else {})}) for r in rows)
    assert list(fast.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(fast.edges(keys=True, data=True)) == list(ref.edges(keys=True, data=True))
    assert list(fast.pred["ip:8.8.8.8"].items()) == list(ref.pred["ip:8.8.8.8"].items())
    assert nx.utils.graphs_equal(fast, ref) and fast.number_of_edges() == len(rows) > 5
    # a repeated (u, v, key) updates the edge as add_edge does; an end that is not yet a node is added
    extra = [("ip:10.0.0.9", "ip:8.8.8.8", "connects_to", {"count": 1}), ("new:a", "new:b", "x", {"count": 2})]
    G._add_edges(fast, iter(extra))
    ref.add_edges_from(extra)
    assert list(fast.edges(keys=True, data=True)) == list(ref.edges(keys=True, data=True))
    assert list(fast.nodes(data=True)) == list(ref.nodes(data=True))
    # null sample lists take the element-wise path
    t = pa.table({"src": ["a"], "dst": ["b"], "relation": ["r"], "first_seen": [1], "last_seen": [2], "count": [3],
                  "sample_event_ids": pa.array([None], pa.list_(pa.string())), "bytes_out": [None], "bytes_in": [4]})
    assert list(G._edges(t)) == [("a", "b", "r", {"relation": "r", "first_seen": 1, "last_seen": 2, "count": 3,
                                                   "sample_event_ids": None, "bytes_in": 4})]
