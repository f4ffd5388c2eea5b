"""SYN-flood denial of service in the PCAP analysis: one detection per flood episode, and the flood's
bots, which repeat on a timer, are not read as beaconing."""
from __future__ import annotations

from pathlib import Path

from forensics.events import Event
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from forensics.net import synth

T0 = 1_775_822_400_000_000  # 2026-04-10T12:00:00Z
SYN, ACK = 0x02, 0x10


def run(path: Path) -> list[Event]:
    ctx = IngestContext(path=path, evidence_sha256="0" * 64, evidence_type="pcap", display_name=path.name, options={})
    return [r for r in PcapIngestor().ingest(ctx) if isinstance(r, Event)]


def flood(n: int, bots: int, span_s: int, start_us: int = T0, dst: str = "10.50.1.10", port: int = 443, sport: int = 1024):
    """`n` SYNs spread evenly over `span_s` seconds from `bots` sources, none answered."""
    return [(start_us + i * span_s * 1_000_000 // n,
             synth.tcp_frame(f"198.51.{100 + (i % bots) // 250}.{2 + (i % bots) % 250}", dst, sport + i % 30000, port,
                             i * 2654435761 % (1 << 32), 0, SYN))
            for i in range(n)]


def served(t_us: int, k: int):
    """Ordinary answered HTTPS conversations to the same server (the flood must not hide them)."""
    return synth.tcp_conversation(f"58.33.12.{k % 200 + 1}", "10.50.1.10", 50000 + k, 443, t_us,
                                  b"\x16\x03\x01\x00\x05hello", b"\x16\x03\x03\x00\x05hello")


def capture(tmp_path, packets) -> Path:
    p = tmp_path / "edge.pcap"
    with open(p, "wb") as f:
        synth.write_pcap(f, sorted(packets, key=lambda x: x[0]))
    return p


def detections(evs, kind):
    return [e for e in evs if e.data_type == "detection" and e.attributes.get("detector") == kind]


def test_syn_flood_from_many_sources_is_one_dos_detection(tmp_path):
    pk = flood(3000, 200, 600) + [x for k in range(20) for x in served(T0 - 600_000_000 + k * 60_000_000, k)]
    evs = run(capture(tmp_path, pk))
    (d,) = detections(evs, "dos_flood")
    assert d.gbt_category == "NADOS" and set(d.attack) >= {"T1498", "T1499"} and d.severity == "high"
    assert (d.dst_ip, d.dst_port, d.proto) == ("10.50.1.10", 443, "tcp")
    a = d.attributes
    # derived from the packets we wrote: every SYN counted, every bot counted, the span of the flood
    assert a["attempts"] == 3000 and a["sources"] == 200
    assert set(a["source_addresses"]) == {f"198.51.100.{2 + k}" for k in range(200)}
    assert d.timestamp == T0 and a["last_seen_us"] == T0 + 2999 * 600_000_000 // 3000
    assert not detections(evs, "beaconing"), [e.message for e in detections(evs, "beaconing")][:3]


def test_two_floods_apart_are_two_episodes(tmp_path):
    pk = flood(1000, 50, 120) + flood(1000, 50, 120, start_us=T0 + 3_600_000_000, sport=31024)
    evs = run(capture(tmp_path, pk))
    ds = sorted(detections(evs, "dos_flood"), key=lambda e: e.timestamp)
    assert [d.timestamp for d in ds] == [T0, T0 + 3_600_000_000]
    assert len({d.event_id for d in ds}) == 2 and all(d.attributes["attempts"] == 1000 for d in ds)


def test_below_thresholds_no_dos(tmp_path):
    # many SYNs from one scanner-like source (too few sources), and few SYNs from many (too few attempts)
    pk = flood(1000, 3, 120) + flood(200, 100, 120, dst="10.50.1.11")
    assert not detections(run(capture(tmp_path, pk)), "dos_flood")


def test_answered_connections_are_not_a_flood(tmp_path):
    pk = [x for k in range(600) for x in served(T0 + k * 400_000, k)]
    assert not detections(run(capture(tmp_path, pk)), "dos_flood")


def test_regular_beacon_with_payload_still_detected(tmp_path):
    # the half-open exemption must not hide a real beacon: answered, with payload, every 60 s
    pk = [x for k in range(12) for x in synth.tcp_conversation("10.0.0.5", "203.0.113.9", 41000 + k, 443,
                                                               T0 + k * 60_000_000, b"ping" * 10, b"pong" * 10)]
    (b,) = detections(run(capture(tmp_path, pk)), "beaconing")
    assert b.dst_ip == "203.0.113.9" and b.attributes["connections"] == 12
