"""PCAP / PCAPNG ingestor: flows, DNS, HTTP, TLS, SMB, IM, carved files, detections.

Streams the capture in bounded chunks (forensics.net.capture), so a capture of
any size is read without being loaded. Framing damage ends the walk with one
IngestError naming the offset, after everything before it has been reported
(open flows are closed and detections run on what was read); a damaged classic
pcap record header, or a pcapng block whose framing is broken, is skipped up to
the next plausible record or block instead, and the skipped range is reported
as one IngestError. Per-packet decode
problems (a truncated IPv4 header, a snaplen cut inside a TCP header) are
counted and reported once per kind with the first packet's offset.

Captures of `parallel.min_bytes` or more are analysed by `parallel.workers`
processes split by host pair (forensics.net.parallel); the records, their
order and the errors are those of the single-process path.
"""
from __future__ import annotations

import os
from typing import Iterator

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.net import capture, config, parallel
from forensics.net.analyzer import Analyzer
from forensics.net.decode import SUPPORTED_LINKTYPES


class PcapIngestor(Ingestor):
    name = "pcap"
    # 1.1: SMB1/SMB2, SMTP, classic-pcap resynchronisation; 1.2: SYN-flood DoS detection, beaconing ignores
    # half-open SYNs; 1.3: pcapng resynchronisation after a damaged block, the summary counts the packets read
    # before damage (was 0), captures >= parallel.min_bytes split over processes (same records, except which
    # flows are evicted early when more than flow_table.max_flows are live at once)
    version = "1.3.0"
    accepts = ("pcap", "pcapng")

    @classmethod
    def detect(cls, head, path, evidence_type) -> bool:
        return evidence_type in cls.accepts

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        cfg = config.load(ctx.options.get("pcap"))
        par = cfg.get("parallel") or {}
        nparts = max(1, int(par.get("workers", 1)))
        try:
            big = os.path.getsize(ctx.path) >= int(par.get("min_bytes", 0))
        except OSError:
            big = False  # the single-process path reports why the file cannot be read
        if nparts == 1 or not big:
            yield from self._ingest_one(ctx, cfg)
            return
        # The split is chosen by configuration and size only, so the records never depend on the machine:
        # where no second process can run (one core, a daemonic pool worker) the parts run here, interleaved.
        workers = None
        if not par.get("in_process") and (os.cpu_count() or 1) > 1:
            workers = parallel.Workers.start(ctx.path, nparts, cfg, ctx.display_name)
        sources = workers.sources() if workers else parallel.in_process_sources(ctx.path, nparts, cfg,
                                                                                ctx.display_name)
        yield from self._ingest_split(ctx, cfg, sources, workers)

    def _ingest_split(self, ctx: IngestContext, cfg: dict, sources, workers) -> Iterator[Record]:
        """The same records as `_ingest_one`, from workers that each analyse a share of the host pairs."""
        m = parallel.Merged(sources, cfg, ctx.display_name)
        try:
            for rec in m.records():
                yield self._stamp(ctx, rec)
        except Exception as e:  # a worker that died (killed, out of memory): report, never raise
            yield ctx.error(f"internal error while decoding: {type(e).__name__}: {e}", offset=None)
            return
        finally:
            if workers is not None:
                workers.stop()
        s0 = m.summaries[0]
        finish_error = next((s["finish_error"] for s in m.summaries if s["finish_error"]), None)
        try:
            for rec in m.det.finish():
                yield self._stamp(ctx, rec)
            for reason, (frame, off, count) in m.problems():
                more = f" (same problem in {count - 1} more packets)" if count > 1 else ""
                yield ctx.error(f"packet {frame}: {reason}{more}", offset=off)
        except Exception as e:
            finish_error = finish_error or f"internal error while finishing: {type(e).__name__}: {e}"
        if finish_error:
            yield ctx.error(finish_error, offset=None)
        info = s0["info"]
        for skip in info.get("skipped", ()):
            yield ctx.error(f"damaged records skipped: {skip['length']} bytes from offset {skip['offset']} "
                            f"({skip['reason']}); reading resumed at the next plausible record", offset=skip["offset"])
        if s0["damage"] is not None:
            yield ctx.error(s0["damage"][2], offset=s0["damage"][1])
        if info:
            stats = m.stats()
            ev = Event(timestamp=s0["last_ts"], data_type="network:capture", locator="off=0",
                       timestamp_desc="Last Packet",
                       message=f"{info.get('format', 'capture')}: {stats['packets']} packets, {stats['flows']} flows",
                       attributes={**info, **stats, "ip_fragments": s0["fragments"],
                                   "reassembled_datagrams": s0["reassembled"]},
                       discriminator="capture-summary")
            yield self.stamp(ctx, ev)

    def _ingest_one(self, ctx: IngestContext, cfg: dict) -> Iterator[Record]:
        an = Analyzer(cfg, ctx.display_name)
        info: dict = {}
        try:
            f = open(ctx.path, "rb")
        except OSError as e:
            yield ctx.error(f"cannot open capture: {e.strerror}", offset=0)
            return
        damage: IngestError | None = None
        with f:
            try:
                pkts = capture.packets(f, info, SUPPORTED_LINKTYPES)
                for rec in an.run(pkts):
                    yield self._stamp(ctx, rec)
            except capture.CaptureDamage as e:
                damage = ctx.error(e.reason, offset=e.offset)
            except Exception as e:  # a parser bug must not kill the case: report where it happened
                damage = ctx.error(f"internal error while decoding: {type(e).__name__}: {e}", offset=None)
        try:
            for rec in an.finish():
                yield self._stamp(ctx, rec)
        except Exception as e:
            yield ctx.error(f"internal error while finishing: {type(e).__name__}: {e}", offset=None)
        for skip in info.get("skipped", ()):
            yield ctx.error(f"damaged records skipped: {skip['length']} bytes from offset {skip['offset']} "
                            f"({skip['reason']}); reading resumed at the next plausible record", offset=skip["offset"])
        if damage is not None:
            yield damage
        if info:
            ts = an.last_ts
            ev = Event(timestamp=ts, data_type="network:capture", locator="off=0", timestamp_desc="Last Packet",
                       message=f"{info.get('format', 'capture')}: {an.stats['packets']} packets, "
                               f"{an.stats['flows']} flows",
                       attributes={**info, **an.stats, "ip_fragments": an.decoder.fragments,
                                   "reassembled_datagrams": an.decoder.reassembled},
                       discriminator="capture-summary")
            yield self.stamp(ctx, ev)

    def _stamp(self, ctx, rec):
        if isinstance(rec, Event):
            return self.stamp(ctx, rec)
        if isinstance(rec, IngestError) and rec.file != ctx.display_name:
            return ctx.error(rec.reason, offset=rec.offset, line=rec.line)
        return rec
