"""Symbol-free scanning of a memory image in overlapping windows.

The image is read segment by segment (see layout) in windows of `window`
bytes plus `overlap` bytes of look-ahead. A string match straddling a window
boundary is seen whole by the window before it (as long as it is shorter than
the overlap); string instances seen by two windows are the same (rule,
identifier, physical offset) and collapse to one. Carvers keep only hits that
start in a window's first `window` bytes (the part it *owns*).

YARA runs in `workers` worker processes (yara-python keeps the GIL while it
matches, so threads would not use the second core), each reading its window
from the file itself; the Python-side carvers (banners, indicators, PE
headers) run in this process. Memory stays flat: every process holds at most
a couple of windows whatever the image size.
"""
from __future__ import annotations

import collections
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yara

from forensics.memory.layout import Segment
from forensics.yara_rules import RulePack, externals_for

WINDOW = 32 << 20
OVERLAP = 1 << 20
MAX_EVENTS_PER_RULE = 1000
MAX_INSTANCES_PER_RULE = 100_000  # memory bound for a string that is everywhere
CLUSTER_GAP = 4096  # instances of one rule closer than a page are one hit


@dataclass(slots=True)
class Window:
    phys: int  # physical address of data[0]
    file_offset: int
    owned: int  # data[:owned] is this window's; the rest is look-ahead
    data: bytes | bytearray


@dataclass(frozen=True, slots=True)
class Span:
    phys: int
    file_offset: int
    owned: int
    length: int


def plan(segs: list[Segment], window: int = WINDOW, overlap: int = OVERLAP) -> Iterator[Span]:
    for seg in segs:
        pos = 0
        while pos < seg.size:  # bounded: pos grows by `window` each turn
            owned = min(window, seg.size - pos)
            yield Span(seg.phys + pos, seg.file_offset + pos, owned, min(owned + overlap, seg.size - pos))
            pos += window


def windows(path: Path, segs: list[Segment], window: int = WINDOW, overlap: int = OVERLAP,
            buffers: int = 1) -> Iterator[Window]:
    """Windows over the segments, read into a ring of `buffers` preallocated buffers.

    Reusing buffers keeps peak memory at buffers x (window + overlap) whatever
    the image size; a window's data is valid until `buffers` more windows were
    read, so the caller must be done with it by then.
    """
    ring = [bytearray(window + overlap) for _ in range(max(1, buffers))]
    with open(path, "rb", buffering=0) as f:
        for k, sp in enumerate(plan(segs, window, overlap)):
            yield _read(f, sp, ring[k % len(ring)])


def _read(f, sp: Span, buf: bytearray) -> Window:
    f.seek(sp.file_offset)
    n = f.readinto(memoryview(buf)[:sp.length]) or 0
    # a short window gets its own bytes; full ones are the ring buffer itself
    data = buf if n == len(buf) else bytes(memoryview(buf)[:n])
    return Window(sp.phys, sp.file_offset, min(sp.owned, n), data)


@dataclass
class YaraHits:
    # (namespace, rule) -> match dict with instances in physical offsets
    rules: dict[tuple[str, str], dict] = field(default_factory=dict)
    instances: dict[tuple[str, str], list[dict]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: list[tuple[int, str]] = field(default_factory=list)


_WORKER: dict = {}


def _worker_init(compiled: str, path: str, window: int, overlap: int) -> None:
    _WORKER["rules"] = yara.load(compiled)
    _WORKER["file"] = open(path, "rb", buffering=0)
    _WORKER["buf"] = bytearray(window + overlap)


def _match_plain(rules: yara.Rules, w: Window, timeout: int, name: str) -> tuple[list[dict], str | None]:
    """YARA over one window, as plain data (picklable) with physical offsets."""
    try:
        matches = rules.match(data=w.data, externals=externals_for(name), timeout=timeout)
    except yara.TimeoutError:
        return [], f"YARA timed out after {timeout} s on window at phys 0x{w.phys:x}"
    except yara.Error as e:
        return [], f"YARA failed on window at phys 0x{w.phys:x}: {e}"
    out = []
    for m in matches:
        insts = [{"identifier": s.identifier, "offset": w.phys + i.offset,
                  "data": i.matched_data[:256].decode("latin-1"), "length": i.matched_length}
                 for s in m.strings for i in s.instances[:MAX_INSTANCES_PER_RULE]]
        if not m.strings:  # condition-only rule: the window start stands for the hit
            insts.append({"identifier": "", "offset": w.phys, "data": "", "length": 0})
        out.append({"rule": m.rule, "namespace": m.namespace, "tags": sorted(m.tags),
                    "meta": dict(sorted(m.meta.items())), "instances": insts})
    return out, None


def _worker_scan(sp: Span, timeout: int, name: str) -> tuple[list[dict], str | None]:
    w = _read(_WORKER["file"], sp, _WORKER["buf"])
    return _match_plain(_WORKER["rules"], w, timeout, name)


def _collect(hits: YaraHits, file_offset: int, matches: list[dict]) -> None:
    for m in matches:
        key = (m["namespace"], m["rule"])
        hits.rules.setdefault(key, {k: m[k] for k in ("rule", "namespace", "tags", "meta")})
        room = MAX_INSTANCES_PER_RULE - len(hits.instances[key])
        if room < len(m["instances"]):
            hits.errors.append((file_offset, f"YARA rule {m['rule']}: more than {MAX_INSTANCES_PER_RULE} string hits, rest not kept"))
        hits.instances[key].extend(m["instances"][:max(room, 0)])


def scan_image(path: Path, segs: list[Segment], pack: RulePack | None, *, carvers: list[Callable[[Window], None]] = (),
               window: int = WINDOW, overlap: int = OVERLAP, workers: int = 2, timeout: int = 600,
               name: str = "", progress: Callable[[int], None] | None = None) -> YaraHits:
    """One pass over the image: YARA (worker processes, or inline when workers <= 1) + carvers here."""
    hits = YaraHits()
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0])

    if pack is None or workers <= 1:
        for w in windows(path, segs, window, overlap):
            if pack is not None:
                matches, err = _match_plain(pack.rules, w, timeout, name)
                if err:
                    hits.errors.append((w.file_offset, err))
                _collect(hits, w.file_offset, matches)
            for carve in carvers:
                carve(w)
            tick(w.owned)
        return hits
    inflight: collections.deque[tuple[Span, Future]] = collections.deque()
    ring = [bytearray(window + overlap)] if carvers else []
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(pack.compiled_path(), str(path), window, overlap)) as pool, \
            open(path, "rb", buffering=0) as f:
        def drain(limit: int) -> None:
            while len(inflight) > limit:
                sp, fut = inflight.popleft()
                matches, err = fut.result()
                if err:
                    hits.errors.append((sp.file_offset, err))
                _collect(hits, sp.file_offset, matches)
                tick(sp.owned)
        for sp in plan(segs, window, overlap):
            inflight.append((sp, pool.submit(_worker_scan, sp, timeout, name)))
            if carvers:  # this process reads the window only when something here needs the bytes
                w = _read(f, sp, ring[0])
                for carve in carvers:
                    carve(w)
            drain(2 * workers)  # a few windows queued keeps every worker busy; results stay small
        drain(0)
    return hits


def clustered_matches(hits: YaraHits) -> list[dict]:
    """One match dict per (rule, cluster of nearby instances), sorted by offset, bounded per rule."""
    out = []
    for key in sorted(hits.rules):
        insts = sorted(hits.instances[key], key=lambda d: (d["offset"], d["identifier"]))
        # the same instance can come from an ascii and a wide string only once per identifier/offset
        uniq = list({(d["identifier"], d["offset"]): d for d in insts}.values())
        clusters: list[list[dict]] = []
        for d in uniq:
            if clusters and d["offset"] - clusters[-1][-1]["offset"] <= CLUSTER_GAP:
                clusters[-1].append(d)
            else:
                clusters.append([d])
        for c in clusters[:MAX_EVENTS_PER_RULE]:
            out.append({**hits.rules[key], "strings": c[:50], "string_count": len(c)})
    out.sort(key=lambda m: (m["strings"][0]["offset"], m["namespace"], m["rule"]))
    return out
