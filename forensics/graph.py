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

import io
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import networkx as nx
import pandas as pd

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


def _process_links() -> str:
    """Processes: host + pid + start time, the start found by an as-of join on creation events."""
    return f"""
        WITH pe AS (
            SELECT lower(host) AS h, host, process_pid AS pid, process_name, "user", dst_ip, file_sha256,
                   timestamp, event_id, bytes_out, bytes_in
            FROM events WHERE process_pid IS NOT NULL AND host IS NOT NULL),
        starts AS (
            SELECT DISTINCT lower(host) AS h, process_pid AS pid, timestamp AS start
            FROM events WHERE process_pid IS NOT NULL AND host IS NOT NULL
              AND (list_contains(tags, 'application_execution') OR data_type ILIKE '%process%creat%')),
        resolved AS (
            SELECT pe.*, pe.host || '\x1f' || pe.pid || '\x1f' || coalesce(CAST(starts.start AS VARCHAR), '') AS proc
            FROM pe ASOF LEFT JOIN starts ON pe.h = starts.h AND pe.pid = starts.pid AND pe.timestamp >= starts.start),
        links AS (
            SELECT 'host' AS sk, host AS s, 'process' AS dk, proc AS d, 'runs' AS relation, * FROM resolved
            UNION ALL SELECT 'account', "user", 'process', proc, 'started', * FROM resolved WHERE "user" IS NOT NULL
            UNION ALL SELECT 'process', proc, 'ip', dst_ip, 'connects_to', * FROM resolved WHERE dst_ip IS NOT NULL
            UNION ALL SELECT 'process', proc, 'file', file_sha256, 'has_file', * FROM resolved WHERE file_sha256 IS NOT NULL)
        SELECT sk, s, dk, d, relation, min(timestamp) AS first_seen, max(timestamp) AS last_seen, count(*) AS n,
               arg_min({{'t': timestamp, 'e': event_id}}, (timestamp, event_id), {SAMPLE_IDS}) AS sample,
               sum(bytes_out) AS bytes_out, sum(bytes_in) AS bytes_in,
               arg_min(process_name, timestamp) AS label
        FROM links GROUP BY sk, s, dk, d, relation"""


def edge_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per (source entity, target entity, relation), aggregated set-wise."""
    parts = []
    for i, link in enumerate(LINKS):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _g{i} AS {_phase1(link)}")
        parts.append(f"SELECT * FROM _g{i}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _g{len(LINKS)} AS {_process_links()}")
    parts.append(f"SELECT * FROM _g{len(LINKS)}")
    union = " UNION ALL ".join(parts)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _graw AS {union}")
    register_entity_map(con, "SELECT sk AS kind, s AS raw FROM _graw UNION SELECT dk, d FROM _graw", "_gmap")
    df = con.execute(f"""
        SELECT ms.id AS src, md.id AS dst, relation, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               sum(n)::BIGINT AS count,
               list_transform(list_sort(flatten(list(sample)))[1:{SAMPLE_IDS}], lambda x: x.e) AS sample_event_ids,
               sum(bytes_out)::BIGINT AS bytes_out, sum(bytes_in)::BIGINT AS bytes_in, min(label) AS label
        FROM _graw g
        JOIN _gmap ms ON ms.kind = g.sk AND ms.raw = g.s
        JOIN _gmap md ON md.kind = g.dk AND md.raw = g.d
        WHERE ms.id IS NOT NULL AND md.id IS NOT NULL AND ms.id <> md.id
        GROUP BY ms.id, md.id, relation ORDER BY src, dst, relation""").df()
    for i in range(len(LINKS) + 1):
        con.execute(f"DROP TABLE IF EXISTS _g{i}")
    con.execute("DROP TABLE IF EXISTS _graw")
    return df


def aliases(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """How each host / account entity was spelled across the evidence."""
    register_entity_map(con, """SELECT 'host' AS kind, host AS raw FROM (SELECT DISTINCT host FROM events)
                                UNION ALL SELECT 'account', "user" FROM (SELECT DISTINCT "user" FROM events)""", "_amap")
    rows = con.execute("SELECT id, list_sort(list(DISTINCT raw)) FROM _amap WHERE id IS NOT NULL GROUP BY id").fetchall()
    return {k: v[:50] for k, v in rows}


def build_graph(con: duckdb.DuckDBPyConnection) -> nx.MultiDiGraph:
    """The entity graph over a connection whose `events` view holds the case (see timecorrect.case_connection)."""
    edges = edge_table(con)
    names = aliases(con)
    g = nx.MultiDiGraph()
    labels = dict(zip(edges.loc[edges.label.notna(), "dst"], edges.loc[edges.label.notna(), "label"]))
    ends = pd.concat([
        edges[["src", "first_seen", "last_seen", "count"]].rename(columns={"src": "id"}),
        edges[["dst", "first_seen", "last_seen", "count"]].rename(columns={"dst": "id"}),
    ]).groupby("id").agg(first_seen=("first_seen", "min"), last_seen=("last_seen", "max"), events=("count", "sum"))
    for node_id, r in ends.sort_index().iterrows():
        kind, _, key = node_id.partition(":")
        attrs = {"kind": kind, "key": key, "first_seen": int(r.first_seen), "last_seen": int(r.last_seen),
                 "edge_events": int(r.events), "aliases": names.get(node_id, [])}
        if kind == "process":
            attrs["label"] = f"{labels.get(node_id) or '?'} (pid {key.split(':')[1]})"
        elif kind == "ip":
            attrs["internal"] = is_private(key)
            attrs["label"] = key
        else:
            attrs["label"] = key
        g.add_node(node_id, **attrs)
    for r in edges.itertuples(index=False):
        attrs = {"relation": r.relation, "first_seen": int(r.first_seen), "last_seen": int(r.last_seen),
                 "count": int(r.count), "sample_event_ids": list(r.sample_event_ids)}
        if pd.notna(r.bytes_out):
            attrs["bytes_out"] = int(r.bytes_out)
        if pd.notna(r.bytes_in):
            attrs["bytes_in"] = int(r.bytes_in)
        g.add_edge(r.src, r.dst, key=r.relation, **attrs)
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
