"""Sigma rules over the event store, matched set-wise in DuckDB.

Rules are loaded with pySigma, converted to SQL by a DuckDB flavour of the
pySigma SQLite backend (ILIKE and COLLATE NOCASE because Sigma compares
case-insensitively, regexp_matches for |re, every value compared as text), and
run in one DuckDB query per batch of rules over a table of event rows. The
table exposes the Windows EventData fields the rules use as columns, read from
`attributes` with json_extract_string, plus Sigma's usual names for the System
block (EventID, Channel, Provider_Name, Computer) and process-creation fields
that Security 4688 spells differently (Image ← NewProcessName, ParentImage ←
ParentProcessName).

Sigma correlation rules (event_count, value_count) run as DuckDB window
queries over the base rules' matches: password and Kerberos sprays are such
rules in the default pack (forensics/rules/sigma).

A detection cites the matched event: same evidence_sha256 and locator, the
matched event id in attributes, and parser "sigma@<version>+<rulepack hash>".
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from dataclasses import dataclass
from importlib.metadata import version as _pkg_version
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import duckdb
import yaml
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from case_store import cores
from forensics.events import Event

VERSION = "1.0.0"
DEFAULT_RULES = Path(__file__).parent / "rules" / "sigma"
TABLE = "sigma_events"
_BATCH = 256  # rules per UNION ALL query: one statement, DuckDB runs its parts on every core
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Sigma's Windows field names that are not EventData fields → (attribute keys, first non-null wins).
_BUILTIN_FIELDS = {
    "EventID": ("event_id",),
    "Channel": ("channel",),
    "Provider_Name": ("provider",),
    "Image": ("Image", "NewProcessName"),
    "ParentImage": ("ParentImage", "ParentProcessName"),
}
_ROW_FIELDS = {"Computer": "host"}  # Sigma fields read from an event-row column rather than attributes
_ROW_COLUMNS = ("event_id", "evidence_sha256", "locator", "timestamp", "host", "user", "process_pid", "process_name",
                "process_cmdline", "src_ip", "src_port", "dst_ip", "dst_port", "domain", "file_path")
_SEVERITY = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}

# Windows log sources (Sigma service/category) → the channel and EventIDs they mean.
_SERVICES = {
    "security": "Security", "system": "System", "application": "Application",
    "sysmon": "Microsoft-Windows-Sysmon/Operational", "powershell": "Microsoft-Windows-PowerShell/Operational",
    "windefend": "Microsoft-Windows-Windows Defender/Operational",
    "terminalservices-localsessionmanager": "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    "terminalservices-remoteconnectionmanager":
        "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
    "taskscheduler": "Microsoft-Windows-TaskScheduler/Operational",
}
_SYSMON_CATEGORIES = {
    "process_access": [10], "network_connection": [3], "file_event": [11], "image_load": [7],
    "create_remote_thread": [8], "registry_set": [13], "registry_add": [12], "registry_delete": [12],
    "registry_event": [12, 13, 14], "dns_query": [22], "process_termination": [5], "driver_load": [6],
}


class DuckDBBackend(sqliteBackend):
    """pySigma's SQLite backend, spoken in DuckDB's dialect.

    Sigma compares strings case-insensitively. Instead of ILIKE / COLLATE NOCASE,
    which lower the column again in every comparison of every rule, the event
    table carries each field a second time already lowered (column "lc:<field>",
    see `lowered`) and literals are lowered once by the planner (lower('…') is a
    constant): lower(x) LIKE lower(p) is what DuckDB's ILIKE and NOCASE mean.
    Regular expressions (case-sensitive in Sigma), |cased, numbers, existence
    and field references still read the original column.
    """

    name = "cyberclaim DuckDB"
    wildcard_match_expression = "{field} ILIKE '{value}' ESCAPE '\\'"
    contains_expression = "{field} ILIKE '%{value}%' ESCAPE '\\'"
    re_expression = "regexp_matches({field}, '{regex}')"
    table = TABLE

    def __init__(self, processing_pipeline=None, collect_errors=False, **options):
        options.setdefault("collate_nocase", True)
        super().__init__(processing_pipeline, collect_errors, **options)

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression, state) -> str:
        # every column is text: compare "4624" = '4624' rather than cast each row
        return f"{self.escape_and_quote_field(cond.field)}='{cond.value}'"

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state) -> str:
        field = _quote(lowered(cond.field))
        value = cond.value
        if value.contains_special() or any(ch in value for ch in (self.wildcard_multi, self.wildcard_single,
                                                                  self.escape_char)):
            return f"{field} LIKE lower('{self.convert_value_str(value, state, no_quote=True)}') ESCAPE '\\'"
        return f"{field}=lower({self.convert_value_str(value, state)})"


def lowered(field: str) -> str:
    """Name of the event-table column holding `field` lower-cased."""
    return "lc:" + field


def windows_pipeline() -> ProcessingPipeline:
    items = [
        ProcessingItem(identifier=f"cc_service_{svc}", transformation=AddConditionTransformation({"Channel": chan}),
                       rule_conditions=[LogsourceCondition(product="windows", service=svc)])
        for svc, chan in _SERVICES.items()
    ]
    items.append(ProcessingItem(identifier="cc_process_creation",
                                transformation=AddConditionTransformation({"EventID": [1, 4688]}),
                                rule_conditions=[LogsourceCondition(product="windows", category="process_creation")]))
    for cat, ids in _SYSMON_CATEGORIES.items():
        items.append(ProcessingItem(
            identifier=f"cc_sysmon_{cat}",
            transformation=AddConditionTransformation({"Channel": _SERVICES["sysmon"], "EventID": ids}),
            rule_conditions=[LogsourceCondition(product="windows", category=cat)]))
    for cat, ids in (("ps_script", [4104]), ("ps_module", [4103])):
        items.append(ProcessingItem(
            identifier=f"cc_{cat}",
            transformation=AddConditionTransformation({"Channel": _SERVICES["powershell"], "EventID": ids}),
            rule_conditions=[LogsourceCondition(product="windows", category=cat)]))
    return ProcessingPipeline(name="cyberclaim windows", priority=20, items=items)


@dataclass(frozen=True)
class RuleProblem:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


def _rule_files(dirs: Iterable[Path | str] | None) -> list[Path]:
    dirs = [DEFAULT_RULES] if dirs is None else [Path(d) for d in dirs]
    files: list[Path] = []
    for d in dirs:
        if d.is_file():
            files.append(d)
        elif d.is_dir():
            files.extend(p for p in d.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    return sorted(set(files))


def rulepack_fingerprint(dirs: Iterable[Path | str] | None = None) -> str:
    """Short hash over rule file names and contents: changes iff the rules change."""
    h = hashlib.sha256()
    for p in _rule_files(dirs):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def load_rules(dirs: Iterable[Path | str] | None = None) -> tuple[SigmaCollection, list[RuleProblem]]:
    """Every rule that parses, plus one problem (file, reason) for each that does not."""
    rules: list[Any] = []
    problems: list[RuleProblem] = []
    for p in _rule_files(dirs):
        try:
            # libyaml's loader, not pySigma's from_yaml (pure-Python yaml.safe_load_all): same
            # documents, an order of magnitude faster on a few hundred rule files
            docs = list(yaml.load_all(p.read_text(encoding="utf-8", errors="replace"), Loader=_YAML_LOADER))
            c = SigmaCollection.from_dicts(docs, collect_errors=True)
        except Exception as e:  # YAML that is not even a document
            problems.append(RuleProblem(str(p), f"unreadable: {e}"))
            continue
        for err in c.errors:
            problems.append(RuleProblem(str(p), str(err)))
        for r in c.rules:
            if getattr(r, "errors", None):
                problems.extend(RuleProblem(str(p), str(e)) for e in r.errors)
                continue
            r.source_file = str(p)  # type: ignore[attr-defined]
            rules.append(r)
    coll = SigmaCollection(rules)
    try:
        coll.resolve_rule_references()
    except Exception as e:
        problems.append(RuleProblem("(correlations)", f"unresolved rule reference: {e}"))
        coll = SigmaCollection([r for r in rules if not isinstance(r, SigmaCorrelationRule)])
    return coll, problems


@dataclass
class _Compiled:
    rule: SigmaRule
    where: str
    emit: bool  # False for a base rule used only by a correlation


def _fields_of(det: Any, out: set[str]) -> None:
    if isinstance(det, SigmaDetectionItem):
        if det.field:
            out.add(det.field)
    elif isinstance(det, SigmaDetection):
        for d in det.detection_items:
            _fields_of(d, out)


def compile_rules(coll: SigmaCollection) -> tuple[list[_Compiled], list[SigmaCorrelationRule], set[str],
                                                  list[RuleProblem]]:
    backend = DuckDBBackend(processing_pipeline=windows_pipeline())
    compiled: list[_Compiled] = []
    problems: list[RuleProblem] = []
    fields: set[str] = set(_BUILTIN_FIELDS) | set(_ROW_FIELDS)
    correlations = [r for r in coll.rules if isinstance(r, SigmaCorrelationRule)]
    for r in coll.rules:
        if isinstance(r, SigmaCorrelationRule):
            continue
        emit = r._output
        r._output = True  # base rules of correlations are queried too, just not reported on their own
        try:
            queries = backend.convert_rule(r)
        except Exception as e:
            problems.append(RuleProblem(getattr(r, "source_file", "?"), f"{r.title}: cannot convert: {e}"))
            continue
        if len(queries) != 1 or " WHERE " not in str(queries[0]):
            problems.append(RuleProblem(getattr(r, "source_file", "?"), f"{r.title}: unsupported query form"))
            continue
        for det in r.detection.detections.values():
            _fields_of(det, fields)
        compiled.append(_Compiled(r, str(queries[0]).split(" WHERE ", 1)[1], emit))
    return compiled, correlations, fields, problems


def _attribute_columns(fields: Iterable[str]) -> tuple[list[str], str, dict[str, str]]:
    """SQL that reads every attribute key the rules need from `attributes` in one JSON parse.

    Returns (keys, json_transform type literal, key → SQL over the parsed struct `j`).
    json_transform matches keys exactly, like json_extract_string; a struct cannot hold
    two keys differing only in case, so the second spelling of such a pair is read with
    its own json_extract_string.
    """
    keys: list[str] = []
    for f in sorted(fields):
        if f in _ROW_FIELDS:
            continue
        for k in _BUILTIN_FIELDS.get(f, (f,)):
            if k not in keys:
                keys.append(k)
    taken: dict[str, str] = {}
    sql: dict[str, str] = {}
    for k in keys:
        if taken.setdefault(k.lower(), k) == k:
            sql[k] = f"struct_extract(j, {_literal(k)})"
        else:
            path = '$."' + k.replace('"', '\\"') + '"'
            sql[k] = f"json_extract_string(attributes, {_literal(path)})"
    struct = json.dumps({k: "VARCHAR" for k in taken.values()}, sort_keys=True)
    return keys, struct, sql


def _field_sql(name: str, key_sql: dict[str, str]) -> str:
    if name in _ROW_FIELDS:
        return _quote(_ROW_FIELDS[name])
    parts = [key_sql[k] for k in _BUILTIN_FIELDS.get(name, (name,))]
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_sql(source: Any) -> str:
    if isinstance(source, (str, Path)):
        source = [source]
    if isinstance(source, (list, tuple)):
        paths = ", ".join("'" + str(p).replace("'", "''") + "'" for p in source)
        return f"read_parquet([{paths}], union_by_name=true)"
    raise TypeError("source must be parquet path(s) or a table name via table=")


def match(source: Sequence[Path | str] | Path | str | None = None, rules_dirs: Iterable[Path | str] | None = None,
          *, con: duckdb.DuckDBPyConnection | None = None, table: str | None = None,
          problems: list[RuleProblem] | None = None) -> Iterator[Event]:
    """Detections of the rules in `rules_dirs` (default: the project pack) over event rows.

    `source`: Parquet file path(s) of event rows, or pass `table=` naming a table/view of
    event rows in `con`. Rules that cannot be loaded or converted are appended to
    `problems` (if given) and skipped. Output order is deterministic.
    """
    coll, probs = load_rules(rules_dirs)
    compiled, correlations, fields, cprobs = compile_rules(coll)
    if problems is not None:
        problems.extend(probs + cprobs)
    parser = f"sigma@{VERSION}+{rulepack_fingerprint(rules_dirs)}"
    own = con is None
    con = con or cores.apply(duckdb.connect())  # one thread inside a batch task (case_store.cores)
    try:
        src = table if table is not None else _source_sql(source)
        used = " ".join(c.where for c in compiled)
        _build_table(con, src, fields | _correlation_fields(correlations),
                     {f for f in fields if _quote(lowered(f)) in used})
        hits = _run_rules(con, compiled)
        yield from _detections(con, compiled, hits, parser)
        yield from _correlate(con, compiled, correlations, hits, parser, problems)
    finally:
        if own:
            con.close()


def _correlation_fields(correlations: list[SigmaCorrelationRule]) -> set[str]:
    out: set[str] = set()
    for corr in correlations:
        out.update(corr.group_by or [])
        ref = getattr(corr.condition, "fieldref", None)
        if isinstance(ref, str):
            out.add(ref)
    return out


def _build_table(con, src: str, fields: set[str], lower_fields: set[str] | None = None) -> None:
    """The event rows the rules run over, every rule field a column: as is and lower-cased.

    `attributes` is parsed once per row (json_transform into a struct of the keys
    the rules use) rather than once per field, and lower() runs once per value
    rather than once per comparison.
    """
    _keys, struct, key_sql = _attribute_columns(fields)
    cols = ", ".join(_ROW_COLUMNS)
    virtual = []
    for f in sorted(fields):
        expr = _field_sql(f, key_sql)
        virtual.append(f"{expr} AS {_quote(f)}")
        if lower_fields is None or f in lower_fields:  # only what a case-insensitive comparison reads
            virtual.append(f"lower({expr}) AS {_quote(lowered(f))}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT {cols}, {', '.join(virtual)} "
                f"FROM (SELECT *, json_transform(attributes, {_literal(struct)}) AS j "
                f"FROM {src} WHERE data_type <> 'detection')")


def _run_rules(con, compiled: list[_Compiled]) -> dict[int, list[tuple]]:
    """rule index → matching event ids, a batch of rules per single scan of the table.

    Each row gets the list of the rules whose WHERE holds for it (CASE per rule, so
    NULL counts as no match exactly as in a WHERE): one scan and one plan per batch
    instead of one per rule, which is where the time went with a few hundred rules.
    """
    hits: dict[int, list[tuple]] = {}
    for b in range(0, len(compiled), _BATCH):
        batch = list(enumerate(compiled[b:b + _BATCH], start=b))
        cases = ", ".join(f"CASE WHEN {c.where} THEN {i} END" for i, c in batch)
        try:
            rows = con.execute(f"SELECT rule_ix, event_id FROM (SELECT event_id, unnest(list_filter([{cases}], "
                               f"lambda x: x IS NOT NULL)) AS rule_ix FROM {TABLE})").fetchall()
        except duckdb.Error:  # one bad query must not sink the batch: run its rules one by one
            rows = []
            for i, c in batch:
                try:
                    rows += con.execute(f"SELECT {i}, event_id FROM {TABLE} WHERE {c.where}").fetchall()
                except duckdb.Error:
                    continue
        for ix, eid in rows:
            hits.setdefault(ix, []).append(eid)
    return hits


@dataclass(frozen=True)
class _RuleMeta:
    """What every detection of one rule repeats: worked out once per rule, not per hit."""

    rule_id: str
    title: str
    level: str
    severity: str
    attack: tuple[str, ...]
    tags: tuple[str, ...]
    gbt: str | None
    rule_file: str


def _rule_meta(rule: Any) -> _RuleMeta:
    attack, tags, gbt = [], [], None
    for t in rule.tags:
        s = str(t)
        if t.namespace == "attack" and re.fullmatch(r"t\d{4}(\.\d{3})?", t.name):
            attack.append(t.name.upper())
        elif t.namespace == "gbt":
            gbt = t.name.upper()
        tags.append(s)
    level = rule.level.name.lower() if rule.level else "medium"
    return _RuleMeta(str(rule.id) if rule.id else rule.title, rule.title, level, _SEVERITY.get(level, "medium"),
                     tuple(attack), tuple(tags), gbt, Path(getattr(rule, "source_file", "")).name)


def _detection(m: _RuleMeta, row: tuple, parser: str, matched: list[str], extra: dict | None = None) -> Event:
    """A detection citing the event row (a tuple in _ROW_COLUMNS order)."""
    attrs = {"rule_id": m.rule_id, "title": m.title, "level": m.level, "matched_event_ids": matched,
             "rule_tags": list(m.tags), "rule_file": m.rule_file}
    if extra:
        attrs.update(extra)
    (_eid, sha, locator, ts, host, user, pid, pname, cmdline, src_ip, src_port, dst_ip, dst_port, domain,
     file_path) = row
    return Event(
        timestamp=int(ts), data_type="detection", message=f"Sigma {m.level}: {m.title}",
        locator=locator, timestamp_desc="Event Recorded", parser=parser,
        evidence_sha256=sha, host=host, user=user, process_pid=pid, process_name=pname, process_cmdline=cmdline,
        src_ip=src_ip, src_port=src_port, dst_ip=dst_ip, dst_port=dst_port, domain=domain, file_path=file_path,
        tags=["sigma"], attack=list(m.attack), gbt_category=m.gbt, severity=m.severity, attributes=attrs,
        discriminator=f"sigma:{m.rule_id}",
    )


def _rows(con, ids: Iterable[str]) -> dict[str, tuple]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    cur = con.execute(f"SELECT {', '.join(_ROW_COLUMNS)} FROM {TABLE} WHERE event_id IN (SELECT unnest(?))", [ids])
    return {r[0]: r for r in cur.fetchall()}


_TS, _LOC = _ROW_COLUMNS.index("timestamp"), _ROW_COLUMNS.index("locator")


def _detections(con, compiled, hits, parser) -> Iterator[Event]:
    """One detection per (rule, matched event), in (time, locator, rule id) order.

    The order is settled on plain tuples first; each Event is built only as it is yielded.
    """
    rows = _rows(con, (e for ix, eids in hits.items() if compiled[ix].emit for e in eids))
    order = []
    metas = {}
    for ix, eids in hits.items():
        if not compiled[ix].emit:
            continue
        meta = metas[ix] = _rule_meta(compiled[ix].rule)
        for eid in set(eids):
            row = rows[eid]
            order.append((int(row[_TS]), row[_LOC], meta.rule_id, ix, eid))
    order.sort()
    for _ts, _loc, _rid, ix, eid in order:
        yield _detection(metas[ix], rows[eid], parser, [eid])


_OPS = {SigmaCorrelationConditionOperator.GTE: ">=", SigmaCorrelationConditionOperator.GT: ">",
        SigmaCorrelationConditionOperator.LTE: "<=", SigmaCorrelationConditionOperator.LT: "<",
        SigmaCorrelationConditionOperator.EQ: "="}


def _correlate(con, compiled, correlations, hits, parser, problems) -> Iterator[Event]:
    """event_count / value_count over a sliding `timespan` window per group-by key.

    One detection per group: at the first event where the condition holds, citing
    every event inside that window.
    """
    by_id = {c.rule.id: i for i, c in enumerate(compiled)}
    by_name = {c.rule.name: i for i, c in enumerate(compiled) if c.rule.name}
    out = []
    for corr in correlations:
        if corr.type not in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT):
            if problems is not None:
                problems.append(RuleProblem(getattr(corr, "source_file", "?"),
                                            f"{corr.title}: correlation type {corr.type.name} not supported"))
            continue
        base_ix = [by_id.get(ref.rule.id, by_name.get(ref.rule.name)) for ref in corr.rules]
        ids = sorted({e for ix in base_ix if ix is not None for e in hits.get(ix, [])})
        if not ids:
            continue
        group = [_quote(g) for g in (corr.group_by or [])]
        part = f"PARTITION BY {', '.join(group)}" if group else ""
        span = int(corr.timespan.seconds * 1_000_000)
        if corr.type == SigmaCorrelationType.VALUE_COUNT:
            agg = f"count(DISTINCT {_quote(corr.condition.fieldref)})"
        else:
            agg = "count(*)"
        win = f"({part} ORDER BY timestamp RANGE BETWEEN {span} PRECEDING AND CURRENT ROW)"
        # the count per row first; the window's members only for the one row per group that
        # is reported (a list per row is quadratic in the events of a busy window)
        same_group = " AND ".join(f"m.{g} IS NOT DISTINCT FROM f.{g}" for g in group) or "true"
        sql = (f"WITH m AS (SELECT * FROM {TABLE} WHERE event_id IN (SELECT unnest(?))), "
               f"w AS (SELECT event_id, {', '.join(group + ['timestamp']) if group else 'timestamp'}, "
               f"{agg} OVER {win} AS n FROM m), "
               f"f AS (SELECT * FROM w WHERE n {_OPS[corr.condition.op]} {int(corr.condition.count)} "
               f"QUALIFY row_number() OVER ({part} ORDER BY timestamp, event_id) = 1) "
               f"SELECT f.event_id, any_value(f.n), list(m.event_id) FROM f JOIN m ON {same_group} "
               f"AND m.timestamp BETWEEN f.timestamp - {span} AND f.timestamp GROUP BY f.event_id ORDER BY f.event_id")
        try:
            found = con.execute(sql, [ids]).fetchall()
        except duckdb.Error as e:
            if problems is not None:
                problems.append(RuleProblem(getattr(corr, "source_file", "?"), f"{corr.title}: {e}"))
            continue
        rows = _rows(con, (f[0] for f in found))
        for eid, n, members in found:
            out.append(_detection(_rule_meta(corr), rows[eid], parser, sorted(members),
                                  {"correlation": corr.type.name.lower(), "count": int(n),
                                   "group_by": list(corr.group_by or [])}))
    out.sort(key=lambda e: (e.timestamp, e.locator, e.attributes["rule_id"]))
    yield from out
