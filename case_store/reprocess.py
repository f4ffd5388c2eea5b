"""Batch reprocessing of cases: verify → ingest what changed → storyline → adjust → run record + diff.

One driver process owns the case database; work goes to an executor
(`forensics.executors`): ingest units (one ingestor over one evidence item,
`pipeline.run_unit`), one Sigma task per case (`run_sigma_tasks`) and one
finalize task per case (storyline + adjustment, read-only, `finalize_case`).
Units of all cases share the executor, so one large case spreads over the
workers and many small cases fill them; a unit two cases share runs once.

The driver only plans, records and diffs, so that it takes little of the
machine from the workers: finished work is recorded in two transactions per batch of
results (the first case's alone, so its follow-up work goes out at once), custody
entries are appended as one chained run per case, the cache is looked up with one
query per case, and each task runs on one core (`case_store.cores`).

What makes it safe to kill at any moment:
- a unit's events are one Parquet file renamed into place when complete, at a
  path named by (evidence sha256, ingestor@version, config hash): running a
  unit again replaces the file, it never adds to it;
- the unit's database row is written last (after its carved files are
  registered), in one transaction with its custody entry: a unit with a file but
  no row is simply run again, a row whose file vanished is replaced;
- a case's Run row is created "running" with the driver's identity and only
  becomes "done" with its result in one transaction; a run whose driver is dead
  is marked "abandoned" by the next batch, which does the case again — mostly
  cache hits, since every finished unit is already recorded.

Determinism: the result is canonical JSON of the storyline and the adjustment,
both pure functions of the event files, the policy and the financials.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import delete, insert, select

from case_store import CyberclaimError, cases, cores, custody, vault
from case_store.clock import now_iso, tool_version
from case_store.db import session
from case_store.eventstore import case_parquet_files
from case_store.home import events_dir
from case_store.models import Evidence, IngestResult, Report, Run
from forensics.events import IngestError, canonical_json

YARA_USERS = ("yara", "memory")  # ingestors whose output depends on the YARA rule pack's content
Progress = Callable[[str, dict], None]


# ---------------------------------------------------------------------------
# identity of the driver (to tell a live run from one whose driver died)


def _proc_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()  # field 22: start time in clock ticks
    except (OSError, IndexError):
        return None


def driver_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid()) or '?'}"


def driver_alive(driver: str | None) -> bool | None:
    """True/False for a driver on this host; None when it ran elsewhere (cannot tell)."""
    if not driver:
        return False
    host, _, rest = driver.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return _proc_start(int(pid)) == start  # a recycled pid is another process


def recover_stale_runs(case_id: str) -> list[int]:
    """Mark runs left "running" by a dead driver as abandoned. Raises if a live driver holds the case."""
    me = driver_id()
    abandoned = []
    with session() as s:
        for r in s.execute(select(Run).where(Run.case_id == case_id, Run.status == "running")).scalars():
            alive = driver_alive(r.driver)
            if r.driver == me:
                alive = False  # our own leftover (an earlier batch in this process that raised)
            if alive is False:
                r.status, r.finished_at = "abandoned", now_iso()
                r.error = f"driver {r.driver} stopped before the run finished; redone by a later run"
                abandoned.append(r.id)
            else:
                raise CyberclaimError(f"case {case_id} is being reprocessed by driver {r.driver} (run {r.id})")
    return abandoned


def _clean_partial_event_files(shas: list[str]) -> None:
    """Temporary Parquet files (.name.PID.tmp) of writers that died; complete files are never touched."""
    for sha in shas:
        d = events_dir() / sha[:2] / sha
        if not d.is_dir():
            continue
        for p in d.glob(".*.tmp"):
            try:
                pid = int(p.name.rsplit(".", 2)[-2])
                os.kill(pid, 0)
            except ProcessLookupError:
                p.unlink(missing_ok=True)
            except (ValueError, IndexError):
                p.unlink(missing_ok=True)
            except PermissionError:
                pass


# ---------------------------------------------------------------------------
# fingerprints of everything a result depends on


def code_fingerprint() -> str:
    """Hash of the analysis and adjustment source: a code change without a version bump still shows."""
    import adjusters
    import forensics

    h = hashlib.sha256()
    for pkg in (forensics, adjusters):
        root = Path(pkg.__file__).parent
        for p in sorted(root.rglob("*.py")):
            h.update(p.relative_to(root.parent).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def dir_digest(path: str | None) -> str | None:
    if not path or not Path(path).exists():
        return None
    p = Path(path)
    if p.is_file():
        return vault.hash_file(p)
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(p).as_posix().encode() + b"\0" + vault.hash_file(f).encode())
    return h.hexdigest()


def rulepacks(options: dict) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    try:
        from forensics import sigma
        out["sigma"] = sigma.rulepack_fingerprint(list(options.get("sigma_rules") or []))
    except Exception:
        out["sigma"] = None
    try:
        from forensics.yara_rules import pack_for_options
        out["yara"] = pack_for_options(options).digest
    except Exception:
        out["yara"] = None
    return out


def _rel(p: str, base: Path) -> str:
    prefix = f"{base}/"
    if p.startswith(prefix) and "/./" not in p and "/../" not in p and "//" not in p and not p.endswith(("/", "/.", "/..")):
        return p[len(prefix):]  # the common case, without pathlib (1000+ files per case in a no-change run)
    try:
        return Path(p).relative_to(base).as_posix()
    except ValueError:
        return p


def case_versions(case_id: str, options: dict, packs: dict, code: str, items: list[Evidence] | None = None) -> dict:
    from forensics.pipeline import config_fingerprint, ingestor_versions

    c = cases.get_case(case_id)
    items = cases.list_evidence(case_id) if items is None else items
    base = events_dir()  # resolved once: it is a realpath per call
    files = [_rel(p, base) for p in case_parquet_files(case_id)]
    parsers: dict[str, list[str]] = {}
    for f in files:  # <sha[:2]>/<sha>/<parser@version[#member]>[+config].parquet
        parts = f.split("/")
        if len(parts) >= 3:
            parsers.setdefault(parts[-2], []).append(parts[-1].removesuffix(".parquet"))
    return {
        "tool": tool_version(),
        "code": code,
        "ingestors": dict(sorted(ingestor_versions().items())),
        "rulepacks": packs,
        "options": options,
        "options_hash": config_fingerprint(options),
        "policy_sha256": dir_digest(c.policy_path),
        "financials_sha256": dir_digest(c.financials_path),
        "evidence": {e.sha256: {"name": e.original_name, "parent": e.parent_sha256, "clock_offset_s": e.clock_offset_s,
                                "timezone": e.timezone} for e in items},
        "parsers": {k: sorted(v) for k, v in sorted(parsers.items())},
        "event_files": sorted(files),
    }


def input_key(v: dict) -> str:
    """Everything the result is a function of; equal keys → equal results, so no recompute is needed."""
    keep = {k: v[k] for k in ("code", "policy_sha256", "financials_sha256", "evidence", "event_files")}
    return hashlib.sha256(canonical_json(keep).encode()).hexdigest()


# ---------------------------------------------------------------------------
# the finalize task (runs on a worker: reads the case, writes nothing)


def timeline_files(case_id: str) -> list[str]:
    """The case's event files that hold at least one event, in `case_parquet_files` order.

    Nearly all of a case's files can be empty (a YARA scan of a carved object with no match,
    a table with no rows: 100 of 105 in the benchmark's cases), and every storyline query
    opened each of them: leaving them out halves the storyline's time and changes no row.
    A timeline big enough to be read through its compacted copy keeps every file, so the
    copy is the one the UI builds and reuses (its key is the file set).
    """
    import pyarrow.parquet as pq

    from case_store.eventstore import COMPACT_MIN_ROWS

    files = case_parquet_files(case_id)
    rows = [pq.read_metadata(f).num_rows for f in files]
    if sum(rows) >= COMPACT_MIN_ROWS:
        return files
    return [f for f, n in zip(files, rows) if n]


def finalize_case(case_id: str, n_draws: int | None = None) -> str:
    """Storyline + adjustment of a case, as canonical JSON (the run's result)."""
    from forensics.storyline import build_storyline
    from forensics.timecorrect import corrections

    # the files and clock offsets the storyline would look up itself, less the empty files
    offsets = {c.evidence_sha256: c.offset_us for c in corrections(case_id) if c.offset_us}
    story = build_storyline(case_id, files=timeline_files(case_id), offsets=offsets)
    c = cases.get_case(case_id)
    out: dict[str, Any] = {"case_id": case_id, "storyline": story.model_dump(mode="json"), "adjustment": None,
                           "not_adjusted": None}
    if not c.policy_path:
        out["not_adjusted"] = "the case has no policy"
    elif not c.financials_path:
        out["not_adjusted"] = "the case has no financials"
    else:
        from adjusters.adjust import adjust
        from adjusters.financials import load_financials
        from adjusters.policy import load_policy

        pol = load_policy(Path(c.policy_path))
        fin = load_financials(Path(c.financials_path), pol)
        res = adjust(story, pol, fin, **({"n_draws": n_draws} if n_draws else {}))
        out["adjustment"] = json.loads(res.to_json())
    return canonical_json(out)


# ---------------------------------------------------------------------------
# diff between two runs


def _lines(result: dict | None) -> tuple[dict, dict, dict]:
    adj = (result or {}).get("adjustment") or {}
    cov = {c["section"]: c for c in adj.get("coverage", [])}
    losses = {x["head"]: x for x in adj.get("losses", [])}
    return cov, losses, adj.get("totals") or {}


def _delta(a, b):
    if a is None or b is None:
        return None
    return round(b - a, 2)


def _event_changes(old_files: list[str], new_files: list[str], sample: int = 10) -> list[dict]:
    """New and removed event ids per parser between two sets of event files (DuckDB anti-joins)."""
    import duckdb

    if sorted(old_files) == sorted(new_files):
        return []
    base = events_dir()
    old = [str(base / f) for f in old_files if (base / f).exists()]
    new = [str(base / f) for f in new_files if (base / f).exists()]
    con = cores.apply(duckdb.connect())
    try:
        def view(name, files):
            if files:
                lst = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
                con.execute(f"CREATE VIEW {name} AS SELECT DISTINCT event_id, parser FROM read_parquet({lst})")
            else:
                con.execute(f"CREATE VIEW {name} AS SELECT '' AS event_id, '' AS parser WHERE false")
        view("a", old)
        view("b", new)
        out = []
        for side, src, other in (("added", "b", "a"), ("removed", "a", "b")):
            rows = con.execute(f"""
                SELECT parser, count(*) AS n, list(event_id ORDER BY event_id)[1:{sample}] AS ids
                FROM {src} WHERE event_id NOT IN (SELECT event_id FROM {other}) GROUP BY parser ORDER BY parser""").fetchall()
            out += [{"kind": "events", "change": side, "parser": p, "count": int(n), "sample_event_ids": list(ids)} for p, n, ids in rows]
        missing = len(old_files) - len(old)
        if missing:
            out.append({"kind": "events", "change": "unknown", "note": f"{missing} event files of the previous run are gone"})
        return out
    finally:
        con.close()


def diff_runs(prev: Run | None, prev_result: dict | None, prev_versions: dict | None,
              cur_result: dict, cur_versions: dict) -> dict:
    """Which decision or figure changed, by how much, and which input change explains it."""
    if prev is None:
        return {"previous_run": None, "first_run": True, "changed": True}
    d: dict[str, Any] = {"previous_run": prev.id, "first_run": False}
    c0, l0, t0 = _lines(prev_result)
    c1, l1, t1 = _lines(cur_result)
    d["coverage"] = [{"section": s, "before": (c0.get(s) or {}).get("decision"), "after": (c1.get(s) or {}).get("decision")}
                     for s in sorted(set(c0) | set(c1)) if (c0.get(s) or {}).get("decision") != (c1.get(s) or {}).get("decision")]
    figs = []
    for h in sorted(set(l0) | set(l1)):
        a, b = l0.get(h) or {}, l1.get(h) or {}
        for fld in ("claimed", "adjusted", "payable"):
            if a.get(fld) != b.get(fld):
                figs.append({"head": h, "field": fld, "before": a.get(fld), "after": b.get(fld), "delta": _delta(a.get(fld), b.get(fld))})
        ids_a, ids_b = set(a.get("cited_event_ids") or []), set(b.get("cited_event_ids") or [])
        if ids_a != ids_b and (a.get("payable") != b.get("payable") or a.get("adjusted") != b.get("adjusted")):
            figs.append({"head": h, "field": "cited_event_ids", "added": sorted(ids_b - ids_a)[:20], "removed": sorted(ids_a - ids_b)[:20]})
    d["figures"] = figs
    d["totals"] = {f: {"before": t0.get(f), "after": t1.get(f), "delta": _delta(t0.get(f), t1.get(f))}
                   for f in ("claimed", "adjusted", "payable") if t0.get(f) != t1.get(f)}
    st0, st1 = (prev_result or {}).get("storyline") or {}, cur_result.get("storyline") or {}
    d["storyline"] = sorted(k for k in set(st0) | set(st1) if st0.get(k) != st1.get(k))
    d["changed"] = bool(d["coverage"] or d["figures"] or d["totals"] or d["storyline"]
                        or (prev_result or {}).get("not_adjusted") != cur_result.get("not_adjusted"))
    d["causes"] = causes(prev_versions or {}, cur_versions)
    return d


def causes(v0: dict, v1: dict) -> list[dict]:
    out: list[dict] = []
    i0, i1 = v0.get("ingestors") or {}, v1.get("ingestors") or {}
    for name in sorted(set(i0) | set(i1)):
        if i0.get(name) != i1.get(name):
            out.append({"kind": "ingestor_version", "ingestor": name, "before": i0.get(name), "after": i1.get(name)})
    r0, r1 = v0.get("rulepacks") or {}, v1.get("rulepacks") or {}
    for pack in sorted(set(r0) | set(r1)):
        if r0.get(pack) != r1.get(pack):
            out.append({"kind": "rule_pack", "pack": pack, "before": r0.get(pack), "after": r1.get(pack)})
    for key, kind in (("policy_sha256", "policy"), ("financials_sha256", "financials"), ("options_hash", "configuration"),
                      ("code", "code"), ("tool", "tool")):
        if v0.get(key) != v1.get(key):
            out.append({"kind": kind, "before": v0.get(key), "after": v1.get(key)})
    e0, e1 = v0.get("evidence") or {}, v1.get("evidence") or {}
    for sha in sorted(set(e0) | set(e1)):
        if sha not in e0:
            out.append({"kind": "evidence_added", "sha256": sha, "name": e1[sha]["name"], "derived": bool(e1[sha].get("parent"))})
        elif sha not in e1:
            out.append({"kind": "evidence_removed", "sha256": sha, "name": e0[sha]["name"]})
        elif e0[sha] != e1[sha]:
            out.append({"kind": "time_correction", "sha256": sha, "name": e1[sha]["name"], "before": e0[sha], "after": e1[sha]})
    out += _event_changes(v0.get("event_files") or [], v1.get("event_files") or [])
    return out


# ---------------------------------------------------------------------------
# the batch driver


@dataclass
class CaseOutcome:
    case_id: str
    status: str = "pending"  # planned | new | unchanged | changed | failed
    run_id: int | None = None
    units: int = 0
    cached: int = 0
    ran: int = 0
    seconds: float = 0.0
    error: str | None = None
    result_sha256: str | None = None
    payable: float | None = None
    reports: list[str] = field(default_factory=list)
    diff: dict | None = None


@dataclass
class _Job:
    outcome: CaseOutcome
    options: dict
    t0: float
    outstanding: int = 0
    depth: int = 0
    packs: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    key: str = ""
    known: set = field(default_factory=set)  # evidence shas of the case
    parent: dict = field(default_factory=dict)  # evidence sha -> the sha it was carved from
    index: int = 0  # position in the batch: earlier cases go first
    prev: Run | None = None  # the case's last finished run before this batch
    items: list = field(default_factory=list)  # the case's evidence (listed again once ingest is complete if it grew)
    grew: bool = False  # carved files were registered as evidence during this batch


@dataclass
class BatchSummary:
    outcomes: list[CaseOutcome]
    seconds: float
    where: str

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def _last_done(case_id: str) -> Run | None:
    with session() as s:
        return s.execute(select(Run).where(Run.case_id == case_id, Run.status == "done").order_by(Run.id.desc()).limit(1)).scalar_one_or_none()


def list_runs(case_id: str) -> list[Run]:
    cases.get_case(case_id)
    with session() as s:
        return list(s.execute(select(Run).where(Run.case_id == case_id).order_by(Run.id)).scalars())


def get_run(case_id: str, run_id: int) -> Run:
    with session() as s:
        r = s.get(Run, run_id)
    if r is None or r.case_id != case_id:
        raise CyberclaimError(f"case {case_id} has no run {run_id} (see `cyberclaim runs {case_id}`)")
    return r


def diff_stored(case_id: str, run_a: int, run_b: int) -> dict:
    a, b = get_run(case_id, run_a), get_run(case_id, run_b)
    if a.result is None or b.result is None:
        raise CyberclaimError(f"run {a.id if a.result is None else b.id} has no result ({a.status if a.result is None else b.status})")
    d = diff_runs(a, json.loads(a.result), json.loads(a.versions or "{}"), json.loads(b.result), json.loads(b.versions or "{}"))
    d["run"] = b.id
    return d


def _plan_units(case_id: str, options: dict, packs: dict, only: list[str] | None = None, memo: dict | None = None,
                items: list[Evidence] | None = None) -> list:
    from forensics.pipeline import config_fingerprint, plan

    units = plan(case_id, options, only, memo, items)
    for u in units:
        if u.ingestor in YARA_USERS and packs.get("yara"):
            # the rule pack's content, not just its path, keys the cache of the units that scan with it
            u.options = dict(u.options, yara_rulepack=packs["yara"])
            u.config_hash = config_fingerprint({k: v for k, v in u.options.items() if k != "acquired_at"})
    return units


def _unit_key(u) -> tuple[str, str, str]:
    return u.evidence_sha256, u.parser_id + (f"#{u.locator_prefix}" if u.locator_prefix else ""), u.config_hash


def _split_cached(units: list) -> tuple[list, list, dict[tuple, list[dict]]]:
    """(cached, to run, carved files of the cached units by unit key) with one query for all the units
    (the per-unit lookup is what made a no-change reprocess slow): cached = a stored result whose
    Parquet file is still there and whose carved files are known (rows from before migration 0003 run again)."""
    shas = sorted({u.evidence_sha256 for u in units})
    stored: dict[tuple, tuple[str | None, str | None]] = {}
    if shas:
        with session() as s:
            for sha, parser, config, path, carved in s.execute(select(
                    IngestResult.evidence_sha256, IngestResult.parser, IngestResult.config_hash, IngestResult.parquet_path,
                    IngestResult.carved).where(IngestResult.evidence_sha256.in_(shas))):
                stored[(sha, parser, config)] = path, carved
    cached, todo, carved_of = [], [], {}
    for u in units:
        key = _unit_key(u)
        path, carved = stored.get(key, (None, None))
        hit = (u.ingestor != "decompress" and key in stored and carved is not None
               and (path is None or os.path.exists(path)))
        (cached if hit else todo).append(u)
        if hit and carved != "[]":
            carved_of[key] = json.loads(carved)
    return cached, todo, carved_of


def _known_derived(s, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (case id, sha256) pairs are already evidence of their case: one query per chunk, not one per file."""
    known: set[tuple[str, str]] = set()
    cids, shas = sorted({c for c, _ in pairs}), sorted({h for _, h in pairs})
    for i in range(0, len(shas), 500):  # bounded IN lists (SQLite's variable limit)
        for j in range(0, len(cids), 100):
            known.update((c, h) for c, h in s.execute(select(Evidence.case_id, Evidence.sha256).where(
                Evidence.case_id.in_(cids[j:j + 100]), Evidence.sha256.in_(shas[i:i + 500]))))
    return known & pairs


def _derived_row(case_id: str, c: dict, u, etype: str) -> tuple[dict, tuple[str, str, dict]]:
    """A carved file as derived evidence of the case (the row's columns), and its custody entry (action, sha, details).
    Same row and custody entry as `cases._register` (which opens a transaction of its own)."""
    from case_store.clock import current_actor

    sha = c["sha256"]
    source = f"derived from {u.evidence_sha256}"
    derivation = f"{u.parser_id} at {c['locator']}" + (f": {c['note']}" if c["note"] else "")
    row = dict(case_id=case_id, sha256=sha, size=c["size"], original_name=c["name"], evidence_type=etype, source=source,
               acquired_by=None, added_at=now_iso(), added_by=current_actor(), parent_sha256=u.evidence_sha256,
               derivation=derivation, clock_offset_s=None, timezone=None)
    return row, ("evidence_derived", sha, {"name": c["name"], "size": c["size"], "type": etype, "source": source,
                                           "acquired_by": None, "parent": u.evidence_sha256, "derivation": derivation})


def run_sigma_tasks(tasks: list) -> list:
    """Worker task: Sigma over each evidence item of one case (reads Parquet, writes Parquet)."""
    from forensics.pipeline import run_sigma

    return [run_sigma(t) for t in tasks]


# what runs first: a case's follow-up work before the next case's first units, so cases finish
# one after another (a killed batch loses little; per-case progress means something)
STAGE_UNITS, STAGE_CARVED, STAGE_SIGMA, STAGE_FINALIZE = range(4)


class Batch:
    """Reprocess a list of cases on one executor; the only writer of the database.

    Finished work comes back in batches (`Executor.batches`); the results of one
    batch are written in two transactions (see `_record`). Everything heavy — ingest, Sigma,
    storyline, adjustment — runs on the workers; the driver plans, records and diffs.
    """

    def __init__(self, executor, options: dict | None = None, progress: Progress | None = None,
                 recompute: bool = False, reports: bool = True, n_draws: int | None = None):
        self.ex = executor
        self.cli_options = options
        self.progress = progress or (lambda kind, info: None)
        self.recompute = recompute
        self.reports = reports
        self.n_draws = n_draws
        self.code = code_fingerprint()
        self.jobs: dict[str, _Job] = {}
        self._packs: dict[str, dict] = {}
        # units submitted and not yet back, by cache key -> the other cases waiting for the same result
        # (cases of one batch can share an item: the same attachment, the same carved HTTP object)
        self._inflight: dict[tuple, list[_Job]] = {}
        # carved objects recur in every case of a batch (the same capture, the same HTTP object): what applies
        # to a content-addressed file and its type are worked out once
        self._plan_memo: dict = {}
        self._etype: dict[tuple[str, str], str] = {}

    # -- planning

    def _options_for(self, case_id: str, last: Run | None = None) -> dict:
        """The options given on the command line, else those of the case's last run (so --all keeps each case's)."""
        if self.cli_options is not None:
            return dict(self.cli_options)
        last = last or _last_done(case_id)
        return dict(json.loads(last.versions or "{}").get("options") or {}) if last else {}

    def _rulepacks(self, options: dict) -> dict:
        """Rule-pack fingerprints, once per distinct options in a batch (the packs do not change under it)."""
        k = canonical_json(options)
        if k not in self._packs:
            self._packs[k] = rulepacks(options)
        return self._packs[k]

    def dry_run(self, case_ids: list[str]) -> BatchSummary:
        t0 = time.perf_counter()
        outs = []
        for cid in case_ids:
            o = CaseOutcome(cid, "planned")
            try:
                cases.get_case(cid)
                bad = cases.verify_evidence(cid, log=False)
                if bad:
                    raise CyberclaimError("evidence verification failed: " + "; ".join(
                        f"{e.original_name} ({e.sha256[:12]}…): {p}" for e, p in bad))
                opts = self._options_for(cid)
                cached, todo, _ = _split_cached(_plan_units(cid, opts, self._rulepacks(opts), memo=self._plan_memo))
                o.units, o.cached, o.ran = len(cached) + len(todo), len(cached), len(todo)
            except CyberclaimError as e:
                o.status, o.error = "failed", str(e)
            outs.append(o)
            self.progress("case_done", {"outcome": o})
        return BatchSummary(outs, time.perf_counter() - t0, self.ex.where)

    def run(self, case_ids: list[str]) -> BatchSummary:
        t0 = time.perf_counter()
        self.progress("batch_start", {"cases": len(case_ids)})
        for i, cid in enumerate(case_ids):
            self._start(cid, i)
        for batch in self.ex.batches():
            self._absorb(batch)
        for job in self.jobs.values():  # defensive: nothing may stay "running"
            if job.outcome.status == "pending":
                self._fail(job, "the batch ended before this case finished")
        return BatchSummary([j.outcome for j in self.jobs.values()], time.perf_counter() - t0, self.ex.where)

    def _submit(self, job: _Job, stage: int, kind: str, payload, fn, *args) -> None:
        job.outstanding += 1
        # one task = one core (DuckDB, Arrow): workers do not oversubscribe the machine (case_store.cores)
        self.ex.submit((kind, job.outcome.case_id, payload), cores.on_one_core, fn, *args, priority=stage * 1_000_000 - job.index)

    def _start(self, cid: str, index: int) -> None:
        job = self.jobs[cid] = _Job(CaseOutcome(cid), {}, time.perf_counter(), index=index)
        try:
            cases.get_case(cid)
            recover_stale_runs(cid)
            job.prev = _last_done(cid)  # only this driver writes the case's runs until it finishes
            if job.prev is None:  # never processed: there will be work, so the workers start now
                getattr(self.ex, "prepare", lambda: None)()
            job.options = self._options_for(cid, job.prev)
            with session() as s:
                run = Run(case_id=cid, started_at=now_iso(), status="running", driver=driver_id(),
                          versions=canonical_json({"options": job.options}))
                s.add(run)
                s.flush()
                job.outcome.run_id = run.id
            bad = cases.verify_evidence(cid)
            if bad:
                raise CyberclaimError("evidence verification failed: " + "; ".join(
                    f"{e.original_name} ({e.sha256[:12]}…): {p}" for e, p in bad))
            job.packs = self._rulepacks(job.options)
            job.items = items = cases.list_evidence(cid)
            job.known = {e.sha256 for e in items}
            job.parent = {e.sha256: e.parent_sha256 for e in items}
            cached, todo, carved_of = _split_cached(_plan_units(cid, job.options, job.packs, memo=self._plan_memo, items=items))
            more_cached, more_todo = self._adopt_cached_carved(job, cached, carved_of)
            cached, todo = cached + more_cached, todo + more_todo
            _clean_partial_event_files(sorted({u.evidence_sha256 for u in todo}))  # where a unit will write
        except CyberclaimError as e:
            self._fail(job, str(e))
            return
        job.outcome.cached, job.outcome.units = len(cached), len(cached) + len(todo)
        self.progress("case_start", {"case_id": cid, "units": job.outcome.units, "cached": job.outcome.cached})
        self._submit_units(job, todo, STAGE_UNITS)
        if job.outstanding == 0:
            self._ingested(job)

    def _submit_units(self, job: _Job, units: list, stage: int) -> None:
        from forensics.pipeline import run_unit

        def size(u) -> int:
            try:
                return os.path.getsize(u.analysis_path)
            except OSError:
                return 0
        for u in sorted(units, key=size, reverse=True):  # the longest first: it bounds when the case can finish
            waiting = self._inflight.get(_unit_key(u))
            if waiting is not None:  # another case of the batch is already running this very unit
                waiting.append(job)
                job.outstanding += 1
                continue
            self._inflight[_unit_key(u)] = []
            self._submit(job, stage, "unit", u, run_unit, u)

    # -- results

    def _absorb(self, batch: list) -> None:
        """One batch of finished tasks: unit and Sigma results recorded (per case), then follow-ups."""
        units, sigmas = [], []
        for done in batch:
            kind, cid, payload = done.tag
            job = self.jobs[cid]
            job.outstanding -= 1
            if kind == "unit":
                waiters = self._inflight.pop(_unit_key(payload), [])
                for w in waiters:
                    w.outstanding -= 1
                takers = [j for j in [job] + waiters if j.outcome.status != "failed"]
                for i, j in enumerate(takers):
                    if done.error is not None:
                        self._fail(j, f"{payload.display_name} · {payload.parser_id}: worker failed: "
                                      f"{type(done.error).__name__}: {done.error}")
                    else:  # the first case to take the result records its row; each registers the carved files
                        units.append((j, done.value, i == 0))
                continue
            if job.outcome.status == "failed":
                continue
            if done.error is not None:
                what = "Sigma matching failed" if kind == "sigma" else "storyline/adjustment failed"
                e = done.error
                # not recorded, so the next batch runs it again
                self._fail(job, str(e) if isinstance(e, CyberclaimError) else f"{what}: {type(e).__name__}: {e}")
            elif kind == "sigma":
                sigmas.append((job, done.value))
            else:
                self._guard(job, self._complete, job, done.value)
        if units or sigmas:
            self._record(units, sigmas)

    def _guard(self, job: _Job, fn, *args) -> None:
        """A bug or a database error in one case's bookkeeping fails that case, never the batch."""
        try:
            fn(*args)
        except CyberclaimError as e:
            self._fail(job, str(e))
        except Exception as e:
            self._fail(job, f"{type(e).__name__}: {e}")

    def _record(self, units: list, sigmas: list) -> None:
        """A batch of results: the earliest case's first, in a transaction of its own, and right after it
        that case's follow-up work goes to the workers, which start on it while the driver records the
        other cases in one more transaction. (A capture shared by 40 cases comes back as 40 cases' carved
        files in one batch: recording all of them before submitting anything left both workers idle.)
        A case whose results cannot be written fails alone."""
        mine: dict[int, tuple[_Job, list, list]] = {}
        for x in units:
            mine.setdefault(id(x[0]), (x[0], [], []))[1].append(x)
        for x in sigmas:
            mine.setdefault(id(x[0]), (x[0], [], []))[2].append(x)
        groups = sorted(mine.values(), key=lambda g: g[0].index)
        for chunk in (groups[:1], groups[1:]):
            if chunk:
                self._record_chunk(chunk)

    def _record_chunk(self, chunk: list[tuple[_Job, list, list]]) -> None:
        new: dict[tuple, list[str]] = {}
        try:
            with session() as s:
                for _, mine_u, mine_s in chunk:
                    new.update(self._write(s, mine_u, mine_s))
        except Exception:
            # something cannot be written: case by case, so only that case fails
            new = {}
            for job, mine_u, mine_s in chunk:
                try:
                    with session() as s:
                        new.update(self._write(s, mine_u, mine_s))
                except CyberclaimError as e:
                    self._fail(job, str(e))
                except Exception as e:
                    self._fail(job, f"cannot record results: {type(e).__name__}: {e}")
        for job, mine_u, mine_s in chunk:
            for _, r, own in mine_u:
                if job.outcome.status != "failed":
                    self._guard(job, self._unit_recorded, job, r, new.get((id(job), id(r)), []), own)
            for _, results in mine_s:
                if job.outcome.status != "failed":
                    self._guard(job, self._sigma_recorded, job, results)

    def _write(self, s, units: list, sigmas: list) -> dict[tuple, list[str]]:
        """Rows and custody entries for results (of one case, from `_record`); returns the carved shas new to their case.

        Custody entries are collected per case in the order things happen and appended
        as one chained run per case at the end (one look-up of the chain's end, one flush)."""
        from forensics.magic import detect_type, read_head
        from forensics.pipeline import sigma_custody, sigma_row, unit_custody, unit_row

        new: dict[tuple, list[str]] = {}
        log: dict[str, list] = {}
        derived: list[dict] = []  # Evidence rows, inserted in one statement (thousands when 40 cases share a capture)
        known = _known_derived(s, {(j.outcome.case_id, c["sha256"]) for j, r, _ in units if r.unit.ingestor != "decompress"
                                   for c in r.carved if c["sha256"] not in j.known})
        for job, r, own in units:
            cid, u = job.outcome.case_id, r.unit
            if u.ingestor == "decompress":
                continue
            fresh, seen = [], set(job.known)
            for c in r.carved:  # before the unit's row: the row is the unit's "done" marker
                if c["sha256"] in seen:
                    continue  # a capture carves the same object over and over (one HTTP object served a thousand times)
                seen.add(c["sha256"])
                if (cid, c["sha256"]) in known:
                    continue
                known.add((cid, c["sha256"]))
                k = (c["sha256"], c["name"])
                if k not in self._etype:
                    self._etype[k] = detect_type(read_head(vault.vault_path(c["sha256"])), c["name"])
                row, entry = _derived_row(cid, c, u, self._etype[k])
                derived.append(row)
                log.setdefault(cid, []).append(entry)
                fresh.append(c["sha256"])
            new[(id(job), id(r))] = fresh
            if own:
                sha, parser, config = _unit_key(u)
                # replace, never duplicate: a row whose Parquet vanished is rewritten
                s.execute(delete(IngestResult).where(IngestResult.evidence_sha256 == sha, IngestResult.parser == parser,
                                                     IngestResult.config_hash == config))
                s.add(unit_row(r))
                # the custody entry goes to this case (also when the case that submitted the unit failed meanwhile)
                log.setdefault(cid, []).append(unit_custody(r))
        for job, results in sigmas:
            for r in results:  # two cases of a batch may share an item (the same carved object): replace
                t = r.task
                s.execute(delete(IngestResult).where(IngestResult.evidence_sha256 == t.evidence_sha256,
                                                     IngestResult.parser == t.parser_id, IngestResult.config_hash == t.key))
                s.add(sigma_row(r))
                log.setdefault(job.outcome.case_id, []).append(sigma_custody(r))
        if derived:
            s.execute(insert(Evidence), derived)
        for cid, entries in log.items():
            custody.append_many(s, cid, entries)
        return new

    def _unit_recorded(self, job: _Job, r, fresh: list[str], ran: bool = True) -> None:
        from forensics.pipeline import MAX_CARVE_DEPTH

        cid, u = job.outcome.case_id, r.unit
        if ran:
            job.outcome.ran += 1
        else:  # another case of the batch ran it: for this case it is a cache hit
            job.outcome.cached += 1
        if u.ingestor == "decompress":
            job.problems += [e["reason"] for e in r.errors]
        for sha in fresh:
            job.known.add(sha)
            job.parent[sha] = u.evidence_sha256
            job.grew = True
        if fresh and self._depth(job, u.evidence_sha256) < MAX_CARVE_DEPTH:  # as pipeline.ingest_case: carved items up to depth 2
            cached, todo, carved_of = _split_cached(_plan_units(cid, job.options, job.packs, fresh, self._plan_memo))
            more_cached, more_todo = self._adopt_cached_carved(job, cached, carved_of)
            cached, todo = cached + more_cached, todo + more_todo
            job.outcome.units += len(cached) + len(todo)
            job.outcome.cached += len(cached)
            self.progress("units_added", {"case_id": cid, "units": len(todo)})  # the bar counts units still to run
            self._submit_units(job, todo, STAGE_CARVED)
        self.progress("unit_done", {"case_id": cid, "unit": u, "events": r.events})
        if job.outstanding == 0:
            self._ingested(job)

    def _adopt_cached_carved(self, job: _Job, cached: list, carved_of: dict) -> tuple[list, list]:
        """Files carved by results this case reuses (another case ran the unit) become evidence of this
        case too, and their own units are planned, to the same depth as pipeline.ingest_case.
        Returns the (cached, to run) units planned for them."""
        from forensics.pipeline import MAX_CARVE_DEPTH

        cid, all_cached, all_todo = job.outcome.case_id, [], []
        while cached:
            fresh = []
            for u in cached:
                carved = [c for c in carved_of.get(_unit_key(u), []) if c["sha256"] not in job.known]
                if not carved:
                    continue
                for sha in cases.register_derived(cid, u.evidence_sha256, u.parser_id, carved):
                    job.known.add(sha)
                    job.parent[sha] = u.evidence_sha256
                    job.grew = True
                    if self._depth(job, u.evidence_sha256) < MAX_CARVE_DEPTH:
                        fresh.append(sha)
            if not fresh:
                break
            cached, todo, carved_of = _split_cached(_plan_units(cid, job.options, job.packs, fresh, self._plan_memo))
            all_cached += cached
            all_todo += todo
        return all_cached, all_todo

    @staticmethod
    def _depth(job: _Job, sha: str) -> int:
        """How many carve steps separate this evidence from an original item."""
        depth = 0
        while depth < 10 and job.parent.get(sha):
            depth, sha = depth + 1, job.parent[sha]
        return depth

    def _ingested(self, job: _Job) -> None:
        """All units recorded: Sigma over the stored events (on a worker), unless cached."""
        from forensics.pipeline import sigma_tasks

        cid = job.outcome.case_id
        if job.grew:  # carved files were registered: list again (complete now: Sigma and the storyline register none)
            job.items = cases.list_evidence(cid)
        names = {e.sha256: e.original_name for e in job.items}
        with session() as s:  # only the columns sigma_tasks reads (the errors column is large)
            rows = s.execute(select(IngestResult.id, IngestResult.evidence_sha256, IngestResult.parser, IngestResult.config_hash,
                                    IngestResult.parquet_path, IngestResult.events)
                             .where(IngestResult.evidence_sha256.in_(list(names)), IngestResult.status != "failed")).all()
        tasks = sigma_tasks(job.options, names, rows)
        if tasks:
            self.progress("case_stage", {"case_id": cid, "stage": "sigma"})
            self._submit(job, STAGE_SIGMA, "sigma", None, run_sigma_tasks, tasks)
        else:
            self._sigma_recorded(job, [])

    def _sigma_recorded(self, job: _Job, results: list) -> None:
        """Events complete: the finalize task (storyline + adjustment), or the cached result."""
        cid = job.outcome.case_id
        self.progress("case_stage", {"case_id": cid, "stage": "storyline + adjustment"})
        job.versions = case_versions(cid, job.options, job.packs, self.code, job.items)
        job.key = input_key(job.versions)
        prev = job.prev
        if prev is not None and prev.input_key == job.key and prev.result is not None and not self.recompute:
            self._complete(job, prev.result)  # nothing the result depends on changed
            return
        self._submit(job, STAGE_FINALIZE, "finalize", None, finalize_case, cid, self.n_draws)

    def _complete(self, job: _Job, result: str) -> None:
        cid = job.outcome.case_id
        prev = job.prev
        cur = json.loads(result)
        d = diff_runs(prev, json.loads(prev.result) if prev and prev.result else None,
                      json.loads(prev.versions or "{}") if prev else None, cur, job.versions)
        if job.problems:
            d["problems"] = job.problems
        sha = hashlib.sha256(result.encode()).hexdigest()
        o = job.outcome
        o.status = "new" if prev is None else ("changed" if sha != prev.result_sha256 else "unchanged")
        o.result_sha256, o.diff = sha, d
        o.payable = ((cur.get("adjustment") or {}).get("totals") or {}).get("payable")
        if self.reports and o.status == "changed" and cur.get("adjustment") is not None \
                and (d.get("figures") or d.get("coverage") or d.get("totals")):
            d["reports"] = o.reports = self._reissue(cid)
        o.seconds = time.perf_counter() - job.t0
        with session() as s:
            run = s.get(Run, o.run_id)
            run.status, run.finished_at = "done", now_iso()
            run.result, run.result_sha256, run.input_key = result, sha, job.key
            run.versions = canonical_json(job.versions)
            run.diff = canonical_json(d)
            custody.append(s, cid, "reprocessed", run=o.run_id, result_sha256=sha, status=o.status, payable=o.payable,
                           units=o.units, cached=o.cached, ran=o.ran)
        self.progress("case_done", {"outcome": o})

    def _reissue(self, cid: str) -> list[str]:
        """Re-issue every report (format, language) already issued for the case, now that figures changed."""
        try:
            from adjusters.report.issue import issue_report
        except ImportError:
            return ["reports not re-issued: the report module is not available in this build"]
        with session() as s:
            kinds = sorted({(r.format, r.lang) for r in s.execute(select(Report).where(Report.case_id == cid)).scalars()})
        out = []
        for fmt, lang in kinds:
            from case_store.home import case_dir

            try:
                p = issue_report(cid, fmt, lang, case_dir(cid) / "reports" / f"latest.{lang}.{fmt}")
                out.append(f"{fmt}/{lang}: {p}")
            except Exception as e:  # one renderer failing must not lose the run
                out.append(f"{fmt}/{lang}: not re-issued: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return out

    def _fail(self, job: _Job, reason: str) -> None:
        o = job.outcome
        if o.status == "failed":
            return
        o.status, o.error, o.seconds = "failed", reason, time.perf_counter() - job.t0
        if o.run_id is not None:
            with session() as s:
                run = s.get(Run, o.run_id)
                run.status, run.finished_at, run.error = "failed", now_iso(), reason
                custody.append(s, o.case_id, "reprocess_failed", run=o.run_id, reason=reason)
        self.progress("case_done", {"outcome": o})


def all_case_ids(include_closed: bool = False) -> list[str]:
    return [c.id for c in cases.list_cases() if include_closed or c.status == "open"]


def reprocess(case_ids: list[str], executor, options: dict | None = None, progress: Progress | None = None,
              dry_run: bool = False, recompute: bool = False, reports: bool = True, n_draws: int | None = None) -> BatchSummary:
    """Reprocess cases (see module doc). `options=None` keeps each case's options of its last run."""
    b = Batch(executor, options, progress, recompute, reports, n_draws)
    return b.dry_run(case_ids) if dry_run else b.run(case_ids)


__all__ = ["reprocess", "Batch", "BatchSummary", "CaseOutcome", "finalize_case", "diff_runs", "diff_stored", "list_runs",
           "get_run", "recover_stale_runs", "all_case_ids", "IngestError"]
