"""PCAP ingestor on synthetic captures: format variants, bad input, detections."""
from __future__ import annotations

import io
import struct
from pathlib import Path

import dpkt
import pytest

from forensics.events import CarvedFile, Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from forensics.net import synth


def run(path: Path, options: dict | None = None) -> list:
    ctx = IngestContext(path=path, evidence_sha256="0" * 64, evidence_type="pcap", display_name=path.name,
                        options={"pcap": options} if options else {})
    return list(PcapIngestor().ingest(ctx))


def of(recs, kind):
    if kind is IngestError or kind is CarvedFile:
        return [r for r in recs if isinstance(r, kind)]
    return [r for r in recs if isinstance(r, Event) and r.data_type == kind]


def sample_packets(t0=1_600_000_000_000_000):
    body = b"MZ" + bytes(range(256)) * 20
    pk = synth.tcp_conversation("10.0.0.5", "93.184.216.34", 40000, 80, t0,
                                b"GET /tool.exe HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\n\r\n",
                                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n"
                                % len(body) + body)
    pk += [(t0 + 100_000, synth.udp_frame("10.0.0.5", "8.8.8.8", 5555, 53,
                                          bytes(dpkt.dns.DNS(id=7, qd=[dpkt.dns.DNS.Q(name="example.com")]))))]
    return pk, body


def write(tmp_path, name, fn, *a, **kw) -> Path:
    p = tmp_path / name
    with open(p, "wb") as f:
        fn(f, *a, **kw)
    return p


@pytest.mark.parametrize("variant", ["le_us", "be_us", "le_ns", "be_ns", "ng_le", "ng_be", "ng_ns", "ng_pow2"])
def test_format_variants_give_same_flows_and_times(tmp_path, variant):
    pk, body = sample_packets()
    if variant.startswith("ng"):
        tsres = {"ng_ns": 9, "ng_pow2": 0x80 | 20}.get(variant)
        p = write(tmp_path, "c.pcapng", synth.write_pcapng, pk, big_endian=variant == "ng_be", tsresol=tsres)
    else:
        p = write(tmp_path, "c.pcap", synth.write_pcap, pk, big_endian=variant.startswith("be"),
                  nanos=variant.endswith("ns"))
    recs = run(p)
    assert not of(recs, IngestError)
    flows = sorted(of(recs, "network:flow"), key=lambda e: e.locator)
    tcp = [f for f in flows if f.proto == "tcp"][0]
    assert (tcp.src_ip, tcp.src_port, tcp.dst_ip, tcp.dst_port) == ("10.0.0.5", 40000, "93.184.216.34", 80)
    assert tcp.attributes["state"] == "SF"
    out_frames = [fr for _, fr in pk if fr[26:30] == bytes([10, 0, 0, 5]) and fr[23] == 6]
    assert tcp.bytes_out == sum(len(fr) for fr in out_frames)
    assert tcp.attributes["packets_out"] == len(out_frames)
    tol = 1 if variant == "ng_pow2" else 0  # 2^-20 s units round to the microsecond
    assert abs(tcp.timestamp - pk[0][0]) <= tol
    carved = of(recs, CarvedFile)
    assert [c.data for c in carved] == [body]
    http = [e for e in of(recs, "network:http") if e.attributes["direction"] == "request"][0]
    assert http.attributes["user_agent"] == "curl/8" and http.url == "http://example.com/tool.exe"
    assert of(recs, "network:dns")[0].domain == "example.com"
    assert tcp.locator == f"pkt=1;off={24 if not variant.startswith('ng') else tcp.locator.split('off=')[1]}"


def test_linktypes_raw_sll_sll2_loopback(tmp_path):
    ip = synth.ipv4("10.1.1.1", "10.1.1.2", 17, synth.udp(1000, 2000, b"hello"))
    frames = {101: ip, 228: ip, 113: b"\x00\x00\x00\x01\x00\x06" + b"\x00" * 8 + b"\x08\x00" + ip,
              276: b"\x08\x00\x00\x00" + b"\x00" * 16 + ip, 0: struct.pack("<I", 2) + ip,
              1: synth.ETH_HDR + b"\x81\x00\x00\x05\x08\x00" + ip}
    for lt, fr in frames.items():
        p = write(tmp_path, f"l{lt}.pcap", synth.write_pcap, [(1_000_000, fr)], linktype=lt)
        flows = of(run(p), "network:flow")
        assert [(f.src_ip, f.dst_port, f.proto) for f in flows] == [("10.1.1.1", 2000, "udp")], lt


def test_ipv4_fragments_reassembled_and_ipv6_ext_headers(tmp_path):
    payload = synth.udp(7000, 53, b"x" * 3000)
    a, b = payload[:1480], payload[1480:]
    f1 = synth.eth(synth.ipv4("10.0.0.1", "10.0.0.2", 17, a, ident=9, frag=0x2000))
    f2 = synth.eth(synth.ipv4("10.0.0.1", "10.0.0.2", 17, b, ident=9, frag=1480 // 8))
    # IPv6 with a hop-by-hop and a destination-options header before TCP
    src6, dst6 = bytes(15) + b"\x01", bytes(15) + b"\x02"
    t = synth.tcp(1234, 443, 1, 0, 0x02)
    ext = bytes([60, 0]) + bytes(6) + bytes([6, 0]) + bytes(6)
    ip6 = struct.pack("!IHBB", 0x60000000, len(ext) + len(t), 0, 64) + src6 + dst6 + ext + t
    p = write(tmp_path, "f.pcap", synth.write_pcap, [(1, f1), (2, f2), (3, synth.eth(ip6, 0x86DD))])
    recs = run(p)
    flows = of(recs, "network:flow")
    udp = [f for f in flows if f.proto == "udp"][0]
    assert udp.attributes["packets_out"] == 1 and udp.attributes["payload_out"] == 3000
    tcp6 = [f for f in flows if f.proto == "tcp"][0]
    assert (tcp6.src_ip, tcp6.dst_port, tcp6.attributes["state"]) == ("::1", 443, "S0")
    summary = of(recs, "network:capture")[0].attributes
    assert summary["ip_fragments"] == 2 and summary["reassembled_datagrams"] == 1


# ---------------------------------------------------------------------------- bad input
def good_pcap(tmp_path) -> tuple[Path, bytes, list[int]]:
    pk, _ = sample_packets()
    buf = io.BytesIO()
    synth.write_pcap(buf, pk)
    data = buf.getvalue()
    offs, pos = [], 24
    while pos < len(data):
        offs.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return tmp_path / "x.pcap", data, offs


def one_error(recs) -> IngestError:
    errs = of(recs, IngestError)
    assert len(errs) == 1, errs
    assert errs[0].file
    return errs[0]


def test_truncated_file_keeps_events_before(tmp_path):
    p, data, offs = good_pcap(tmp_path)
    p.write_bytes(data[: offs[5] + 30])  # cut inside the sixth record
    recs = run(p)
    err = one_error(recs)
    assert err.offset == offs[5] and "truncated" in err.reason
    flows = of(recs, "network:flow")
    assert flows and flows[0].attributes["packets_out"] + flows[0].attributes["packets_in"] == 5


def test_garbage_after_valid_header(tmp_path):
    p, data, _ = good_pcap(tmp_path)
    p.write_bytes(data[:24] + bytes(range(7, 250)) * 20)
    err = one_error(run(p))
    assert err.offset == 24


def test_damaged_record_header_is_skipped_and_reading_resumes(tmp_path):
    """Classic pcap: garbage between records, or one record's length smashed, costs only the damaged bytes."""
    p, data, offs = good_pcap(tmp_path)
    total = len(offs)
    junk = b"\xff" * 37
    p.write_bytes(data[:offs[4]] + junk + data[offs[4]:])
    recs = run(p)
    err = one_error(recs)
    assert err.offset == offs[4] and f"{len(junk)} bytes" in err.reason and "skipped" in err.reason
    summary = of(recs, "network:capture")[0].attributes
    assert summary["packets"] == total  # nothing lost but the junk
    assert [c.data for c in of(recs, CarvedFile)] == [sample_packets()[1]]
    # one record's captured length smashed: that record is lost, the ones after it are read
    bad = bytearray(data)
    struct.pack_into("<I", bad, offs[6] + 8, 0x7FFFFFFF)
    p.write_bytes(bytes(bad))
    recs = run(p)
    err = one_error(recs)
    assert err.offset == offs[6] and err.reason.startswith(f"damaged records skipped: {offs[7] - offs[6]} bytes")
    assert of(recs, "network:capture")[0].attributes["packets"] == total - 1
    assert of(recs, "network:dns")  # the last packet, after the damage


def test_snaplen_cut_inside_tcp_header(tmp_path):
    pk, _ = sample_packets()
    frames = [(pk[0][0], pk[0][1][:40])] + pk[1:]  # 14 eth + 20 ip + 6 bytes of TCP
    p = write(tmp_path, "s.pcap", synth.write_pcap, frames)
    recs = run(p)
    err = one_error(recs)
    assert err.offset == 24 and "TCP header truncated" in err.reason
    assert of(recs, "network:flow") and of(recs, CarvedFile)  # the rest is still analysed


def test_truncated_ipv4_header(tmp_path):
    pk, _ = sample_packets()
    frames = pk[:3] + [(pk[3][0], pk[3][1][:14 + 12])] + pk[3:]
    p = write(tmp_path, "t.pcap", synth.write_pcap, frames)
    recs = run(p)
    err = one_error(recs)
    assert "IPv4 header truncated" in err.reason and err.reason.startswith("packet 4")
    assert of(recs, "network:http")


def test_unknown_linktype(tmp_path):
    pk, _ = sample_packets()
    p = write(tmp_path, "u.pcap", synth.write_pcap, pk, linktype=147)
    recs = run(p)
    err = one_error(recs)
    assert err.offset == 20 and "link type 147" in err.reason
    assert not of(recs, "network:flow")


def test_zero_length_file(tmp_path):
    p = tmp_path / "z.pcap"
    p.write_bytes(b"")
    err = one_error(run(p))
    assert err.offset == 0 and "empty" in err.reason


def test_pcapng_block_with_wrong_length(tmp_path):
    pk, _ = sample_packets()
    buf = io.BytesIO()
    synth.write_pcapng(buf, pk)
    data = bytearray(buf.getvalue())
    # walk to the 4th EPB and corrupt its length
    pos, n = 0, 0
    while True:
        btype, blen = struct.unpack_from("<II", data, pos)
        if btype == 6:
            n += 1
            if n == 4:
                break
        pos += blen
    blen = struct.unpack_from("<I", data, pos + 4)[0]
    struct.pack_into("<I", data, pos + 4, 13)
    p = tmp_path / "w.pcapng"
    p.write_bytes(bytes(data))
    recs = run(p)
    err = one_error(recs)  # the damaged block is skipped up to the next block that frames itself
    assert err.offset == pos and "invalid length" in err.reason and err.reason.startswith(
        f"damaged records skipped: {blen} bytes from offset {pos}")
    flows = of(recs, "network:flow")
    assert sum(f.attributes["packets_out"] + f.attributes["packets_in"] for f in flows) == len(pk) - 1
    assert of(recs, "network:dns")  # the last packet, after the damage
    # a length no block after it can satisfy, at the end of the file: the walk stops there, as before
    last = bytearray(buf.getvalue())
    tail = len(last) - struct.unpack_from("<I", last, len(last) - 4)[0]
    struct.pack_into("<I", last, tail + 4, 1 << 20)
    p.write_bytes(bytes(last))
    recs = run(p)
    err = one_error(recs)
    assert err.offset == tail and "truncated" in err.reason
    assert of(recs, "network:capture")[0].attributes["packets"] == len(pk) - 1


def test_pcapng_garbage_between_blocks_is_skipped(tmp_path):
    pk, body = sample_packets()
    buf = io.BytesIO()
    synth.write_pcapng(buf, pk, big_endian=True)
    data = buf.getvalue()
    pos = 0
    for _ in range(6):  # section header, interface, then past four packets
        pos += struct.unpack_from(">I", data, pos + 4)[0]
    junk = b"\x00\x00\x00\x06" + b"\xee" * 30  # looks like a packet block for 4 bytes
    p = tmp_path / "g.pcapng"
    p.write_bytes(data[:pos] + junk + data[pos:])
    recs = run(p)
    err = one_error(recs)
    assert err.offset == pos and f"skipped: {len(junk)} bytes" in err.reason
    assert of(recs, "network:capture")[0].attributes["packets"] == len(pk)  # nothing lost but the junk
    assert [c.data for c in of(recs, CarvedFile)] == [body]


def test_pcapng_without_interface_block(tmp_path):
    pk, _ = sample_packets()
    data = synth.pcapng_shb() + b"".join(synth.pcapng_epb(0, ts, fr) for ts, fr in pk)
    p = tmp_path / "n.pcapng"
    p.write_bytes(data)
    err = one_error(run(p))
    assert err.offset == len(synth.pcapng_shb()) and "interface" in err.reason


def test_pcapng_multi_interface_resolutions(tmp_path):
    """Two interfaces in one section with different if_tsresol give the same instant."""
    t_us = 1_700_000_000_123_456
    a = synth.udp_frame("10.0.0.1", "10.0.0.2", 1, 2, b"a")
    b = synth.udp_frame("10.0.0.3", "10.0.0.4", 1, 2, b"b")
    for be in (False, True):
        data = (synth.pcapng_shb(be) + synth.pcapng_idb(1, None, be) + synth.pcapng_idb(1, 9, be)
                + synth.pcapng_epb(0, t_us, a, be) + synth.pcapng_epb(1, t_us * 1000, b, be))
        p = tmp_path / f"m{be}.pcapng"
        p.write_bytes(data)
        recs = run(p)
        assert not of(recs, IngestError)
        assert sorted(f.timestamp for f in of(recs, "network:flow")) == [t_us, t_us]


# ---------------------------------------------------------------------------- detections
def det(recs, name):
    return [e for e in of(recs, "detection") if e.attributes.get("detector") == name]


def test_detections_scan_beacon_brute_exfil_outage_dnstunnel(tmp_path):
    t0 = 1_700_000_000_000_000
    pk = []
    # vertical SYN scan: 150 ports, answered by RST
    for i, port in enumerate(range(1000, 1150)):
        t = t0 + i * 1000
        pk.append((t, synth.tcp_frame("10.0.0.66", "10.0.0.10", 50000, port, 7, 0, 0x02)))
        pk.append((t + 10, synth.tcp_frame("10.0.0.10", "10.0.0.66", port, 50000, 0, 8, 0x14)))
    # beacon every 60 s
    for i in range(12):
        pk += synth.tcp_conversation("10.0.0.7", "203.0.113.9", 41000 + i, 443, t0 + i * 60_000_000,
                                     b"\x17\x03\x03ping", b"\x17\x03\x03pong")
    # 30 short SSH logins
    for i in range(30):
        pk += synth.tcp_conversation("198.51.100.4", "10.0.0.22", 42000 + i, 22, t0 + i * 2_000_000,
                                     b"SSH-2.0-x\r\n", b"SSH-2.0-y\r\n")
    # big upload
    pk += synth.tcp_conversation("10.0.0.8", "45.33.32.156", 43000, 8443, t0, b"A" * 3_000_000, b"ok",
                                 mss=60000)
    # web server serves, then stops answering SYNs for 10 minutes, then recovers
    for i in range(5):
        pk += synth.tcp_conversation("10.0.0.30", "10.0.0.80", 44000 + i, 80, t0 + i * 1_000_000,
                                     b"GET / HTTP/1.1\r\nHost: s\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    for i in range(10):
        pk.append((t0 + 60_000_000 * (i + 1), synth.tcp_frame("10.0.0.30", "10.0.0.80", 45000 + i, 80, 1, 0, 0x02)))
    pk += synth.tcp_conversation("10.0.0.30", "10.0.0.80", 46000, 80, t0 + 700_000_000,
                                 b"GET / HTTP/1.1\r\nHost: s\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    # DNS tunnel
    import base64, os
    for i in range(30):
        label = base64.b32encode(os.urandom(35)).decode().strip("=").lower()
        q = dpkt.dns.DNS(id=i, qd=[dpkt.dns.DNS.Q(name=f"{label}.t.evil.example", type=16)])
        pk.append((t0 + i * 500_000, synth.udp_frame("10.0.0.9", "10.0.0.53", 30000 + i, 53, bytes(q))))
    pk.sort(key=lambda x: x[0])
    p = write(tmp_path, "d.pcap", synth.write_pcap, pk)
    recs = run(p, {"exfiltration": {"flow_bytes_out": 1_000_000, "destination_bytes_out": 2_000_000}})
    assert not of(recs, IngestError)
    scan = det(recs, "port_scan")
    assert len(scan) == 1 and scan[0].src_ip == "10.0.0.66" and "T1046" in scan[0].attack
    beacon = det(recs, "beaconing")
    assert [(b.src_ip, b.dst_ip, b.dst_port) for b in beacon] == [("10.0.0.7", "203.0.113.9", 443)]
    assert abs(beacon[0].attributes["mean_interval_s"] - 60) < 0.1
    brute = det(recs, "brute_force")
    assert len(brute) == 1 and brute[0].dst_port == 22 and "T1110" in brute[0].attack
    exfil = det(recs, "large_outbound_flow")
    assert len(exfil) == 1 and exfil[0].bytes_out == 3_000_000 and {"T1048", "T1041"} <= set(exfil[0].attack)
    assert det(recs, "large_outbound_destination")[0].dst_ip == "45.33.32.156"
    outage = det(recs, "service_outage")
    assert len(outage) == 1
    a = outage[0].attributes
    assert a["service"] == "10.0.0.80:80/tcp" and a["recovered"] and a["unanswered_attempts"] == 10
    assert a["gap_start_us"] < t0 + 60_000_000 <= t0 + 700_000_000 == a["gap_end_us"]
    tunnel = det(recs, "dns_tunnel")
    assert len(tunnel) == 1 and tunnel[0].domain == "evil.example" and "T1071.004" in tunnel[0].attack


def test_deterministic_output(tmp_path):
    pk, _ = sample_packets()
    p = write(tmp_path, "c.pcap", synth.write_pcap, pk)
    rows1 = [r.to_row() for r in run(p) if isinstance(r, Event)]
    rows2 = [r.to_row() for r in run(p) if isinstance(r, Event)]
    assert rows1 == rows2 and len({r["event_id"] for r in rows1}) == len(rows1)
