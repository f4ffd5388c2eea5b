"""PCAP / PCAPNG ingestor: flows, DNS, HTTP, TLS, SMB, IM, carved files, detections.

Streams the capture in bounded chunks (forensics.net.capture), so a capture of
any size is read without being loaded. Framing damage ends the walk with one
IngestError naming the offset, after everything before it has been reported
(open flows are closed and detections run on what was read); in classic pcap
a damaged record header is skipped up to the next plausible record instead,
and the skipped range is reported as one IngestError. Per-packet decode
problems (a truncated IPv4 header, a snaplen cut inside a TCP header) are
counted and reported once per kind with the first packet's offset.
"""
from __future__ import annotations

from typing import Iterator

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext, Ingestor, Record
from forensics.net import capture, config
from forensics.net.analyzer import Analyzer
from forensics.net.decode import SUPPORTED_LINKTYPES


class PcapIngestor(Ingestor):
    name = "pcap"
    version = "1.2.0"  # 1.1: SMB1/SMB2, SMTP, classic-pcap resynchronisation; 1.2: SYN-flood DoS detection, beaconing ignores half-open SYNs
    accepts = ("pcap", "pcapng")

    @classmethod
    def detect(cls, head, path, evidence_type) -> bool:
        return evidence_type in cls.accepts

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        cfg = config.load(ctx.options.get("pcap"))
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
