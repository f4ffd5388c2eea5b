"""Ingest orchestration: every applicable ingestor over every evidence item.

Work is split per (evidence item, ingestor) and run on a process pool. A unit
whose (evidence sha256, ingestor@version, configuration) already has a stored
result is a cache hit and does no work. Carved files come back as derived
evidence and are ingested in turn. Only the parent process writes the case
database; workers write Parquet files and vault blobs, both atomically.
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import queue
import shutil
import time
import traceback
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import delete, select

from case_store import CyberclaimError, cases, custody, vault
from case_store.clock import now_iso
from case_store.db import session
from case_store.eventstore import EventWriter, latest_paths, make_durable, parquet_path
from case_store.home import derived_dir, events_dir
from case_store.models import Evidence, IngestResult
from forensics.events import CarvedFile, Event, EventBatch, IngestError, canonical_json
from forensics.ingestors.base import IngestContext
from forensics.magic import COMPRESSED, detect_type, read_head
from forensics.registry import all_ingestors, applicable, by_name

MAX_STORED_ERRORS = 1000
MAX_CARVE_DEPTH = 2
MAX_DECOMPRESSED = 64 << 30  # a zip or xz bomb stops here, with an error
FLUSH_INTERVAL = 0.05  # seconds: the local pool flushes finished event files to disk at most this often
SMALL_UNIT_BYTES = 256 << 10  # inputs under this share a pool task with others (pool_tasks)
GROUP_UNITS, GROUP_BYTES = 16, 1 << 20


@dataclass
class Unit:
    case_id: str
    evidence_sha256: str
    display_name: str
    analysis_path: str
    evidence_type: str
    ingestor: str
    parser_id: str
    config_hash: str
    options: dict[str, Any]
    locator_prefix: str = ""


@dataclass
class UnitResult:
    unit: Unit
    status: str
    events: int
    errors: list[dict]
    carved: list[dict]  # {sha256, size, name, locator, note}
    parquet: str | None
    seconds: float


@dataclass
class ItemSummary:
    name: str
    sha256: str
    events: int = 0
    errors: list[dict] = field(default_factory=list)
    cached: int = 0
    ran: int = 0
    parsers: list[str] = field(default_factory=list)


def config_fingerprint(options: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(options).encode()).hexdigest()[:16] if options else ""


def _decompress(ev: Evidence) -> list[tuple[Path, str, str]]:
    """Decompressed copies for analysis: [(path, inner type, locator prefix)]."""
    src = vault.vault_path(ev.sha256)
    out_dir = derived_dir() / ev.sha256
    done = out_dir / ".complete"
    if not done.exists():
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        if ev.evidence_type == "zip":
            with zipfile.ZipFile(src) as z:
                total = 0
                for info in z.infolist():
                    if info.is_dir():
                        continue
                    safe = Path(info.filename).name or "member"
                    dest = out_dir / f"{len(list(out_dir.iterdir())):04d}_{safe}"
                    with z.open(info) as fin, open(dest, "wb") as fout:
                        total += _copy_capped(fin, fout, MAX_DECOMPRESSED - total, ev.original_name)
        else:
            opener = {"xz": lzma.open, "gzip": gzip.open, "bz2": bz2.open}[ev.evidence_type]
            inner = Path(ev.original_name).stem or "decompressed"
            with opener(src, "rb") as fin, open(out_dir / inner, "wb") as fout:
                _copy_capped(fin, fout, MAX_DECOMPRESSED, ev.original_name)
        done.write_text("ok")
    result = []
    for p in sorted(out_dir.iterdir()):
        if p.name == ".complete":
            continue
        prefix = f"{p.name.split('_', 1)[-1]}!" if ev.evidence_type == "zip" else ""
        result.append((p, detect_type(read_head(p), p.name), prefix))
    return result


def _copy_capped(fin, fout, cap: int, name: str) -> int:
    n = 0
    while chunk := fin.read(1 << 20):
        n += len(chunk)
        if n > cap:
            raise CyberclaimError(f"{name}: decompresses to more than {MAX_DECOMPRESSED >> 30} GiB; refused (decompression bomb?)")
        fout.write(chunk)
    return n


def plan(case_id: str, options: dict[str, Any] | None = None, only: list[str] | None = None,
         memo: dict | None = None, items: list[Evidence] | None = None) -> list[Unit]:
    """Units of the case's evidence (only the items `only`, if given). `memo`: a dict the caller keeps
    across calls (a batch planning the same carved object for 40 cases) for the ingestors that apply to
    a file; safe because analysis paths are content-addressed (vault, decompressed copies of a vault blob).
    `items`: the case's evidence when the caller has just listed it."""
    options = dict(options or {})
    memo = {} if memo is None else memo
    units: list[Unit] = []
    for ev in cases.list_evidence(case_id) if items is None else items:
        if only and ev.sha256 not in only:
            continue
        try:
            targets = _decompress(ev) if ev.evidence_type in COMPRESSED else [(vault.vault_path(ev.sha256), ev.evidence_type, "")]
        except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile, CyberclaimError) as e:
            units.append(Unit(case_id, ev.sha256, ev.original_name, "", ev.evidence_type, "decompress", "decompress@1", "", {"error": str(e)}))
            continue
        for path, etype, prefix in targets:
            key = (str(path), etype)
            if key not in memo:
                memo[key] = applicable(read_head(path), path, etype)
            item_opts = dict(options, acquired_at=ev.added_at, timezone=ev.timezone or options.get("timezone"))
            for cls in memo[key]:
                unit_opts = dict(item_opts, **cls.config_inputs(item_opts))
                units.append(Unit(
                    case_id, ev.sha256, ev.original_name + (f"!{prefix[:-1]}" if prefix else ""), str(path), etype,
                    cls.name, cls.parser_id(), config_fingerprint({k: v for k, v in unit_opts.items() if k != "acquired_at"}),
                    unit_opts, prefix,
                ))
    return units


def _cached(u: Unit) -> IngestResult | None:
    with session() as s:
        r = s.execute(select(IngestResult).where(
            IngestResult.evidence_sha256 == u.evidence_sha256, IngestResult.parser == u.parser_id + (f"#{u.locator_prefix}" if u.locator_prefix else ""),
            IngestResult.config_hash == u.config_hash,
        )).scalar_one_or_none()
    if r and r.carved is not None and (r.parquet_path is None or Path(r.parquet_path).exists()):
        return r
    return None


def stored_carved(hit: IngestResult) -> list[dict]:
    """The files a stored result carved (to register in the case that reuses the result)."""
    return json.loads(hit.carved or "[]")


def run_unit(u: Unit, durable: bool = True) -> UnitResult:
    """Runs in a worker process: one ingestor over one file, events to Parquet.

    durable=False: the Parquet file is not flushed to disk here; the caller flushes it with
    make_durable() before recording it (the local pool's parent does, for all finished units at once)."""
    t0 = time.perf_counter()
    if u.ingestor == "decompress":
        err = IngestError(u.display_name, None, f"cannot decompress: {u.options.get('error')}")
        return UnitResult(u, "failed", 0, [err.to_dict()], [], None, 0.0)
    ingestor = by_name(u.ingestor)()
    ctx = IngestContext(Path(u.analysis_path), u.evidence_sha256, u.evidence_type, u.display_name, u.options)
    dest = parquet_path(u.evidence_sha256, u.parser_id + (f"#{_safe(u.locator_prefix)}" if u.locator_prefix else ""), u.config_hash)
    writer = EventWriter(dest, threaded=getattr(ingestor, "threaded_write", False))
    errors: list[dict] = []
    n_errors = 0
    carved: list[dict] = []
    carved_at: dict[str, dict] = {}
    status = "ok"
    try:
        # an ingestor that can hand over whole batches of events as columns says so
        stream = ingestor.ingest_batches(ctx) if hasattr(ingestor, "ingest_batches") else ingestor.ingest(ctx)
        for rec in stream:
            if isinstance(rec, EventBatch):
                writer.add_batch(rec.with_locator_prefix(u.locator_prefix))
            elif isinstance(rec, Event):
                if not rec.parser:
                    ingestor.stamp(ctx, rec)
                if u.locator_prefix:
                    rec.locator = u.locator_prefix + rec.locator
                writer.add(rec)
            elif isinstance(rec, IngestError):
                n_errors += 1
                if len(errors) < MAX_STORED_ERRORS:
                    errors.append(rec.to_dict())
            elif isinstance(rec, CarvedFile):
                # the same object carved many times (a polled page, a repeated reply) is one derived item
                sha, size, _ = vault.store_bytes(rec.data)
                if sha in carved_at:
                    carved_at[sha]["occurrences"] += 1
                else:
                    carved_at[sha] = {"sha256": sha, "size": size, "name": rec.name, "locator": u.locator_prefix + rec.locator,
                                      "note": rec.note, "occurrences": 1}
                    carved.append(carved_at[sha])
    except Exception as e:  # an ingestor bug must cost this unit only, keeping what it produced
        status = "partial"
        errors.append(IngestError(u.display_name, None, f"{u.parser_id} stopped: {type(e).__name__}: {e}").to_dict())
        errors[-1]["trace"] = traceback.format_exc(limit=5)
    if n_errors > len(errors):
        errors.append({"file": u.display_name, "offset": None, "line": None, "reason": f"{n_errors - MAX_STORED_ERRORS} more errors not stored"})
    if errors and status == "ok":
        status = "partial"
    path = str(writer.commit(durable))
    return UnitResult(u, status, writer.count, errors, carved, path, time.perf_counter() - t0)


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in s)[:80]


def _record(r: UnitResult) -> None:
    with session() as s:
        record_unit(s, r)


def record_unit(s, r: UnitResult) -> None:
    """The unit's row and custody entry, in the caller's transaction."""
    row = unit_row(r)
    # replace, never duplicate: a stored row that was not a cache hit (its Parquet vanished, or it
    # predates the record of carved files) is rewritten
    s.execute(delete(IngestResult).where(IngestResult.evidence_sha256 == row.evidence_sha256,
                                         IngestResult.parser == row.parser, IngestResult.config_hash == row.config_hash))
    s.add(row)
    action, sha, details = unit_custody(r)
    custody.append(s, r.unit.case_id, action, sha, **details)


def unit_row(r: UnitResult) -> IngestResult:
    u = r.unit
    return IngestResult(
        evidence_sha256=u.evidence_sha256, parser=u.parser_id + (f"#{u.locator_prefix}" if u.locator_prefix else ""),
        config_hash=u.config_hash, status=r.status, events=r.events, errors=json.dumps(r.errors, ensure_ascii=False),
        parquet_path=r.parquet, created_at=now_iso(), seconds=r.seconds,
        carved=json.dumps(r.carved, ensure_ascii=False, sort_keys=True),
    )


def unit_custody(r: UnitResult) -> tuple[str, str, dict]:
    """(action, evidence sha256, details) of the unit's custody entry (a batch appends many at once)."""
    u = r.unit
    return "ingested", u.evidence_sha256, {"parser": u.parser_id, "events": r.events, "errors": len(r.errors), "status": r.status}


Progress = Callable[[str, dict], None]


def ingest_case(case_id: str, options: dict[str, Any] | None = None, workers: int | None = None,
                progress: Progress | None = None, only: list[str] | None = None) -> dict[str, ItemSummary]:
    """Ingest every evidence item of a case; returns a summary per evidence sha256."""
    cases.require_intact(case_id)
    progress = progress or (lambda kind, info: None)
    summary: dict[str, ItemSummary] = {}
    todo = plan(case_id, options, only)
    depth = 0
    while todo:
        pending = []
        new_shas: list[str] = []
        for u in todo:
            item = summary.setdefault(u.evidence_sha256, ItemSummary(u.display_name, u.evidence_sha256))
            hit = _cached(u)
            if hit:
                item.cached += 1
                item.events += hit.events
                item.errors += json.loads(hit.errors)
                item.parsers.append(u.parser_id)
                progress("cached", {"unit": u, "events": hit.events})
                carved = stored_carved(hit)
                if carved:  # another case ran this unit: its carved files are evidence of this case too
                    new_shas += cases.register_derived(case_id, u.evidence_sha256, u.parser_id, carved)
            else:
                pending.append(u)
        for r in _execute(pending, workers, progress):
            item = summary[r.unit.evidence_sha256]
            item.ran += 1
            item.events += r.events
            item.errors += r.errors
            item.parsers.append(r.unit.parser_id)
            _record(r)  # a decompression failure is stored too, so the case shows it until fixed
            if r.carved:
                new_shas += cases.register_derived(case_id, r.unit.evidence_sha256, r.unit.parser_id, r.carved)
        depth += 1
        todo = plan(case_id, options, new_shas) if new_shas and depth <= MAX_CARVE_DEPTH else []
    _post_ingest(case_id, options or {}, summary, progress)
    return summary


def _by_size(units: list[Unit]) -> list[tuple[Unit, int]]:
    """(unit, input size) in the order the pool should start them: biggest input first, plan order
    among equals. A big item started last runs alone at the end while the other workers idle (a
    memory image after a hundred small logs); started first, the small ones fill in beside it."""
    def size(u: Unit) -> int:
        try:
            return os.path.getsize(u.analysis_path)
        except OSError:
            return 0
    sizes = [size(u) for u in units]
    return [(units[i], sizes[i]) for i in sorted(range(len(units)), key=lambda i: (-sizes[i], i))]


def pool_tasks(units: list[Unit]) -> list[list[Unit]]:
    """The pool's tasks, in the order they start: the units largest first, one per task, except
    that small ones (under SMALL_UNIT_BYTES) share a task, up to GROUP_UNITS of them or
    GROUP_BYTES of input. A task costs the pool about half a millisecond of pickling, pipe
    writes and thread wake-ups in the parent and the worker, as much as a small file's whole
    ingest; grouped at the tail of the order, they still balance the workers at the end."""
    tasks: list[list[Unit]] = []
    group: list[Unit] = []  # the small units' task being filled
    group_bytes = 0
    for u, size in _by_size(units):
        if size >= SMALL_UNIT_BYTES:
            tasks.append([u])
            continue
        if not group or len(group) >= GROUP_UNITS or group_bytes + size > GROUP_BYTES:
            group, group_bytes = [], 0
            tasks.append(group)
        group.append(u)
        group_bytes += size
    return tasks


def run_units(units: list[Unit], durable: bool = True) -> list[UnitResult]:
    """One pool task: run_unit over each unit in turn."""
    return [run_unit(u, durable) for u in units]


def _execute(units: list[Unit], workers: int | None, progress: Progress):
    if not units:
        return
    workers = max(1, min(workers or os.cpu_count() or 1, len(units)))
    if workers == 1:
        for u in units:
            progress("start", {"unit": u})
            r = run_unit(u)
            progress("done", {"unit": u, "result": r})
            yield r
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from run_on_pool(pool, units, progress)


def run_on_pool(pool, units: list[Unit], progress: Progress = lambda kind, info: None) -> Iterator[UnitResult]:
    """The units on a process pool, biggest first (small ones grouped: pool_tasks); each result
    once its event file is on disk.

    The workers write without fsync; the parent flushes what finished so far (one syncfs, at
    most once per FLUSH_INTERVAL) before any of it is handed on, while the other units keep
    running. Finished futures arrive on a queue from their done-callbacks: `wait` on all
    pending futures at each wake-up is quadratic in the units (a tenth of a CPU-second for a
    few hundred)."""
    futs = {}
    finished: queue.SimpleQueue = queue.SimpleQueue()
    for task in pool_tasks(units):
        for u in task:
            progress("start", {"unit": u})
        f = pool.submit(run_units, task, False)
        futs[f] = task
        f.add_done_callback(finished.put)
    order = {f: i for i, f in enumerate(futs)}  # submission order: results of one wake-up in unit order
    left = len(futs)
    last_flush = time.perf_counter()
    while left:
        done = [finished.get()]
        # at most one flush per FLUSH_INTERVAL while units are still running: each syncfs is a journal
        # commit, and a few hundred small files finishing one by one would each ask for one
        until = last_flush + FLUSH_INTERVAL
        while len(done) < left:
            try:
                done.append(finished.get(timeout=max(0.0, until - time.perf_counter())))
            except queue.Empty:
                break
        left -= len(done)
        results = []
        for f in sorted(done, key=order.__getitem__):
            try:
                results += f.result()
            except Exception as e:  # a worker that died (OOM, signal): its task's units fail, the others are kept
                results += [UnitResult(u, "failed", 0, [IngestError(u.display_name, None, f"worker failed: {e}").to_dict()],
                                       [], None, 0.0) for u in futs[f]]
        make_durable([r.parquet for r in results if r.parquet])
        last_flush = time.perf_counter()
        for r in results:
            progress("done", {"unit": r.unit, "result": r})
            yield r


def _post_ingest(case_id: str, options: dict[str, Any], summary: dict[str, ItemSummary], progress: Progress) -> None:
    """Sigma over each evidence item's stored events, set-wise in DuckDB, stored like any ingest.

    Keyed by (evidence sha256, sigma@version, rule-pack fingerprint), so a new
    rule pack re-matches and an unchanged one is a cache hit.
    """
    with session() as s:
        rows = s.execute(select(IngestResult).where(IngestResult.evidence_sha256.in_(list(summary)),
                                                    IngestResult.status != "failed")).scalars().all()
    for task in sigma_tasks(options, {sha: item.name for sha, item in summary.items()}, rows):
        r = run_sigma(task)
        item = summary[task.evidence_sha256]
        item.events += r.events
        item.errors += r.errors
        with session() as s:
            record_sigma(s, case_id, r)
        progress("sigma", {"sha256": task.evidence_sha256, "events": r.events})


@dataclass
class SigmaTask:
    """Sigma matching of one evidence item's event files (runs anywhere: reads Parquet, writes one)."""

    evidence_sha256: str
    name: str
    sources: list[str]
    rule_dirs: list[str]
    fingerprint: str
    parser_id: str
    key: str


@dataclass
class SigmaResult:
    task: SigmaTask
    events: int
    errors: list[dict]
    parquet: str
    seconds: float


def sigma_tasks(options: dict[str, Any], names: dict[str, str], rows) -> list[SigmaTask]:
    """The Sigma matches still to do for the items `names` ({sha256: display name}), given their
    IngestResult rows (status != failed); an item whose key is already stored is a cache hit."""
    try:
        from forensics import sigma
    except ImportError:
        return []
    if not hasattr(sigma, "match"):
        return []
    rule_dirs = list(options.get("sigma_rules") or [])
    fingerprint = sigma.rulepack_fingerprint(rule_dirs)
    parser_id = f"sigma@{getattr(sigma, 'VERSION', '1')}"
    by_sha: dict[str, list] = {}
    for r in rows:
        by_sha.setdefault(r.evidence_sha256, []).append(r)
    tasks, base = [], events_dir()
    for sha, name in names.items():
        mine = sorted(by_sha.get(sha, []), key=lambda r: r.id)
        sources = sorted(latest_paths([(r.parquet_path, r.id, r.evidence_sha256, r.parser) for r in mine
                                       if r.parquet_path and not r.parser.startswith("sigma@") and r.events]))
        # the cache key covers the rule pack and the event files matched (which name their parser versions)
        key = hashlib.sha256(canonical_json([fingerprint, [Path(p).relative_to(base).as_posix() for p in sources]]).encode()).hexdigest()[:16]
        if not sources or any(r.parser == parser_id and r.config_hash == key for r in mine):
            continue
        tasks.append(SigmaTask(sha, name, sources, rule_dirs, fingerprint, parser_id, key))
    return tasks


def run_sigma(t: SigmaTask) -> SigmaResult:
    from forensics import sigma

    t0 = time.perf_counter()
    writer = EventWriter(parquet_path(t.evidence_sha256, t.parser_id, t.key))
    errors: list[dict] = []
    try:
        for rec in sigma.match(t.sources, t.rule_dirs):
            if isinstance(rec, Event):
                writer.add(rec)
            elif isinstance(rec, IngestError):
                errors.append(rec.to_dict())
    except Exception as e:
        errors.append(IngestError(t.name, None, f"sigma matching stopped: {type(e).__name__}: {e}").to_dict())
    path = str(writer.commit())
    return SigmaResult(t, writer.count, errors, path, time.perf_counter() - t0)


def record_sigma(s, case_id: str, r: SigmaResult) -> None:
    """The result's row and custody entry, in the caller's transaction."""
    s.add(sigma_row(r))
    action, sha, details = sigma_custody(r)
    custody.append(s, case_id, action, sha, **details)


def sigma_row(r: SigmaResult) -> IngestResult:
    t = r.task
    return IngestResult(evidence_sha256=t.evidence_sha256, parser=t.parser_id, config_hash=t.key,
                        status="partial" if r.errors else "ok", events=r.events,
                        errors=json.dumps(r.errors[:MAX_STORED_ERRORS], ensure_ascii=False),
                        parquet_path=r.parquet, created_at=now_iso(), seconds=r.seconds, carved="[]")


def sigma_custody(r: SigmaResult) -> tuple[str, str, dict]:
    t = r.task
    return "sigma_matched", t.evidence_sha256, {"rulepack": t.fingerprint, "detections": r.events}


def ingestor_versions() -> dict[str, str]:
    return {c.name: c.version for c in all_ingestors()}
