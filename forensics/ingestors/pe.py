"""Windows executables (pefile): one `pe:file` event per PE, problems as IngestErrors."""
from __future__ import annotations

from typing import Iterator

from forensics.events import Event
from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.pe_analysis import analyze_pe

MAX_PE_BYTES = 512 * 1024 * 1024  # larger "PEs" are containers/images, not something to parse whole


def pe_event(info: dict, locator: str, where: str, discriminator: str = "") -> Event:
    """The `pe:file` event for a pe_analysis info dict (PE evidence or a carved PE)."""
    stamp = info.get("compile_time") or 0
    kind = "driver" if info.get("is_driver") else "DLL" if info.get("is_dll") else "executable"
    if info.get("is_dotnet"):
        kind = ".NET " + kind
    hints = info.get("packer_hints") or []
    flags = [f for f, on in (("zero compile time", info.get("compile_time_zero")),
                             ("compile time in the future", info.get("compile_time_future"))) if on]
    machine = str(info.get("machine", "?")).replace("IMAGE_FILE_MACHINE_", "")
    msg = (f"PE {kind} {where} ({machine}, {str(info.get('subsystem', '?')).replace('IMAGE_SUBSYSTEM_', '')}), "
           f"{info.get('section_count', 0)} sections, {info.get('import_count', 0)} imports, sha256 {info['sha256'][:16]}…")
    if hints:
        msg += f"; packer hints: {', '.join(hints)}"
    if flags:
        msg += f"; {', '.join(flags)}"
    tags = ["pe"] + (["packed"] if hints else []) + (["signed"] if info.get("authenticode_present") else [])
    return Event(
        timestamp=stamp * 1_000_000 if stamp else 0,
        timestamp_desc="PE Compilation Time" if stamp else "Not a time",
        data_type="pe:file", message=msg, locator=locator, file_path=where, file_sha256=info["sha256"],
        tags=tags, severity="medium" if hints else "info", attributes=info, discriminator=discriminator,
    )


class PeIngestor(Ingestor):
    name = "pe"
    version = "1.0.0"
    accepts = ("pe",)

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        try:
            size = ctx.path.stat().st_size
            if size == 0:
                yield ctx.error("zero-byte file: not a PE", offset=0)
                return
            if size > MAX_PE_BYTES:
                yield ctx.error(f"{size} bytes is too large to be parsed as one PE", offset=0)
                return
            data = ctx.path.read_bytes()
        except OSError as e:
            yield ctx.error(f"cannot read evidence: {e}")
            return
        rep = analyze_pe(data, ctx.options.get("reference_time"))
        if rep.ok:
            yield self.stamp(ctx, pe_event(rep.info, "off=0", ctx.display_name))
        for p in rep.problems:
            yield ctx.error(p.reason, offset=p.offset)
