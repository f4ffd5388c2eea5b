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

import string
from functools import lru_cache
from typing import Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from forensics.windows import normalize as wn
from forensics.windows.eventmap import TABLE, Spec
from forensics.windows.fields import RESERVED, as_int

ENTITY_ROLES = ("user", "pid", "image", "cmdline", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "domain",
                "file_path")
# what str.isspace() calls whitespace, as an RE2 class (scalar(): blank text is absent text)
_WS = "".join(f"\\x{{{c:x}}}" for c in range(0x110000) if chr(c).isspace())
_SYS_PATHS = ("/EventID", "/EventRecordID", "/Channel", "/Provider/#attributes/Name",
              "/Provider/#attributes/EventSourceName", "/Computer", "/Level", "/Task", "/Opcode", "/Keywords",
              "/Security/#attributes/UserID", "/Execution/#attributes/ProcessID",
              "/Execution/#attributes/ThreadID", "/Correlation/#attributes/ActivityID",
              "/TimeCreated/#attributes/SystemTime")
_INT = "('UBIGINT', 'BIGINT')"
_INT_OR_NULL = "('UBIGINT', 'BIGINT', 'NULL')"


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _jstr(expr: str) -> str:
    """JSON string literal of a VARCHAR, byte-identical to orjson/json.dumps(ensure_ascii=False).

    DuckDB escapes exactly the same characters; only its \\u00XX hex digits are upper-case.
    """
    fixed = f"to_json({expr})"
    for c in (0x0B, 0x0E, 0x0F, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F):
        up, low = f"\\u{c:04X}", f"\\u{c:04x}"
        fixed = f"replace({fixed}, {_q(up)}, {_q(low)})"
    return f"CASE WHEN regexp_matches({expr}, '[\\x0b\\x0e\\x0f\\x1a-\\x1f]') THEN {fixed} ELSE to_json({expr}) END"


def _scalar_text(v: str, t: str) -> str:
    """fields.scalar() of a JSON value `v` of json_type `t` (only the types the fast shape admits)."""
    s = f"replace(replace({v}->>'$', e'\\r\\n', e'\\n'), e'\\r', e'\\n')"
    return (f"CASE {t} WHEN 'VARCHAR' THEN (CASE WHEN regexp_full_match({s}, '[{_WS}]*') THEN NULL ELSE {s} END) "
            f"WHEN 'BOOLEAN' THEN (CASE WHEN TRY_CAST({v} AS BOOLEAN) THEN 'true' ELSE 'false' END) "
            f"WHEN 'UBIGINT' THEN TRY_CAST({v} AS HUGEINT)::VARCHAR WHEN 'BIGINT' THEN TRY_CAST({v} AS HUGEINT)::VARCHAR END")


_SCALAR_TYPES = "('VARCHAR', 'UBIGINT', 'BIGINT', 'BOOLEAN', 'NULL')"


def _spec_key(fam: str, eid: int) -> str:
    return f"{fam}|{eid}"


def _pick_sql(names: tuple[str, ...]) -> str:
    """normalize._pick: the first candidate present and not one of '', '-', '0x0'."""
    parts = [f"pk(dm[{_q(n)}])" for n in names]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _case(per_spec: dict[str, str]) -> str:
    if not per_spec:
        return "NULL"
    whens = " ".join(f"WHEN {_q(k)} THEN {v}" for k, v in per_spec.items())
    return f"CASE spec_key {whens} END"


@lru_cache(maxsize=1)
def _compiled() -> dict:
    """SQL fragments from the event table (built once per process)."""
    roles: dict[str, dict[str, str]] = {r: {} for r in ENTITY_ROLES}
    extras: dict[str, dict[str, str]] = {}
    specs = []
    for (fam, eid), spec in TABLE.items():
        key = _spec_key(fam, eid)
        for r in ENTITY_ROLES:
            names = getattr(spec, r)
            if names:
                roles[r][key] = _pick_sql(names)
        for name, cands in spec.extra.items():
            extras.setdefault(name, {})[key] = _pick_sql(cands)
        specs.append((key, sorted(set(spec.tags)), sorted(set(spec.attack)), spec.gbt, spec.severity))
    return {"roles": {r: _case(v) for r, v in roles.items()},
            "extras": {n: _case(v) for n, v in extras.items()},
            "specs": specs}


def _template_sql(spec: Spec) -> str | None:
    """The spec's message template as a SQL concatenation (normalize._fill semantics)."""
    parts = []
    try:
        for lit, field, fmt, conv in string.Formatter().parse(spec.message):
            if lit:
                parts.append(_q(lit))
            if field is not None:
                if fmt or conv or not field or any(c in field for c in ".[") or field.isdigit():
                    return None  # only plain {name} fields are compiled; others go the old way
                ent = f"e_{field}" if field in wn._ENTITIES else "NULL"
                parts.append(f"coalesce({ent}, am[{_q(field)}], dm[{_q(field)}], '-')")
    except ValueError:
        return None
    return " || ".join(parts) if parts else "''"


@lru_cache(maxsize=1)
def _messages() -> tuple[str, frozenset]:
    compiled, odd = {}, set()
    for (fam, eid), spec in TABLE.items():
        sql = _template_sql(spec)
        if sql is None:
            odd.add(_spec_key(fam, eid))
        else:
            compiled[_spec_key(fam, eid)] = sql
    return _case(compiled), frozenset(odd)


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
        con.execute("CREATE MACRO pk(v) AS CASE WHEN v IN ('-', '0x0') THEN NULL ELSE v END")
        _CONNECTIONS.clear()
        _CONNECTIONS[os.getpid()] = con
    return con


def normalize_batch(datas: list[str], locators: list[str], checksum_bad: list[bool],
                    family: Callable[[str | None, str | None], str]) -> tuple[pa.Table, list[int]]:
    """Normalize a batch of records (the evtx package's `data` strings).

    Returns the table of the records that took the bulk path (EVENT columns the
    normalizer decides, plus `idx`, the record's position in the batch, ascending)
    and the positions of the records the caller must normalize one by one.
    """
    con = _connection()
    n = len(datas)
    con.register("recs", pa.table({"idx": pa.array(range(n), pa.int64()), "data": pa.array(datas, pa.string()),
                                   "locator": pa.array(locators, pa.string()),
                                   "chk_bad": pa.array(checksum_bad, pa.bool_())}))
    try:
        return _run(con, n, family)
    finally:
        try:
            con.unregister("recs")
            for t in ("s", "kv", "dl", "d", "r", "fam", "spec", "der", "a"):
                con.execute(f"DROP TABLE IF EXISTS {t}")
        except duckdb.Error:  # a failed query left the connection busy: start afresh next batch
            _CONNECTIONS.clear()


def _run(con, n: int, family) -> tuple[pa.Table, list[int]]:
    sys_list = "[" + ", ".join(_q(p) for p in _SYS_PATHS) + "]"
    # 1. the record, its System block and EventData/UserData, parsed once
    con.execute(f"""
        CREATE TEMP TABLE s AS
        WITH p AS (
            SELECT idx, locator, chk_bad,
                   CASE WHEN json_valid(data) AND NOT regexp_matches(data, '\\\\u[dD][89a-fA-F]')
                        THEN json_extract(data, ['/Event', '/Event/System', '/Event/EventData', '/Event/UserData'])
                   END AS j
            FROM recs),
        q AS (
            SELECT idx, locator, chk_bad, json_type(j[1]) AS ev_t, json_type(j[2]) AS sys_t, j[3] AS ed,
                   json_type(j[3]) AS ed_t, json_type(j[4]) AS ud_t,
                   CASE WHEN json_type(j[2]) = 'OBJECT' THEN json_extract(j[2], {sys_list}) END AS x
            FROM p),
        t AS (
            SELECT *, list_transform(x, lambda v: coalesce(json_type(v), 'NULL')) AS xt FROM q)
        SELECT idx, locator, chk_bad, ed, ed_t,
            ev_t = 'OBJECT' AND sys_t = 'OBJECT' AND coalesce(ud_t, 'NULL') = 'NULL'
            AND coalesce(ed_t, 'NULL') IN ('NULL', 'OBJECT')
            AND xt[1] IN {_INT} AND TRY_CAST(x[1] AS HUGEINT) BETWEEN 0 AND 2147483647 AND xt[2] IN {_INT}
            AND xt[3] IN ('VARCHAR', 'NULL') AND xt[4] IN ('VARCHAR', 'NULL') AND xt[5] IN ('VARCHAR', 'NULL')
            AND xt[6] IN ('VARCHAR', 'NULL') AND xt[7] IN {_INT_OR_NULL} AND xt[8] IN {_INT_OR_NULL}
            AND xt[9] IN {_INT_OR_NULL} AND xt[10] IN ('VARCHAR', 'NULL') AND xt[11] IN ('VARCHAR', 'NULL')
            AND xt[12] IN {_INT_OR_NULL} AND xt[13] IN {_INT_OR_NULL} AND xt[14] IN ('VARCHAR', 'NULL')
            AND xt[15] = 'VARCHAR'
            AND regexp_full_match(x[15]->>'$', '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\\.[0-9]+)?Z')
            AND try_strptime(substr(x[15]->>'$', 1, 19), '%Y-%m-%dT%H:%M:%S') IS NOT NULL AS ok,
            TRY_CAST(x[1] AS BIGINT) AS event_id, TRY_CAST(x[2] AS HUGEINT) AS record_id,
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
            x[15]->>'$' AS system_time
        FROM t""")
    # 2. EventData flattened (fields.event_data): named values, and unnamed <Data> values as Data_0, Data_1, …
    con.execute("""
        CREATE TEMP TABLE kv AS
        SELECT s.idx, j.key AS k, j.value AS v, j.type AS t,
               CASE WHEN j.key = 'Data' AND j.type = 'OBJECT' THEN json_extract(j.value, '/#text') END AS tv
        FROM s, json_each(s.ed) j WHERE s.ok AND s.ed_t = 'OBJECT' AND j.key <> '#attributes'""")
    con.execute("""
        CREATE TEMP TABLE dl AS  -- the <Data> element's values, when it holds a list
        SELECT kv.idx, TRY_CAST(j.key AS BIGINT) AS i, j.value AS v, j.type AS t
        FROM kv, json_each(CASE WHEN kv.t = 'ARRAY' THEN kv.v ELSE kv.tv END) j
        WHERE kv.k = 'Data' AND (kv.t = 'ARRAY' OR json_type(kv.tv) = 'ARRAY')""")
    con.execute(f"""
        UPDATE s SET ok = false WHERE idx IN (
            SELECT idx FROM kv GROUP BY idx HAVING count(*) <> count(DISTINCT k)
            UNION SELECT idx FROM kv WHERE k = '' OR k = '#text' OR starts_with(k, 'EventData.')
                OR (k <> 'Data' AND t NOT IN {_SCALAR_TYPES})
                OR (k = 'Data' AND t = 'OBJECT' AND (tv IS NULL OR json_type(tv) NOT IN ('ARRAY', 'VARCHAR', 'UBIGINT', 'BIGINT', 'BOOLEAN', 'NULL')))
                OR (k = 'Data' AND t NOT IN ('OBJECT', 'ARRAY') AND t NOT IN {_SCALAR_TYPES})
            UNION SELECT idx FROM dl WHERE t NOT IN {_SCALAR_TYPES}
            UNION SELECT a.idx FROM kv a JOIN kv b ON a.idx = b.idx
                  WHERE a.k = 'Data' AND (a.t = 'ARRAY' OR json_type(a.tv) = 'ARRAY') AND regexp_full_match(b.k, 'Data_.*'))""")
    reserved = "[" + ", ".join(_q(r) for r in sorted(RESERVED)) + "]"
    con.execute(f"""
        CREATE TEMP TABLE d AS
        WITH one AS (
            SELECT idx, k AS key, {_scalar_text('v', 't')} AS val FROM kv
            WHERE k <> 'Data' AND idx IN (SELECT idx FROM s WHERE ok)
            UNION ALL
            SELECT idx, 'Data', {_scalar_text('w', 'coalesce(json_type(w), ' + _q('NULL') + ')')} FROM (
                SELECT idx, CASE WHEN t = 'OBJECT' THEN tv ELSE v END AS w FROM kv
                WHERE k = 'Data' AND t <> 'ARRAY' AND coalesce(json_type(tv), '') <> 'ARRAY'
                  AND idx IN (SELECT idx FROM s WHERE ok))
            UNION ALL
            SELECT idx, 'Data_' || i, {_scalar_text('v', 't')} FROM dl
            WHERE idx IN (SELECT idx FROM s WHERE ok))
        SELECT idx, CASE WHEN list_contains({reserved}, key) THEN 'EventData.' || key ELSE key END AS key, val
        FROM one WHERE val IS NOT NULL""")
    # 3. which log each record belongs to (eventmap.family over the few distinct channel/provider pairs)
    pairs = con.execute("SELECT DISTINCT channel, provider FROM s WHERE ok").fetchall()
    con.register("fam_src", pa.table({
        "channel": pa.array([c for c, _ in pairs], pa.string()), "provider": pa.array([p for _, p in pairs], pa.string()),
        "fam": pa.array([family(c, p) for c, p in pairs], pa.string())}))
    con.execute("CREATE TEMP TABLE fam AS SELECT * FROM fam_src")
    con.unregister("fam_src")
    comp = _compiled()
    spec_rows = comp["specs"]
    con.register("spec_src", pa.table({
        "spec_key": pa.array([r[0] for r in spec_rows], pa.string()),
        "tags": pa.array([r[1] for r in spec_rows], pa.list_(pa.string())),
        "attack": pa.array([r[2] for r in spec_rows], pa.list_(pa.string())),
        "gbt": pa.array([r[3] for r in spec_rows], pa.string()),
        "severity": pa.array([r[4] for r in spec_rows], pa.string())}))
    con.execute("CREATE TEMP TABLE spec AS SELECT * FROM spec_src")
    con.unregister("spec_src")
    msg_case, odd_specs = _messages()
    odd = "[" + ", ".join(_q(k) for k in sorted(odd_specs)) + "]" if odd_specs else "[]::VARCHAR[]"
    con.execute(f"UPDATE s SET ok = false WHERE ok AND list_contains({odd}, "
                f"(SELECT f.fam FROM fam f WHERE f.channel IS NOT DISTINCT FROM s.channel "
                f"AND f.provider IS NOT DISTINCT FROM s.provider) || '|' || s.event_id)")
    extras = comp["extras"]
    extra_cols = ", ".join(f'{sql} AS "x_{name}"' for name, sql in extras.items())
    role_cols = ", ".join(f"{sql} AS r_{r}" for r, sql in comp["roles"].items())
    # 4. per record: the data map, the spec it falls under, the raw entity and extra picks
    con.execute(f"""
        CREATE TEMP TABLE r AS
        WITH dm AS (
            SELECT idx, map_from_entries(list({{'k': key, 'v': val}})) AS dm FROM d GROUP BY idx),
        b AS (
            SELECT s.*, coalesce(dm.dm, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS dm,
                   f.fam || '|' || s.event_id AS fk
            FROM s LEFT JOIN dm USING (idx)
            LEFT JOIN fam f ON f.channel IS NOT DISTINCT FROM s.channel AND f.provider IS NOT DISTINCT FROM s.provider
            WHERE s.ok)
        SELECT b.*, sp.spec_key, {role_cols}, {extra_cols}
        FROM b LEFT JOIN spec sp ON sp.spec_key = b.fk""")
    r = con.execute("SELECT idx, r_user, r_image, r_pid, r_src_ip, r_src_port, r_dst_ip, r_dst_port, r_proto, "
                    "r_domain, CASE WHEN spec_key IS NOT NULL THEN coalesce(\"x_logon_type\", dm['logon_type']) END AS lt, "
                    "CASE WHEN spec_key IS NOT NULL THEN coalesce(\"x_parent_process\", dm['parent_process']) END AS pp, "
                    "CASE WHEN spec_key IS NOT NULL THEN coalesce(\"x_hashes\", dm['hashes']) END AS hs "
                    "FROM r ORDER BY idx").to_arrow_table()
    # 5. conversions with Python semantics, once per distinct value
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
    # 6. attributes (canonical JSON: sorted keys, the value of the last writer in normalize()'s order) and message
    jv = _jstr("v")
    sys_entries = " UNION ALL ".join(
        f"SELECT idx, {_q(name)} AS key, 1 AS prio, {expr} AS j, {disp} AS disp FROM r WHERE {col} IS NOT NULL"
        for name, col, expr, disp in (
            ("channel", "channel", _jstr("channel"), "channel"), ("provider", "provider", _jstr("provider"), "provider"),
            ("event_id", "event_id", "event_id::VARCHAR", "event_id::VARCHAR"),
            ("record_id", "record_id", "record_id::VARCHAR", "record_id::VARCHAR"),
            ("computer", "computer", _jstr("computer"), "computer"),
            ("level", "level", "level::VARCHAR", "level::VARCHAR"), ("task", "task", "task::VARCHAR", "task::VARCHAR"),
            ("opcode", "opcode", "opcode::VARCHAR", "opcode::VARCHAR"),
            ("keywords", "keywords", _jstr("keywords"), "keywords"), ("user_sid", "user_sid", _jstr("user_sid"), "user_sid"),
            ("execution_pid", "execution_pid", "execution_pid::VARCHAR", "execution_pid::VARCHAR"),
            ("execution_tid", "execution_tid", "execution_tid::VARCHAR", "execution_tid::VARCHAR"),
            ("activity_id", "activity_id", _jstr("activity_id"), "activity_id")))
    extra_entries = " UNION ALL ".join(
        f"SELECT idx, {_q(name)}, 3, {_jstr(chr(34) + 'x_' + name + chr(34))}, \"x_{name}\" FROM r "
        f"WHERE \"x_{name}\" IS NOT NULL" for name in extras)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE a AS
        WITH ent AS (
            SELECT idx, key, 0 AS prio, {_jstr('val')} AS j, val AS disp FROM d WHERE idx IN (SELECT idx FROM r)
            UNION ALL {sys_entries}
            UNION ALL SELECT idx, 'user_domain', 2, {_jstr('user_domain')}, user_domain FROM der
                      WHERE user_domain IS NOT NULL AND user_domain <> ''
            UNION ALL SELECT idx, 'process_image', 2, {_jstr('r_image')}, r_image FROM r
                      WHERE spec_key IS NOT NULL AND r_image IS NOT NULL
            {('UNION ALL ' + extra_entries) if extra_entries else ''}
            UNION ALL SELECT r.idx, 'logon_type', 4, coalesce(der.lt_int::VARCHAR, 'null'), der.lt_int::VARCHAR
                      FROM r JOIN der USING (idx)
                      WHERE r.spec_key IS NOT NULL AND coalesce(r."x_logon_type", r.dm['logon_type']) IS NOT NULL
            UNION ALL SELECT idx, 'parent_process_name', 5, {_jstr('pp_name')}, pp_name FROM der WHERE pp_name IS NOT NULL
            UNION ALL SELECT idx, 'chunk_checksum_ok', 6, 'false', 'False' FROM r WHERE chk_bad),
        fin AS (  -- the last writer wins, as in normalize(): highest priority per key
            SELECT idx, key, j, disp FROM ent QUALIFY row_number() OVER (PARTITION BY idx, key ORDER BY prio DESC) = 1)
        SELECT idx, '{{' || string_agg({_jstr('key')} || ':' || j, ',' ORDER BY key) || '}}' AS attributes,
               map_from_entries(list({{'k': key, 'v': disp}}) FILTER (WHERE disp IS NOT NULL)) AS am
        FROM fin GROUP BY idx""")
    out = con.execute(f"""
        WITH z AS (
            SELECT r.idx, r.spec_key, r.provider, r.channel, r.event_id, r.computer, r.dm, a.am, a.attributes,
                   r.ts, r.locator, r.r_cmdline, r.r_file_path, der.e_process_pid, der.e_file_sha256,
                   der.e_src_port AS src_port, der.e_dst_port AS dst_port,
                   r.computer AS e_host, CASE WHEN r.spec_key IS NOT NULL THEN der.e_user END AS e_user,
                   der.e_process_name, r.r_cmdline AS e_process_cmdline, der.e_src_ip,
                   der.e_src_port::VARCHAR AS e_src_port, der.e_dst_ip, der.e_dst_port::VARCHAR AS e_dst_port,
                   der.e_proto, der.e_domain, r.r_file_path AS e_file_path
            FROM r JOIN der USING (idx) JOIN a USING (idx))
        SELECT z.idx, z.event_id = 4104 AND z.dm['ScriptBlockId'] IS NOT NULL AS script_part, z.ts AS timestamp, z.locator, z.computer AS host, z.e_user AS "user",
            z.e_process_pid AS process_pid, z.e_process_name AS process_name, z.r_cmdline AS process_cmdline,
            z.e_src_ip AS src_ip, z.src_port, z.e_dst_ip AS dst_ip, z.dst_port,
            z.e_proto AS proto, z.e_domain AS domain, z.r_file_path AS file_path, z.e_file_sha256 AS file_sha256,
            coalesce(sp.tags, []::VARCHAR[]) AS tags, coalesce(sp.attack, []::VARCHAR[]) AS attack,
            sp.gbt AS gbt_category, coalesce(sp.severity, 'info') AS severity, z.attributes,
            CASE WHEN z.spec_key IS NULL
                 THEN coalesce(nullif(z.provider, ''), nullif(z.channel, ''), 'Windows') || ' event ' || z.event_id
                      || ' on ' || coalesce(nullif(z.computer, ''), '-')
                 ELSE z.event_id || ' ' || ({msg_case.replace('CASE spec_key', 'CASE z.spec_key')})
            END AS message
        FROM z LEFT JOIN spec sp ON sp.spec_key = z.spec_key
        ORDER BY z.idx""").to_arrow_table()
    con.execute("DROP TABLE IF EXISTS a")
    bad = con.execute("SELECT idx FROM s WHERE NOT ok OR ok IS NULL ORDER BY idx").fetchall()
    return out, [b[0] for b in bad]
