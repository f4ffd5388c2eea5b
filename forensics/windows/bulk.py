"""EVTX records normalized in bulk: a batch of the evtx package's JSON strings → event columns.

forensics.windows.normalize turns one record into one Event in Python, which costs
several times what the evtx package spends parsing the record. Here a whole batch
is normalized at once in DuckDB, driven by the same declarative table
(forensics.windows.eventmap): System fields and EventData are pulled out with
DuckDB's JSON functions, entities are picked with one CASE per entity built from
the table, `attributes` is written as canonical JSON by SQL, messages are the
table's templates compiled to SQL concatenations. Value conversions with Python
semantics (IP addresses, integers as Windows writes them, user names, lower-casing)
run once per distinct value with the very functions normalize.py uses.

The result must be the bytes normalize() gives (tests/test_evtx.py compares the
stored tables for every corpus file). So a record whose shape is anything but the
usual one - UserData, nested EventData, EventID with qualifiers, odd types,
duplicate names, a timestamp that is not plain ISO - is flagged `ok = false` and
the caller normalizes it the old way, one by one.

Why the JSON parse agrees with orjson/json.loads: the strings come from the evtx
package's serde_json renderer (always valid JSON, no NaN, no lone surrogates);
DuckDB is more lenient than orjson only on input that renderer never writes, and
anything with a surrogate escape or a non-integer number is sent the old way.
"""
from __future__ import annotations

import json
import string
from functools import lru_cache
from typing import Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from forensics.events import canonical_json
from forensics.windows import normalize as wn
from forensics.windows.eventmap import TABLE, Spec
from forensics.windows.fields import RESERVED, as_int

ENTITY_ROLES = ("user", "pid", "image", "cmdline", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "domain",
                "file_path")
# what str.isspace() calls whitespace (scalar(): blank text is absent text); a test checks the list
WHITESPACE = (0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
              0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
_WS = "".join(f"\\x{{{c:x}}}" for c in WHITESPACE)  # as an RE2 character class
_SYS_PATHS = ("/EventID", "/EventRecordID", "/Channel", "/Provider/#attributes/Name",
              "/Provider/#attributes/EventSourceName", "/Computer", "/Level", "/Task", "/Opcode", "/Keywords",
              "/Security/#attributes/UserID", "/Execution/#attributes/ProcessID",
              "/Execution/#attributes/ThreadID", "/Correlation/#attributes/ActivityID",
              "/TimeCreated/#attributes/SystemTime", "/EventID/#text", "/EventID/#attributes/Qualifiers")
_INT = "('UBIGINT', 'BIGINT')"
_INT_OR_NULL = "('UBIGINT', 'BIGINT', 'NULL')"


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _jstr(expr: str) -> str:
    """JSON string literal of a VARCHAR. DuckDB escapes exactly what orjson/json.dumps(ensure_ascii=False)
    do, but writes \\u00XX with upper-case hex: rows with such escapes are re-encoded (_fix_escapes)."""
    return f"to_json({expr})"


def _scalar_text(v: str, t: str) -> str:
    """fields.scalar() of a JSON value `v` of json_type `t` (only the types the fast shape admits)."""
    s = f"replace(replace({v}->>'$', e'\\r\\n', e'\\n'), e'\\r', e'\\n')"
    return (f"CASE {t} WHEN 'VARCHAR' THEN (CASE WHEN regexp_full_match({s}, '[{_WS}]*') THEN NULL ELSE {s} END) "
            f"WHEN 'BOOLEAN' THEN (CASE WHEN TRY_CAST({v} AS BOOLEAN) THEN 'true' ELSE 'false' END) "
            f"WHEN 'UBIGINT' THEN TRY_CAST({v} AS HUGEINT)::VARCHAR WHEN 'BIGINT' THEN TRY_CAST({v} AS HUGEINT)::VARCHAR END")


_SCALAR_TYPES = "('VARCHAR', 'UBIGINT', 'BIGINT', 'BOOLEAN', 'NULL')"
_ENTRY = "STRUCT(k VARCHAR, p INTEGER, j VARCHAR, d VARCHAR)"  # an attribute: key, priority, JSON, display text


def _template_parts(spec: Spec) -> list[dict] | None:
    """The spec's message template as [{lit} | {name}] parts; None if it is more than plain {name} fields."""
    parts = []
    try:
        for lit, field, fmt, conv in string.Formatter().parse(spec.message):
            if lit:
                parts.append({"lit": lit, "name": None})
            if field is not None:
                if fmt or conv or not field or any(c in field for c in ".[") or field.isdigit():
                    return None
                parts.append({"lit": None, "name": field})
    except ValueError:
        return None
    return parts


# normalize._fill: a template name is an entity, else an attribute, else an EventData field, else '-'
_ENTITY_OF = "CASE p.name " + " ".join(f"WHEN '{e}' THEN e_{e}" for e in wn._ENTITIES) + " END"
_MESSAGE = (f"array_to_string(list_transform(msg_parts, lambda p: CASE WHEN p.name IS NULL THEN p.lit "
            f"ELSE coalesce({_ENTITY_OF}, am[p.name], dm[p.name], '-') END), '')")


@lru_cache(maxsize=1)
def _specs() -> tuple[pa.Table, list[int]]:
    """The event table as an Arrow table (one row per spec) and the numbers of specs whose template is not plain (their records go the old way)."""
    rows: dict[str, list] = {"spec_no": [], "spec_key": [], "tags": [], "attack": [], "gbt": [], "severity": [],
                             "extras": [], "msg_parts": [], **{f"c_{r}": [] for r in ENTITY_ROLES}}
    odd = []
    for no, ((fam, eid), spec) in enumerate(TABLE.items(), start=1):
        rows["spec_no"].append(no)
        rows["spec_key"].append(f"{fam}|{eid}")
        rows["tags"].append(sorted(set(spec.tags)))
        rows["attack"].append(sorted(set(spec.attack)))
        rows["gbt"].append(spec.gbt)
        rows["severity"].append(spec.severity)
        rows["extras"].append([{"n": name, "c": list(c)} for name, c in spec.extra.items()])
        for r in ENTITY_ROLES:
            rows[f"c_{r}"].append(list(getattr(spec, r)))
        parts = _template_parts(spec)
        rows["msg_parts"].append(parts or [])
        if parts is None:
            odd.append(no)
    lst = pa.list_(pa.string())
    types = {"spec_no": pa.int32(), "spec_key": pa.string(), "tags": lst, "attack": lst, "gbt": pa.string(),
             "severity": pa.string(), "extras": pa.list_(pa.struct([("n", pa.string()), ("c", lst)])),
             "msg_parts": pa.list_(pa.struct([("lit", pa.string()), ("name", pa.string())])),
             **{f"c_{r}": lst for r in ENTITY_ROLES}}
    table = pa.table({k: pa.array(v, types[k]) for k, v in rows.items()})
    return table, odd


def _map_unique(arr: pa.Array, fn: Callable, typ: pa.DataType) -> pa.Array:
    """fn over each distinct value only (a few hundred per batch), spread back to every row."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    uniq = pc.unique(arr)
    mapped = pa.array([None if v is None else fn(v) for v in uniq.to_pylist()], typ)
    return pc.take(mapped, pc.index_in(arr, uniq))


def _split_user_name(v: str):
    return wn._split_user(v)[0]


def _split_user_domain(v: str):
    return wn._split_user(v)[1]


def _domain(v: str):
    return v.rstrip(".").lower()


_CONNECTIONS: dict[int, duckdb.DuckDBPyConnection] = {}


def _connection() -> duckdb.DuckDBPyConnection:
    import os
    con = _CONNECTIONS.get(os.getpid())  # never share a DuckDB connection across a fork
    if con is None:
        con = duckdb.connect()
        con.execute("SET threads = 1")  # the pipeline already runs one process per core
        # normalize._pick: the first candidate field present and not '-' / '0x0' (absent or blank is NULL here)
        con.execute("CREATE MACRO pick(dm, cands) AS "
                    "list_filter(list_transform(cands, lambda c: dm[c]), lambda v: v IS NOT NULL AND v NOT IN ('-', '0x0'))[1]")
        con.register("spec_src", _specs()[0])
        con.execute("CREATE TABLE spec AS SELECT * FROM spec_src")
        con.unregister("spec_src")
        _CONNECTIONS.clear()
        _CONNECTIONS[os.getpid()] = con
    return con


def normalize_batch(datas: list[str], locators: list[str], checksum_bad: list[bool],
                    family: Callable[[str | None, str | None], str]) -> tuple[pa.Table, list[int]]:
    """Normalize a batch of records (the evtx package's `data` strings).

    Returns the table of the records that took the bulk path (the columns the
    normalizer decides, `idx` = position in the batch, ascending, and `script_part`
    for PowerShell 4104 parts) and the positions of the records the caller must
    normalize one by one.
    """
    con = _connection()
    con.register("recs", pa.table({"idx": pa.array(range(len(datas)), pa.int64()), "data": pa.array(datas, pa.string()),
                                   "locator": pa.array(locators, pa.string()),
                                   "chk_bad": pa.array(checksum_bad, pa.bool_())}))
    try:
        out, slow = _run(con, family)
        return _fix_escapes(out), slow
    finally:
        try:
            con.unregister("recs")
            for t in ("s", "r", "fam", "der"):
                con.execute(f"DROP TABLE IF EXISTS {t}")
        except duckdb.Error:  # a failed query left the connection busy: start afresh next batch
            _CONNECTIONS.clear()


def _fix_escapes(t: pa.Table) -> pa.Table:
    """Attributes holding a \\u00XX escape (control characters) re-encoded by canonical_json, whose hex is
    lower-case; DuckDB's to_json writes upper-case and a text-level fix could not tell escapes from data."""
    a = t["attributes"]
    if not pc.any(pc.match_substring(a, "\\u00")).as_py():
        return t
    vals = [canonical_json(json.loads(v)) if v is not None and "\\u00" in v else v for v in a.to_pylist()]
    return t.set_column(t.schema.get_field_index("attributes"), "attributes", pa.array(vals, pa.string()))


def _run(con, family) -> tuple[pa.Table, list[int]]:
    paths = "[" + ", ".join(_q(p) for p in ("/Event/EventData", "/Event/UserData")
                            + tuple("/Event/System" + p for p in _SYS_PATHS)) + "]"
    reserved = "[" + ", ".join(_q(r) for r in sorted(RESERVED)) + "]"
    sc = _SCALAR_TYPES
    # 1. per record: System fields, EventData as a map of JSON values, and whether the shape is the usual one
    con.execute(f"""
        CREATE TEMP TABLE s AS
        WITH p AS (  -- one parse of the record: EventData, UserData and the System values
            SELECT idx, locator, chk_bad,
                   CASE WHEN NOT regexp_matches(data, '\\\\u[dD][89a-fA-F]') THEN json_extract(data, {paths}) END AS j
            FROM recs),
        q0 AS (  -- json_extract writes values back compactly: the first character tells the type
            SELECT idx, locator, chk_bad, j[1] AS ed, j[2] AS ud, j[3:] AS x,
                   CASE WHEN starts_with(j[1], '{{') THEN json_transform(j[1], '"MAP(VARCHAR, JSON)"') END AS edm,
                   CASE WHEN starts_with(j[2], '{{') THEN list_filter(map_entries(json_transform(j[2], '"MAP(VARCHAR, JSON)"')),
                                                                    lambda e: e.key <> '#attributes') END AS udw
            FROM p),
        q AS (  -- the fields: EventData's, or those of UserData's one wrapper element (fields._flatten either way)
            SELECT *, CASE WHEN coalesce(ud, 'null') = 'null' THEN edm
                           WHEN coalesce(ed, 'null') = 'null' AND len(udw) = 1 AND starts_with(udw[1].value, '{{')
                           THEN json_transform(udw[1].value, '"MAP(VARCHAR, JSON)"') END AS m
            FROM q0),
        t AS (
            SELECT *, list_transform(x, lambda v: coalesce(json_type(v), 'NULL')) AS xt,
                   list_transform(list_filter(map_entries(m), lambda e: e.key NOT IN ('#attributes', 'Data')),
                                  lambda e: {{'k': e.key, 'v': e.value, 't': coalesce(json_type(e.value), 'NULL')}}) AS es,
                   m['Data'] AS dv, json_type(m['Data']) AS dt
            FROM q),
        u AS (
            SELECT *, CASE WHEN dt = 'OBJECT' THEN json_extract(dv, '/#text') END AS dtv FROM t),
        w AS (
            SELECT *, CASE WHEN dt = 'ARRAY' THEN json_transform(dv, '["JSON"]')
                           WHEN json_type(dtv) = 'ARRAY' THEN json_transform(dtv, '["JSON"]') END AS dlist,
                      CASE WHEN dt = 'OBJECT' AND json_type(dtv) <> 'ARRAY' THEN dtv
                           WHEN dt NOT IN ('OBJECT', 'ARRAY') THEN dv END AS dscalar
            FROM u)
        SELECT idx, locator, chk_bad,
            ((coalesce(ud, 'null') = 'null' AND (coalesce(ed, 'null') = 'null' OR (starts_with(ed, '{{') AND m IS NOT NULL)))
             OR (coalesce(ed, 'null') = 'null' AND starts_with(ud, '{{') AND m IS NOT NULL))
            AND coalesce(len(list_filter(es, lambda e: e.k IN ('', '#text') OR starts_with(e.k, 'EventData.')
                                                       OR e.t NOT IN {sc})), 0) = 0
            AND (dt IS NULL OR dt IN {sc} OR dt = 'ARRAY' OR (dt = 'OBJECT' AND dtv IS NOT NULL
                 AND (json_type(dtv) IN {sc} OR json_type(dtv) = 'ARRAY')))
            AND (dlist IS NULL OR (len(list_filter(dlist, lambda e: coalesce(json_type(e), 'NULL') NOT IN {sc})) = 0
                 AND coalesce(len(list_filter(es, lambda e: starts_with(e.k, 'Data_'))), 0) = 0))
            -- EventID: a number, or {{"#attributes": {{"Qualifiers": n}}, "#text": n}} (fields._system_fields)
            AND (xt[1] IN {_INT} OR (starts_with(x[1], '{{') AND xt[16] IN {_INT} AND xt[17] IN {_INT_OR_NULL}))
            AND TRY_CAST(CASE WHEN xt[1] IN {_INT} THEN x[1] ELSE x[16] END AS HUGEINT) BETWEEN 0 AND 2147483647
            AND xt[2] IN {_INT}
            AND xt[3] IN ('VARCHAR', 'NULL') AND xt[4] IN ('VARCHAR', 'NULL') AND xt[5] IN ('VARCHAR', 'NULL')
            AND xt[6] IN ('VARCHAR', 'NULL') AND xt[7] IN {_INT_OR_NULL} AND xt[8] IN {_INT_OR_NULL}
            AND xt[9] IN {_INT_OR_NULL} AND xt[10] IN ('VARCHAR', 'NULL') AND xt[11] IN ('VARCHAR', 'NULL')
            AND xt[12] IN {_INT_OR_NULL} AND xt[13] IN {_INT_OR_NULL} AND xt[14] IN ('VARCHAR', 'NULL')
            AND xt[15] = 'VARCHAR'
            AND regexp_full_match(x[15]->>'$', '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\\.[0-9]+)?Z')
            AND try_strptime(substr(x[15]->>'$', 1, 19), '%Y-%m-%dT%H:%M:%S') IS NOT NULL AS ok,
            TRY_CAST(CASE WHEN xt[1] IN {_INT} THEN x[1] ELSE x[16] END AS BIGINT) AS event_id,
            CASE WHEN starts_with(x[1], '{{') AND xt[17] IN {_INT} THEN TRY_CAST(x[17] AS HUGEINT) END AS qualifiers,
            TRY_CAST(x[2] AS HUGEINT) AS record_id,
            epoch_us(try_strptime(substr(x[15]->>'$', 1, 19), '%Y-%m-%dT%H:%M:%S'))
              + coalesce(TRY_CAST(rpad(substr(regexp_extract(x[15]->>'$', '\\.([0-9]+)', 1), 1, 6), 6, '0') AS BIGINT), 0) AS ts,
            CASE WHEN xt[3] = 'VARCHAR' THEN x[3]->>'$' END AS channel,
            CASE WHEN xt[4] = 'VARCHAR' AND x[4]->>'$' <> '' THEN x[4]->>'$'
                 WHEN xt[5] = 'VARCHAR' THEN x[5]->>'$' END AS provider,
            CASE WHEN xt[6] = 'VARCHAR' THEN x[6]->>'$' END AS computer,
            CASE WHEN xt[7] IN {_INT} THEN TRY_CAST(x[7] AS HUGEINT) END AS level,
            CASE WHEN xt[8] IN {_INT} THEN TRY_CAST(x[8] AS HUGEINT) END AS task,
            CASE WHEN xt[9] IN {_INT} THEN TRY_CAST(x[9] AS HUGEINT) END AS opcode,
            CASE WHEN xt[10] = 'VARCHAR' THEN x[10]->>'$' END AS keywords,
            CASE WHEN xt[11] = 'VARCHAR' AND x[11]->>'$' <> '' THEN x[11]->>'$' END AS user_sid,
            CASE WHEN xt[12] IN {_INT} THEN TRY_CAST(x[12] AS HUGEINT) END AS execution_pid,
            CASE WHEN xt[13] IN {_INT} THEN TRY_CAST(x[13] AS HUGEINT) END AS execution_tid,
            CASE WHEN xt[14] = 'VARCHAR' AND x[14]->>'$' <> '' THEN x[14]->>'$' END AS activity_id,
            -- fields.event_data: named values, then <Data> as Data or Data_0, Data_1, …; reserved names prefixed
            list_filter(list_concat(
                list_transform(es, lambda e: {{'k': CASE WHEN list_contains({reserved}, e.k) THEN 'EventData.' || e.k
                                                        ELSE e.k END, 'v': {_scalar_text('e.v', 'e.t')}}}),
                CASE WHEN dscalar IS NOT NULL THEN [{{'k': 'Data', 'v': {_scalar_text('dscalar', "coalesce(json_type(dscalar), 'NULL')")}}}] END,
                list_transform(dlist, lambda e, i: {{'k': 'Data_' || (i - 1),
                                                     'v': {_scalar_text('e', "coalesce(json_type(e), 'NULL')")}}})),
                lambda e: e.v IS NOT NULL) AS dl
        FROM w""")
    # 2. which log each record belongs to (eventmap.family over the few distinct channel/provider pairs)
    pairs = con.execute("SELECT DISTINCT channel, provider FROM s WHERE ok").fetchall()
    con.register("fam_src", pa.table({
        "channel": pa.array([c for c, _ in pairs], pa.string()), "provider": pa.array([p for _, p in pairs], pa.string()),
        "fam": pa.array([family(c, p) for c, p in pairs], pa.string())}))
    con.execute("CREATE TEMP TABLE fam AS SELECT * FROM fam_src")
    con.unregister("fam_src")
    _, odd = _specs()
    odd_list = "[" + ", ".join(map(str, odd)) + "]::INTEGER[]"
    roles = ", ".join(f"pick(dm, c_{r}) AS r_{r}" for r in ENTITY_ROLES)
    # 3. per record: the spec it falls under, the raw entity picks and the extra attributes
    con.execute(f"""
        CREATE TEMP TABLE r AS
        WITH b AS (
            SELECT s.*, map_from_entries(dl) AS dm, sp.spec_no, sp.c_user, sp.c_pid, sp.c_image, sp.c_cmdline,
                   sp.c_src_ip, sp.c_src_port, sp.c_dst_ip, sp.c_dst_port, sp.c_proto, sp.c_domain, sp.c_file_path,
                   sp.extras
            FROM s
            LEFT JOIN fam f ON f.channel IS NOT DISTINCT FROM s.channel AND f.provider IS NOT DISTINCT FROM s.provider
            LEFT JOIN spec sp ON sp.spec_key = f.fam || '|' || s.event_id
            WHERE s.ok AND NOT list_contains({odd_list}, coalesce(sp.spec_no, 0))),
        c AS (
            SELECT b.* EXCLUDE (extras), {roles},
                   list_filter(list_transform(extras, lambda e: {{'k': e.n, 'v': pick(dm, e.c)}}),
                               lambda e: e.v IS NOT NULL) AS xs
            FROM b)
        SELECT c.*,
               CASE WHEN spec_no IS NOT NULL THEN coalesce(list_filter(xs, lambda e: e.k = 'logon_type')[1].v, dm['logon_type']) END AS lt,
               CASE WHEN spec_no IS NOT NULL THEN coalesce(list_filter(xs, lambda e: e.k = 'parent_process')[1].v, dm['parent_process']) END AS pp,
               CASE WHEN spec_no IS NOT NULL THEN coalesce(list_filter(xs, lambda e: e.k = 'hashes')[1].v, dm['hashes']) END AS hs
        FROM c""")
    r = con.execute("SELECT idx, r_user, r_image, r_pid, r_src_ip, r_src_port, r_dst_ip, r_dst_port, r_proto, "
                    "r_domain, lt, pp, hs FROM r ORDER BY idx").to_arrow_table()
    # 4. conversions with Python semantics, once per distinct value
    s_, i64, i32 = pa.string(), pa.int64(), pa.int32()
    der = pa.table({
        "idx": r["idx"],
        "e_user": _map_unique(r["r_user"], lambda v: _split_user_name(str(v)), s_),
        "user_domain": _map_unique(r["r_user"], lambda v: _split_user_domain(str(v)), s_),
        "e_process_name": _map_unique(r["r_image"], wn._basename, s_),
        "e_process_pid": _map_unique(r["r_pid"], as_int, i64),
        "e_src_ip": _map_unique(r["r_src_ip"], wn._clean_ip, s_),
        "e_src_port": _map_unique(r["r_src_port"], wn._port, i32),
        "e_dst_ip": _map_unique(r["r_dst_ip"], wn._clean_ip, s_),
        "e_dst_port": _map_unique(r["r_dst_port"], wn._port, i32),
        "e_proto": _map_unique(r["r_proto"], lambda v: str(v).lower(), s_),
        "e_domain": _map_unique(r["r_domain"], _domain, s_),
        "lt_int": _map_unique(r["lt"], as_int, i64),
        "pp_name": _map_unique(r["pp"], wn._basename, s_),
        "e_file_sha256": _map_unique(r["hs"], wn._sha256_of, s_),
    })
    con.register("der_src", der)
    con.execute("CREATE TEMP TABLE der AS SELECT * FROM der_src")
    con.unregister("der_src")
    # 5. attributes: every writer of normalize() in order (priority), the last one per key kept,
    #    keys sorted, as canonical JSON; then the message from the template
    E = lambda k, p, j, d: f"{{'k': {k}, 'p': {p}, 'j': {j}, 'd': {d}}}::{_ENTRY}"  # noqa: E731
    sys_entries = ", ".join(
        E(_q(name), 1, _jstr(name) if kind == "s" else f"{name}::VARCHAR", name if kind == "s" else f"{name}::VARCHAR")
        for name, kind in (("channel", "s"), ("provider", "s"), ("event_id", "i"), ("qualifiers", "i"), ("record_id", "i"),
                           ("computer", "s"), ("level", "i"), ("task", "i"), ("opcode", "i"), ("keywords", "s"),
                           ("user_sid", "s"), ("execution_pid", "i"), ("execution_tid", "i"), ("activity_id", "s")))
    empty = f"[]::{_ENTRY}[]"
    out = con.execute(f"""
        WITH z AS (
            SELECT r.*, der.* EXCLUDE (idx),
                   list_sort(list_concat(
                       list_transform(dl, lambda e: {E('e.k', 0, _jstr('e.v'), 'e.v')}),
                       list_filter([{sys_entries}], lambda e: e.j IS NOT NULL),
                       CASE WHEN der.user_domain <> '' THEN [{E("'user_domain'", 2, _jstr('der.user_domain'), 'der.user_domain')}] ELSE {empty} END,
                       CASE WHEN r.spec_no IS NOT NULL AND r.r_image IS NOT NULL THEN [{E("'process_image'", 2, _jstr('r.r_image'), 'r.r_image')}] ELSE {empty} END,
                       list_transform(xs, lambda e: {E('e.k', 3, _jstr('e.v'), 'e.v')}),
                       CASE WHEN r.lt IS NOT NULL THEN [{E("'logon_type'", 4, "coalesce(der.lt_int::VARCHAR, 'null')", 'der.lt_int::VARCHAR')}] ELSE {empty} END,
                       CASE WHEN der.pp_name IS NOT NULL THEN [{E("'parent_process_name'", 5, _jstr('der.pp_name'), 'der.pp_name')}] ELSE {empty} END,
                       CASE WHEN r.chk_bad THEN [{E("'chunk_checksum_ok'", 6, "'false'", "'False'")}] ELSE {empty} END
                   )) AS ent
            FROM r JOIN der USING (idx)),
        y AS (
            SELECT *, list_filter(ent, lambda e, i: i = len(ent) OR ent[i + 1].k <> e.k) AS fin FROM z),
        x AS (
            SELECT *, '{{' || array_to_string(list_transform(fin, lambda e: {_jstr('e.k')} || ':' || e.j), ',') || '}}' AS attributes,
                   map_from_entries(list_transform(list_filter(fin, lambda e: e.d IS NOT NULL),
                                                   lambda e: {{'k': e.k, 'v': e.d}})) AS am,
                   computer AS e_host, r_cmdline AS e_process_cmdline, r_file_path AS e_file_path,
                   CASE WHEN spec_no IS NULL THEN NULL ELSE e_user END AS e_user_,
                   e_src_port::VARCHAR AS e_src_port_, e_dst_port::VARCHAR AS e_dst_port_
            FROM y)
        SELECT x.idx, x.event_id = 4104 AND x.dm['ScriptBlockId'] IS NOT NULL AS script_part, x.ts AS timestamp,
            x.locator, x.computer AS host, x.e_user_ AS "user",
            x.e_process_pid AS process_pid, x.e_process_name AS process_name, x.r_cmdline AS process_cmdline,
            x.e_src_ip AS src_ip, x.e_src_port AS src_port, x.e_dst_ip AS dst_ip, x.e_dst_port AS dst_port,
            x.e_proto AS proto, x.e_domain AS domain, x.r_file_path AS file_path, x.e_file_sha256 AS file_sha256,
            coalesce(sp.tags, []::VARCHAR[]) AS tags, coalesce(sp.attack, []::VARCHAR[]) AS attack,
            sp.gbt AS gbt_category, coalesce(sp.severity, 'info') AS severity, x.attributes,
            CASE WHEN x.spec_no IS NULL
                 THEN coalesce(nullif(x.provider, ''), nullif(x.channel, ''), 'Windows') || ' event ' || x.event_id
                      || ' on ' || coalesce(nullif(x.computer, ''), '-')
                 ELSE x.event_id || ' ' || {_MESSAGE.replace('e_user', 'e_user_').replace('e_src_port', 'e_src_port_').replace('e_dst_port', 'e_dst_port_')}
            END AS message
        FROM x LEFT JOIN (SELECT spec_no, tags, attack, gbt, severity, msg_parts FROM spec) sp ON sp.spec_no = x.spec_no
        ORDER BY x.idx""").to_arrow_table()
    bad = con.execute("SELECT idx FROM s WHERE NOT ok OR ok IS NULL "
                      "UNION SELECT idx FROM s WHERE ok AND idx NOT IN (SELECT idx FROM r) ORDER BY idx").fetchall()
    return out, [b[0] for b in bad]
