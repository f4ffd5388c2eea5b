"""Symbol-free scanning of a memory image in overlapping windows.

The image is read segment by segment (see layout) in windows of `window`
bytes plus `overlap` bytes of look-ahead. A string match straddling a window
boundary is seen whole by the window before it (as long as it is shorter than
the overlap); string instances seen by two windows are the same (rule,
identifier, physical offset) and collapse to one. Carvers keep only hits that
start in a window's first `window` bytes (the part it *owns*). Memory stays flat: at most `workers + 1` windows are in memory.

YARA runs in worker threads (yara-python releases the GIL while matching);
the Python-side carvers (banners, indicators, PE headers) run on the same
bytes in the calling thread.
"""
from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yara

from forensics.memory.layout import Segment
from forensics.yara_rules import RulePack

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
    data: bytes


def windows(path: Path, segs: list[Segment], window: int = WINDOW, overlap: int = OVERLAP) -> Iterator[Window]:
    with open(path, "rb") as f:
        for seg in segs:
            pos = 0
            while pos < seg.size:  # bounded: pos grows by `window` each turn
                owned = min(window, seg.size - pos)
                f.seek(seg.file_offset + pos)
                data = f.read(min(owned + overlap, seg.size - pos))
                if not data:
                    break
                yield Window(seg.phys + pos, seg.file_offset + pos, min(owned, len(data)), data)
                pos += window


@dataclass
class YaraHits:
    # (namespace, rule) -> match dict with instances in physical offsets
    rules: dict[tuple[str, str], dict] = field(default_factory=dict)
    instances: dict[tuple[str, str], list[dict]] = field(default_factory=lambda: collections.defaultdict(list))
    errors: list[tuple[int, str]] = field(default_factory=list)


def _yara_window(pack: RulePack, w: Window, timeout: int, name: str):
    try:
        return pack.scan(data=w.data, name=name, timeout=timeout), None
    except yara.TimeoutError:
        return [], f"YARA timed out after {timeout} s on window at phys 0x{w.phys:x}"
    except yara.Error as e:
        return [], f"YARA failed on window at phys 0x{w.phys:x}: {e}"


def _collect(hits: YaraHits, w: Window, matches) -> None:
    for m in matches:
        key = (m.namespace, m.rule)
        owned = []
        for s in m.strings:
            for inst in s.instances:
                # Keep look-ahead instances too: a rule's condition may only hold in the window that
                # sees all of its strings. Instances seen twice (in the overlap) collapse in clustered_matches.
                owned.append({"identifier": s.identifier, "offset": w.phys + inst.offset,
                              "data": inst.matched_data[:256].decode("latin-1"), "length": inst.matched_length})
        if not m.strings:  # condition-only rule: the window start stands for the hit
            owned.append({"identifier": "", "offset": w.phys, "data": "", "length": 0})
        hits.rules.setdefault(key, {"rule": m.rule, "namespace": m.namespace, "tags": sorted(m.tags),
                                    "meta": dict(sorted(m.meta.items()))})
        room = MAX_INSTANCES_PER_RULE - len(hits.instances[key])
        if room < len(owned):
            hits.errors.append((w.file_offset, f"YARA rule {m.rule}: more than {MAX_INSTANCES_PER_RULE} string hits, rest not kept"))
        hits.instances[key].extend(owned[:max(room, 0)])


def scan_image(path: Path, segs: list[Segment], pack: RulePack | None, *, carvers: list[Callable[[Window], None]] = (),
               window: int = WINDOW, overlap: int = OVERLAP, workers: int = 2, timeout: int = 600,
               name: str = "", progress: Callable[[int], None] | None = None) -> YaraHits:
    """One pass over the image: YARA (threads) + carvers (this thread), each window once."""
    hits = YaraHits()
    inflight: collections.deque[tuple[Window, Future]] = collections.deque()
    done_bytes = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        def drain(limit: int) -> None:
            nonlocal done_bytes
            while len(inflight) > limit:
                w, fut = inflight.popleft()
                matches, err = fut.result()
                if err:
                    hits.errors.append((w.file_offset, err))
                _collect(hits, w, matches)
                done_bytes += w.owned
                if progress:
                    progress(done_bytes)
        for w in windows(path, segs, window, overlap):
            if pack is not None:
                inflight.append((w, pool.submit(_yara_window, pack, w, timeout, name)))
            for carve in carvers:
                carve(w)
            if pack is None:
                done_bytes += w.owned
            drain(workers)
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
