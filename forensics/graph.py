"""The case's entity graph: entities as nodes, aggregated event links as edges.

Millions of events never become millions of networkx objects. DuckDB does
the work set-wise in two phases:

1. each link kind ("account logged on to host", "IP connected to IP", …) is a
   projection of the event table; events are grouped by the *raw* values they
   link (few distinct combinations), keeping count, first/last time, byte sums
   and the 5 earliest event ids;
2. the resolution rules of `forensics.entities` turn those distinct raw
   values into entity ids, and the groups are summed again per
   (source entity, target entity, relation).

Only the result (one row per edge) reaches Python. Edge attributes: relation,
first_seen, last_seen (int µs UTC), count (events), sample_event_ids (≤ 5,
earliest first), bytes_out / bytes_in (flows).
"""
from __future__ import annotations

import gc
import io
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import networkx as nx
import pandas as pd
import pyarrow as pa

from forensics.entities import is_private, register_entity_map
from forensics.events import iso_utc

SAMPLE_IDS = 5

_LOGIN = "list_contains(tags, 'login')"
_FAILED = "list_contains(tags, 'login_failed')"
_AUTH = f"({_LOGIN} OR {_FAILED})"
_RULE = ("coalesce(json_extract_string(attributes, '$.rule_title'), json_extract_string(attributes, '$.rule_name'), "
         "json_extract_string(attributes, '$.rule'), json_extract_string(attributes, '$.rule_id'))")
_SERVICE = "coalesce(json_extract_string(attributes, '$.service_name'), json_extract_string(attributes, '$.service'))"


@dataclass(frozen=True)
class Link:
    """One kind of edge: how to read (raw source, raw target, relation) off an event.

    `src_kind` / `dst_kind` name the `forensics.entities.RESOLVERS` rule applied
    to the raw value in phase 2.
    """

    src: str
    src_kind: str
    dst: str
    dst_kind: str
    relation: str
    where: str


LINKS: tuple[Link, ...] = (
    Link('"user"', "account", "host", "host",
         f"CASE WHEN {_FAILED} THEN 'logon_failed' WHEN {_LOGIN} THEN 'logon' ELSE 'acted_on' END",
         '"user" IS NOT NULL AND host IS NOT NULL'),
    Link("src_ip", "ip", "host", "host",
         f"CASE WHEN {_FAILED} THEN 'logon_failed_from' ELSE 'logon_from' END", f"src_ip IS NOT NULL AND host IS NOT NULL AND {_AUTH}"),
    Link("src_ip", "ip", '"user"', "account",
         f"CASE WHEN {_FAILED} THEN 'failed_as' ELSE 'authenticated_as' END", f'src_ip IS NOT NULL AND "user" IS NOT NULL AND {_AUTH}'),
    # a host's own traffic (Sysmon 3, memory netscan): the address it used is linked to it
    Link("host", "host", "src_ip", "ip", "'uses_address'",
         f"host IS NOT NULL AND src_ip IS NOT NULL AND dst_ip IS NOT NULL AND NOT {_AUTH}"),
    Link("src_ip", "ip", "dst_ip", "ip", "'connects_to'", "src_ip IS NOT NULL AND dst_ip IS NOT NULL"),
    Link("coalesce(host, src_ip)", "host", "domain", "domain",
         "CASE WHEN data_type ILIKE '%dns%' THEN 'dns_query' ELSE 'contacts' END", "domain IS NOT NULL AND coalesce(host, src_ip) IS NOT NULL"),
    Link("coalesce(host, src_ip)", "host", "url", "url", "'requests'", "url IS NOT NULL AND coalesce(host, src_ip) IS NOT NULL"),
    Link("coalesce(host, dst_ip, src_ip)", "host", "file_sha256", "file",
         "'has_file'", "file_sha256 IS NOT NULL AND coalesce(host, dst_ip, src_ip) IS NOT NULL"),
    Link("host", "host", f"host || '\x1f' || {_SERVICE}", "service",
         "CASE WHEN list_contains(tags, 'service_installation') THEN 'installed_service' ELSE 'service' END",
         f"host IS NOT NULL AND attributes LIKE '%\"service%' AND {_SERVICE} IS NOT NULL"),
    Link(_RULE, "rule", "coalesce(host, dst_ip, src_ip)", "host", "'detected_on'",
         f"attributes LIKE '%\"rule%' AND {_RULE} IS NOT NULL AND coalesce(host, dst_ip, src_ip) IS NOT NULL"),
)

def _phase1(link: Link) -> str:
    return f"""
        SELECT '{link.src_kind}' AS sk, {link.src} AS s, '{link.dst_kind}' AS dk, {link.dst} AS d, {link.relation} AS relation,
               min(timestamp) AS first_seen, max(timestamp) AS last_seen, count(*) AS n,
               arg_min({{'t': timestamp, 'e': event_id}}, (timestamp, event_id), {SAMPLE_IDS}) AS sample,
               sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in, NULL::VARCHAR AS label
        FROM events WHERE {link.where} GROUP BY ALL"""


def _process_fine(con: duckdb.DuckDBPyConnection) -> None:
    """Process events resolved to their process and grouped by everything a process link reads: `_gproc`.

    Processes are host + pid + start time, the start found by an as-of join on
    creation events. Grouping by (process, account, address, file) first keeps
    this a few rows per process, so the as-of join runs once and the four link
    kinds are cheap re-aggregations of the small table (see `_process_links`).
    """
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _gproc AS
        WITH pe AS (
            SELECT lower(host) AS h, host, process_pid AS pid, process_name, "user", dst_ip, file_sha256,
                   timestamp, event_id, bytes_out, bytes_in
            FROM events WHERE process_pid IS NOT NULL AND host IS NOT NULL),
        starts AS (
            SELECT DISTINCT lower(host) AS h, process_pid AS pid, timestamp AS start
            FROM events WHERE process_pid IS NOT NULL AND host IS NOT NULL
              AND (list_contains(tags, 'application_execution') OR data_type ILIKE '%process%creat%'))
        SELECT pe.host, pe.pid, starts.start, "user", dst_ip, file_sha256,
               min(timestamp) AS first_seen, max(timestamp) AS last_seen, count(*) AS n,
               arg_min({{'t': timestamp, 'e': event_id}}, (timestamp, event_id), {SAMPLE_IDS}) AS sample,
               sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
               arg_min(process_name, (timestamp, event_id)) AS label
        FROM pe ASOF LEFT JOIN starts ON pe.h = starts.h AND pe.pid = starts.pid AND pe.timestamp >= starts.start
        GROUP BY pe.host, pe.pid, starts.start, "user", dst_ip, file_sha256""")


def _process_links() -> list[str]:
    """The four process link kinds (host runs, account started, connects to, has file) over `_gproc`,
    merging the earliest-event samples the same way phase 2 does."""
    def link(sk: str, s: str, dk: str, d: str, relation: str, label: str, where: str) -> str:
        return f"""
            SELECT '{sk}' AS sk, {s} AS s, '{dk}' AS dk, {d} AS d, '{relation}' AS relation,
                   min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(n)::BIGINT AS n,
                   list_sort(flatten(list(sample)))[1:{SAMPLE_IDS}] AS sample,
                   sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in, {label} AS label
            FROM _gproc WHERE {where} GROUP BY {s}, {d}"""

    return [link("host", "host", "process", _PROC, "runs", "arg_min(label, first_seen)", "true"),
            link("account", '"user"', "process", _PROC, "started", "NULL", '"user" IS NOT NULL'),
            link("process", _PROC, "ip", "dst_ip", "connects_to", "NULL", "dst_ip IS NOT NULL"),
            link("process", _PROC, "file", "file_sha256", "has_file", "NULL", "file_sha256 IS NOT NULL")]


# how phase 1 spells a process (forensics.entities resolves it): host, pid, start µs (empty if unseen)
_PROC = "(host || '\x1f' || pid || '\x1f' || coalesce(CAST(start AS VARCHAR), ''))"


def _raw_links(con: duckdb.DuckDBPyConnection) -> None:
    """Phase 1 into the temp table `_graw`: one row per (raw source, raw target, relation)."""
    _process_fine(con)
    parts = [_phase1(link) for link in LINKS] + _process_links()
    con.execute("CREATE OR REPLACE TEMP TABLE _graw AS " + " UNION ALL ".join(f"({p})" for p in parts))
    con.execute("DROP TABLE _gproc")


def edge_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per (source entity, target entity, relation), aggregated set-wise."""
    return _edge_arrow(con).to_pandas()


def _edge_arrow(con: duckdb.DuckDBPyConnection) -> pa.Table:
    _raw_links(con)
    try:
        return _resolved_edges(con)
    finally:
        con.execute("DROP TABLE IF EXISTS _graw")
        con.execute("DROP TABLE IF EXISTS _gmap")


def _resolved_edges(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Phase 2: raw values -> entity ids (once per distinct spelling), groups summed per entity pair."""
    register_entity_map(con, "SELECT sk AS kind, s AS raw FROM _graw UNION SELECT dk, d FROM _graw", "_gmap")
    return con.sql(f"""
        SELECT ms.id AS src, md.id AS dst, relation, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               sum(n)::BIGINT AS count,
               list_transform(list_sort(flatten(list(sample)))[1:{SAMPLE_IDS}], lambda x: x.e) AS sample_event_ids,
               sum(bytes_out)::BIGINT AS bytes_out, sum(bytes_in)::BIGINT AS bytes_in, min(label) AS label
        FROM _graw g
        JOIN _gmap ms ON ms.kind = g.sk AND ms.raw = g.s
        JOIN _gmap md ON md.kind = g.dk AND md.raw = g.d
        WHERE ms.id IS NOT NULL AND md.id IS NOT NULL AND ms.id <> md.id
        GROUP BY ms.id, md.id, relation ORDER BY src, dst, relation""").to_arrow_table()


def aliases(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """How each host / account entity was spelled across the evidence."""
    register_entity_map(con, """SELECT 'host' AS kind, host AS raw FROM (SELECT DISTINCT host FROM events)
                                UNION ALL SELECT 'account', "user" FROM (SELECT DISTINCT "user" FROM events)""", "_amap")
    rows = con.execute("SELECT id, list_sort(list(DISTINCT raw))[1:50] FROM _amap WHERE id IS NOT NULL GROUP BY id").fetchall()
    con.execute("DROP TABLE IF EXISTS _amap")
    return dict(rows)


def _nodes(edges: pd.DataFrame, names: dict[str, list[str]]) -> list[tuple[str, dict]]:
    """Node attributes, computed column-wise: span and event count over the node's edges, kind, label."""
    if edges.empty:
        return []
    ends = pd.concat([
        edges[["src", "first_seen", "last_seen", "count"]].rename(columns={"src": "id"}),
        edges[["dst", "first_seen", "last_seen", "count"]].rename(columns={"dst": "id"}),
    ]).groupby("id", sort=True).agg(first_seen=("first_seen", "min"), last_seen=("last_seen", "max"), events=("count", "sum"))
    ids = ends.index.to_series()
    parts = ids.str.partition(":")
    kind, key = parts[0], parts[2]
    label = key.copy()
    is_proc = kind == "process"
    if is_proc.any():
        named = edges.loc[edges.label.notna()].drop_duplicates("dst").set_index("dst").label
        pname = ids[is_proc].map(named).fillna("?")
        pid = key[is_proc].str.split(":").str[1]
        label[is_proc] = pname + " (pid " + pid + ")"
    is_ip = (kind == "ip").to_numpy()
    nodes = []
    for i, (n, k, kk, lab, fs, ls, ev) in enumerate(zip(ids.tolist(), kind.tolist(), key.tolist(), label.tolist(),
                                                       ends.first_seen.tolist(), ends.last_seen.tolist(), ends.events.tolist())):
        attrs = {"kind": k, "key": kk, "first_seen": int(fs), "last_seen": int(ls), "edge_events": int(ev),
                 "aliases": names.get(n, []), "label": lab}
        if is_ip[i]:
            attrs["internal"] = is_private(kk)
        nodes.append((n, attrs))
    return nodes


def _edges(edges: pa.Table):
    """(u, v, key, attrs) tuples; byte sums only on edges that carry traffic.

    The sample id lists are read as one flat column sliced by the list offsets:
    converting a list column element by element costs more than the rest of
    the edge put together.
    """
    cols = [edges.column(c).to_pylist() for c in ("src", "dst", "relation", "first_seen", "last_seen", "count",
                                                   "bytes_out", "bytes_in")]
    samples = edges.column("sample_event_ids").combine_chunks()
    if samples.null_count:
        ids = samples.to_pylist()
    else:
        flat, offs = samples.values.to_pylist(), samples.offsets.to_pylist()
        ids = [flat[a:b] for a, b in zip(offs, offs[1:])]
    for u, v, rel, fs, ls, n, bo, bi, sample in zip(*cols, ids):
        attrs = {"relation": rel, "first_seen": fs, "last_seen": ls, "count": n, "sample_event_ids": sample}
        if bo is not None:
            attrs["bytes_out"] = bo
        if bi is not None:
            attrs["bytes_in"] = bi
        yield u, v, rel, attrs


def _add_edges(g: nx.MultiDiGraph, edges) -> None:
    """What `g.add_edges_from(edges)` builds, written straight into networkx's adjacency dicts.

    add_edges_from goes through add_edge and two adjacency views per edge,
    most of the build at 10^5-10^6 edges. Here each (u, v, key) is unique (the
    edge table is grouped by it) and both ends are usually nodes already, so
    an edge is two dict look-ups and one insert. Same dicts, same order
    (tests/test_graph_entities.py compares with add_edges_from).
    """
    succ, pred = g._succ, g._pred
    for u, v, key, attrs in edges:
        if u not in succ:
            g.add_node(u)
        if v not in succ:
            g.add_node(v)
        keydict = succ[u].get(v)
        if keydict is None:
            keydict = succ[u][v] = pred[v][u] = g.edge_key_dict_factory()
        if key in keydict:
            keydict[key].update(attrs)
        else:
            datadict = keydict[key] = g.edge_attr_dict_factory()
            datadict.update(attrs)
    clear = getattr(nx, "_clear_cache", None)
    if clear:
        clear(g)


def build_graph(con: duckdb.DuckDBPyConnection) -> nx.MultiDiGraph:
    """The entity graph over a connection whose `events` view holds the case (see timecorrect.case_connection).

    Nodes and edges are added in bulk, in sorted order, from the aggregated
    edge table: Python touches each edge once, never each event.
    """
    edges = _edge_arrow(con)
    names = aliases(con)
    g = nx.MultiDiGraph()
    # a million new dicts and lists, none of them garbage: the cyclic collector would walk the
    # growing graph again and again (over half the Python time) to free nothing
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        g.add_nodes_from(_nodes(edges.drop_columns(["sample_event_ids"]).to_pandas(), names))
        _add_edges(g, _edges(edges))
    finally:
        if was_enabled:
            gc.enable()
    return g


def case_graph(case_id: str, files: list[str] | None = None) -> nx.MultiDiGraph:
    from forensics.timecorrect import case_connection

    con = case_connection(case_id, files)
    try:
        return build_graph(con)
    finally:
        con.close()


# --- export ---------------------------------------------------------------------------

def to_json(g: nx.MultiDiGraph) -> str:
    """node-link JSON, nodes and links sorted so the same case gives the same bytes."""
    data = nx.node_link_data(g, edges="links")
    data["nodes"] = sorted(data["nodes"], key=lambda n: n["id"])
    data["links"] = sorted(data["links"], key=lambda e: (e["source"], e["target"], e["key"]))
    for e in data["links"]:
        e["first_seen_utc"], e["last_seen_utc"] = iso_utc(e["first_seen"]), iso_utc(e["last_seen"])
    return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1)


def to_graphml(g: nx.MultiDiGraph) -> str:
    """GraphML (lists become JSON text: GraphML attributes are scalars)."""
    h = nx.MultiDiGraph()
    for n, a in sorted(g.nodes(data=True)):
        h.add_node(n, **{k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for k, v in a.items()})
    for u, v, k, a in sorted(g.edges(keys=True, data=True), key=lambda e: (e[0], e[1], e[2])):
        h.add_edge(u, v, key=k, **{x: json.dumps(y) if isinstance(y, list) else y for x, y in a.items()})
    buf = io.BytesIO()
    nx.write_graphml(h, buf, encoding="utf-8")
    return buf.getvalue().decode("utf-8")


def _dot_q(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


_SHAPES = {"host": "box", "account": "ellipse", "process": "component", "ip": "diamond", "domain": "hexagon",
           "url": "note", "file": "folder", "service": "cds", "rule": "octagon"}


def to_dot(g: nx.MultiDiGraph) -> str:
    """Graphviz DOT, written directly (no pydot dependency)."""
    out = ["digraph cyberclaim {", "  rankdir=LR;", "  node [fontsize=10];"]
    for n, a in sorted(g.nodes(data=True)):
        out.append(f"  {_dot_q(n)} [label={_dot_q(a.get('kind', '') + ': ' + str(a.get('label', n)))}, "
                   f"shape={_SHAPES.get(a.get('kind'), 'ellipse')}];")
    for u, v, k, a in sorted(g.edges(keys=True, data=True), key=lambda e: (e[0], e[1], e[2])):
        out.append(f"  {_dot_q(u)} -> {_dot_q(v)} [label={_dot_q(str(k) + ' ×' + str(a['count']))}];")
    out.append("}")
    return "\n".join(out) + "\n"


EXPORTERS = {"json": to_json, "graphml": to_graphml, "dot": to_dot}


def export(g: nx.MultiDiGraph, fmt: str, dest: Path | None = None) -> str:
    text = EXPORTERS[fmt](g)
    if dest is not None:
        dest.write_text(text, encoding="utf-8")
    return text
