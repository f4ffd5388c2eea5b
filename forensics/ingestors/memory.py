"""Memory images: symbol-free analysis always, volatility3 plugins when symbols allow.

1. Symbol-free, one pass over the physical address space in overlapping
   windows: OS banners and Windows kernel PDB signatures, YARA (default pack +
   user rules), clear-text network indicators, PE headers (parsed with pefile
   and handed back as carved files). Every hit has its physical offset.
2. The banner / PDB signature says which OS and which symbols are needed. If
   the symbol pack has them, the OS's plugin set runs on one volatility3
   context; if not, a `memory:symbols_missing` event and an error say exactly
   which symbols (Linux banner, or Windows PDB name + GUID + age).

A user-mode minidump is not a physical memory image and is refused.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

from forensics.events import CarvedFile, Event
from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.memory import carve, layout, scan
from forensics.yara_rules import match_event, pack_for_options

log = logging.getLogger("cyberclaim.memory")
MIN_IMAGE = 1 << 20  # smaller than this is not a memory image of any machine we can analyse


class MemoryIngestor(Ingestor):
    name = "memory"
    version = "1.0.0"
    accepts = ("raw_memory", "elf_core", "lime", "crashdump", "hibernation", "minidump")

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        if ctx.evidence_type == "minidump":
            yield ctx.error("user-mode minidump (MDMP): a process dump, not a physical memory image; volatility3 "
                            "cannot analyse it. Acquire full physical memory (raw, LiME, ELF core) or a kernel crash dump.",
                            offset=0)
            return
        try:
            size = ctx.path.stat().st_size
            segs, problems = layout.segments(ctx.path, ctx.evidence_type)
        except OSError as e:
            yield ctx.error(f"cannot read memory image: {e}")
            return
        if size == 0:
            yield ctx.error("zero-byte file: no memory to analyse", offset=0)
            return
        for p in problems:
            yield ctx.error(p.reason, offset=p.offset)
        if size < MIN_IMAGE:
            yield ctx.error(f"only {size} bytes: too small for a memory image (truncated?); symbol-free scan only", offset=size)
        opts = ctx.options
        yield from self._symbol_free(ctx, segs, size)
        if self._all_zero:
            yield ctx.error("image holds only zero bytes: no memory content to analyse", offset=0)
            return
        if opts.get("volatility", True):
            yield from self._volatility(ctx)

    # -- symbol-free ------------------------------------------------------------------------------------------------

    def _symbol_free(self, ctx: IngestContext, segs: list[layout.Segment], size: int) -> Iterator[Record]:
        opts = ctx.options
        pack = None
        if opts.get("memory_yara", True):
            try:
                pack = pack_for_options(opts)
                for p in pack.problems:
                    yield ctx.error(f"YARA rule file {p.file} line {p.line}: {p.message} (skipped)")
            except Exception as e:
                yield ctx.error(f"YARA rules could not be loaded: {e}; scanning without YARA")
        carver = carve.Carver(indicators=opts.get("memory_indicators", True), pe=opts.get("memory_pe", True))
        nonzero = [False]

        def zero_check(w: scan.Window) -> None:
            if not nonzero[0] and w.data.count(0) != len(w.data):
                nonzero[0] = True

        total = sum(s.size for s in segs) or 1
        step = [0]

        def progress(done: int) -> None:
            pct = 100 * done // total
            if pct >= step[0] + 10:
                step[0] = pct - pct % 10
                log.info("%s: symbol-free scan %d%%", ctx.display_name, pct)

        hits = scan.scan_image(ctx.path, segs, pack, carvers=[zero_check, carver],
                               window=int(opts.get("memory_window", scan.WINDOW)),
                               overlap=int(opts.get("memory_overlap", scan.OVERLAP)),
                               workers=int(opts.get("memory_workers", 2)), timeout=int(opts.get("yara_timeout", 600)),
                               name=ctx.display_name, progress=progress)
        self._all_zero = not nonzero[0]
        self._carved = carver.res
        for off, err in hits.errors:
            yield ctx.error(err, offset=off)
        res = carver.res
        for b in res.banners:
            yield self.stamp(ctx, Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:banner",
                                        locator=f"phys=0x{b['phys']:x}", message=f"Linux kernel banner: {b['text']}",
                                        attributes={"os": "linux", "banner": b["text"]}, tags=["memory"]))
        for k in res.kernel_pdbs:
            yield self.stamp(ctx, Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:banner",
                                        locator=f"phys=0x{k['phys']:x}",
                                        message=f"Windows kernel PDB signature {k['pdb_name']} GUID {k['guid']} age {k['age']}",
                                        attributes={"os": "windows", **k}, tags=["memory"]))
        for m in scan.clustered_matches(hits):
            ev = match_event(m, f"phys=0x{m['strings'][0]['offset']:x}", f"in memory of {ctx.display_name}")
            ev.discriminator += f"@{m['strings'][0]['offset']}"
            yield self.stamp(ctx, ev)
        yield from self._indicator_events(ctx, res)
        yield from self._pe_events(ctx, segs, res)
        if res.truncated:
            yield ctx.error(f"carving limits reached for: {', '.join(sorted(res.truncated))}; later hits not reported")

    def _indicator_events(self, ctx: IngestContext, res: carve.CarveResults) -> Iterator[Record]:
        for (kind, value), rec in sorted(res.indicators.items(), key=lambda kv: (kv[1]["offsets"][0], kv[0])):
            first = rec["offsets"][0]
            ev = Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:indicator", locator=f"phys=0x{first:x}",
                       message=f"{kind} {value} in clear text in memory ({rec['count']} occurrence(s))",
                       attributes={"kind": kind, "value": value, "count": rec["count"],
                                   "phys_offsets": [f"0x{o:x}" for o in rec["offsets"]]},
                       tags=["memory", "indicator"], discriminator=f"{kind}:{value}")
            if kind == "url":
                ev.url = value
            elif kind == "domain":
                ev.domain = value
            else:
                ev.dst_ip = value
            yield self.stamp(ctx, ev)

    def _pe_events(self, ctx: IngestContext, segs: list[layout.Segment], res: carve.CarveResults) -> Iterator[Record]:
        from forensics.ingestors.pe import pe_event
        from forensics.pe_analysis import analyze_pe

        with open(ctx.path, "rb") as f:
            for p in res.pes:
                seg_end = next((s.file_offset + s.size for s in segs if s.file_offset <= p["file_offset"] < s.file_offset + s.size),
                               p["file_offset"])
                n = min(max(p["size_of_image"], 0x1000), carve.MAX_PE_BYTES, seg_end - p["file_offset"])
                f.seek(p["file_offset"])
                data = f.read(n)
                rep = analyze_pe(data, ctx.options.get("reference_time"))
                loc = f"phys=0x{p['phys']:x}"
                if not rep.ok:
                    continue  # an MZ/PE pair that pefile rejects is noise, not evidence
                rep.info["carved_from_memory"] = True
                rep.info["layout_note"] = "memory-mapped image: section offsets are RVAs, hashes cover the mapped bytes"
                yield self.stamp(ctx, pe_event(rep.info, loc, f"carved at {loc}", discriminator="carved_pe"))
                yield CarvedFile(name=f"pe_phys_0x{p['phys']:x}.bin", data=data, locator=loc,
                                 note="PE header carved from physical memory (mapped layout)")

    # -- volatility ---------------------------------------------------------------------------------------------------

    def _volatility(self, ctx: IngestContext) -> Iterator[Record]:
        from forensics.memory import symbols

        res = self._carved
        dirs = symbols.symbol_dirs(ctx.options)
        banners = list(dict.fromkeys(b["text"] for b in res.banners))
        pdbs = list(dict.fromkeys((k["pdb_name"], k["guid"], k["age"]) for k in res.kernel_pdbs))
        if banners:
            os_name, plugin_set = "linux", "LINUX_PLUGINS"
        elif pdbs:
            os_name, plugin_set = "windows", "WINDOWS_PLUGINS"
            if not any(symbols.find_windows_isf(dirs, *k) for k in pdbs):
                for pdb, guid, age in pdbs:
                    yield from self._missing(ctx, f"Windows kernel symbols {pdb} GUID {guid} age {age}",
                                             {"os": "windows", "pdb_name": pdb, "guid": guid, "age": age,
                                              "isf_path": f"windows/{pdb}/{guid}-{age}.json.xz"})
                return
        else:
            yield ctx.error("unknown operating system: no Linux banner and no Windows kernel PDB signature found; "
                            "only the symbol-free analysis was done")
            return
        yield from self._run_plugins(ctx, dirs, os_name, plugin_set, banners)

    def _missing(self, ctx: IngestContext, what: str, attrs: dict) -> Iterator[Record]:
        msg = f"symbols missing: {what}; add the ISF to the symbol directory (CYBERCLAIM_SYMBOLS or --symbols)"
        yield self.stamp(ctx, Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:symbols_missing",
                                    locator="image", message=msg, attributes=attrs, tags=["memory"],
                                    discriminator=attrs.get("guid") or attrs.get("banner", "")))
        yield ctx.error(msg)

    def _run_plugins(self, ctx: IngestContext, dirs: list[Path], os_name: str, plugin_set: str,
                     banners: list[str]) -> Iterator[Record]:
        from forensics.memory import rows, symbols, volrunner

        symbols.configure_volatility(dirs, ctx.options.get("volatility_cache"))
        names = getattr(volrunner, plugin_set)
        session = volrunner.VolSession(ctx.path, progress=lambda what, pct: log.debug("%s %s %.0f%%", ctx.display_name, what, pct))
        results = {}
        for i, name in enumerate(names):
            log.info("%s: volatility %s (%d/%d)", ctx.display_name, name, i + 1, len(names))
            results[name] = r = session.run(name)
            if i == 0 and r.error:
                if r.unsatisfied and os_name == "windows":  # the ISF is there (checked above): the layer is not
                    yield ctx.error(f"volatility could not build the Windows kernel layer although its symbols are "
                                    f"present (damaged or not a Windows memory image?): {r.error}")
                elif r.unsatisfied:
                    banner = banners[0] if banners else ""
                    yield from self._missing(ctx, f"Linux kernel symbols for banner {banner!r}",
                                             {"os": os_name, "banner": banner, "unsatisfied": r.unsatisfied})
                else:
                    yield ctx.error(f"volatility {name} failed: {r.error}")
                return  # the first plugin stacks the layers; nothing after it can work either
            if r.error:
                yield ctx.error(f"volatility {name} failed: {r.error}; other plugins continue")
        rc = rows.RowContext(session)
        rc.kernel_layer = session.kernel_layer(names[0].rsplit(".", 1)[-1])
        for name in ("linux.psaux.PsAux", "windows.cmdline.CmdLine"):
            for r in results.get(name, volrunner.PluginResult(name)).rows:
                rc.cmdlines[r.get("PID")] = r.get("ARGS") or r.get("Args")
        for name in names:
            mapper = rows.MAPPERS[name]
            for i, row in enumerate(results[name].rows):
                try:
                    for ev in mapper(rc, row, i):
                        yield self.stamp(ctx, ev)
                except Exception as e:  # one odd row must not lose the rest
                    yield ctx.error(f"volatility {name} row {i} not understood: {type(e).__name__}: {e}")
