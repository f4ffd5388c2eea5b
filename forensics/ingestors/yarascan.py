"""YARA over whole evidence files (yara-python), default pack + user rule dirs.

Memory images are not scanned here: the memory ingestor scans them in
overlapping windows and reports physical offsets. Compressed containers are
decompressed by the pipeline first; rule files are not scanned (they would
match themselves).
"""
from __future__ import annotations

from typing import Iterator

import yara

from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.yara_rules import DEFAULT_TIMEOUT_S, match_event, match_to_dict, pack_for_options


class YaraIngestor(Ingestor):
    name = "yara"
    version = "1.0.1"  # 1.0.1: wallet rules also keep the demanded amount
    accepts = ("pe", "elf", "text_log", "jsonl", "csv", "xml", "pcap", "pcapng", "evtx", "email", "unknown")

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        try:
            pack = pack_for_options(ctx.options)
        except (OSError, yara.Error) as e:
            yield ctx.error(f"YARA rules could not be loaded: {e}")
            return
        for p in pack.problems:  # rule problems are reported, not fatal
            yield ctx.error(f"YARA rule file {p.file} line {p.line}: {p.message} (skipped)")
        try:
            size = ctx.path.stat().st_size
        except OSError as e:
            yield ctx.error(f"cannot read evidence: {e}")
            return
        if size == 0:
            yield ctx.error("zero-byte file: nothing to scan", offset=0)
            return
        timeout = int(ctx.options.get("yara_timeout", DEFAULT_TIMEOUT_S))
        try:
            matches = pack.scan(filepath=str(ctx.path), name=ctx.display_name, timeout=timeout)
        except yara.TimeoutError:
            yield ctx.error(f"YARA scan timed out after {timeout} s", offset=0)
            return
        except yara.Error as e:
            yield ctx.error(f"YARA scan failed: {e}", offset=0)
            return
        for m in sorted(matches, key=lambda m: (m.namespace, m.rule)):
            d = match_to_dict(m)
            first = d["strings"][0]["offset"] if d["strings"] else 0
            yield self.stamp(ctx, match_event(d, f"off={first}", ctx.display_name))
