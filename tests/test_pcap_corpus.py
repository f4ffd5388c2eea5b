"""PCAP ingestor on the real corpus, checked against tshark and the incident questions."""
from __future__ import annotations

import hashlib
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from forensics.events import CarvedFile, Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from tests.conftest import corpus_dir, need_tool

CAPTURES = sorted(
    str(p.relative_to(corpus_dir()))
    for p in list((corpus_dir() / "pcap").rglob("*.pcap*")) + list((corpus_dir() / "incidents").rglob("*.pcap*"))
) if corpus_dir().is_dir() else ["(corpus missing)"]


def ingest(path: Path) -> list:
    ctx = IngestContext(path=path, evidence_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        evidence_type="pcap", display_name=path.name)
    return list(PcapIngestor().ingest(ctx))


def events(recs, data_type=None) -> list[Event]:
    return [r for r in recs if isinstance(r, Event) and (data_type is None or r.data_type == data_type)]


def tshark_size(n: int) -> str:
    """Wireshark 4's format_size with SI prefixes: a unit is used from 10 of it upwards."""
    for div, unit in ((10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if n // div >= 10:
            return f"{n // div} {unit}"
    return f"{n} bytes"


_ROW = re.compile(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+ \w+)\s+(\d+)\s+(\d+ \w+)\s+(\d+)\s+(\d+ \w+)")


def tshark_conversations(path: Path) -> dict[str, Counter]:
    out = subprocess.run([need_tool("tshark"), "-q", "-n", "-z", "conv,tcp", "-z", "conv,udp", "-r", str(path)],
                         capture_output=True, text=True, timeout=120).stdout
    convs: dict[str, Counter] = {"tcp": Counter(), "udp": Counter()}
    proto = None
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "tcp"
        elif line.startswith("UDP Conversations"):
            proto = "udp"
        m = _ROW.match(line)
        if m and proto:
            a, b, f_ba, b_ba, f_ab, b_ab = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5), m.group(6)
            convs[proto][frozenset({(a, int(f_ab), b_ab), (b, int(f_ba), b_ba)})] += 1
    return convs


def our_conversations(recs) -> dict[str, Counter]:
    convs: dict[str, Counter] = {"tcp": Counter(), "udp": Counter()}
    for e in events(recs, "network:flow"):
        if e.proto in convs:
            a, b = f"{e.src_ip}:{e.src_port}", f"{e.dst_ip}:{e.dst_port}"
            at = e.attributes
            convs[e.proto][frozenset({(a, at["packets_out"], tshark_size(e.bytes_out)),
                                      (b, at["packets_in"], tshark_size(e.bytes_in))})] += 1
    return convs


@pytest.mark.corpus
@pytest.mark.parametrize("rel", CAPTURES)
def test_conversations_match_tshark(corpus, rel):
    path = corpus / rel
    recs = ingest(path)
    theirs = tshark_conversations(path)
    ours = our_conversations(recs)
    for proto in ("tcp", "udp"):
        assert sum(ours[proto].values()) == sum(theirs[proto].values()), f"{proto} conversation count"
        assert ours[proto] == theirs[proto], f"{proto} conversations differ: ours-theirs={ours[proto] - theirs[proto]}, " \
                                             f"theirs-ours={theirs[proto] - ours[proto]}"


def tshark_fields(path: Path, display_filter: str, *fields: str, extra: tuple = ()) -> list[list[str]]:
    cmd = [need_tool("tshark"), "-n", "-r", str(path), *extra, "-Y", display_filter, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    return [ln.split("\t") for ln in out.splitlines() if ln.strip()]


@pytest.mark.corpus
def test_nfpc_puzzle1_ann_bad_aim(corpus):
    """Which host, which IM account, when, and which file (carved, sized, hashed)."""
    path = corpus / "incidents/nfpc_puzzle1_anns_bad_aim/evidence01.pcap"
    recs = ingest(path)
    im = events(recs, "network:im")
    msgs = [e for e in im if e.attributes.get("text")]
    assert msgs
    # the insider's host is the internal client of the outgoing messages, the account its peer
    hosts = {e.attributes["client_ip"] for e in msgs if e.attributes["direction"] == "outgoing"}
    accounts = {e.attributes["peer_screen_name"] for e in msgs}
    # independently: Wireshark's AIM dissector on the same capture
    ws = tshark_fields(path, "aim.messageblock.message", "frame.time_epoch", "ip.src", "aim.buddyname",
                       extra=("-d", "tcp.port==443,aim"))
    ws_sent = [r for r in ws if r[1].startswith("192.168.")]
    assert hosts == {r[1] for r in ws_sent} and len(hosts) == 1
    assert accounts == {n for r in ws for n in r[2].split(",") if n}
    start, end = min(e.timestamp for e in msgs), max(e.timestamp for e in msgs)
    ws_times = sorted(round(float(r[0]) * 1e6) for r in ws)
    assert start == ws_times[0] and end == ws_times[-1]
    # the file: offered in IM, sent over OFT2 to the peer, carved whole
    xfer = [e for e in im if e.attributes.get("protocol") == "AIM/OFT2"]
    assert len(xfer) == 1
    x = xfer[0]
    assert x.attributes["complete"] and x.src_ip in hosts and x.attributes["peer_screen_name"] in accounts
    carved = [c for c in recs if isinstance(c, CarvedFile) and c.name == x.file_path]
    assert len(carved) == 1 and len(carved[0].data) == x.attributes["file_size"]
    assert hashlib.sha256(carved[0].data).hexdigest() == x.file_sha256
    # independent: the sender's TCP payload on the OFT connection, minus the 256-byte OFT2 prompt
    rows = tshark_fields(path, f"ip.src=={x.src_ip} && tcp.srcport=={x.src_port} && tcp.len>0", "tcp.payload")
    stream = b"".join(bytes.fromhex(r[0].replace(":", "")) for r in rows)
    assert stream[:4] == b"OFT2"
    assert stream[256:256 + x.attributes["file_size"]] == carved[0].data
    import io
    import zipfile
    assert zipfile.ZipFile(io.BytesIO(carved[0].data)).testzip() is None  # a whole, valid document
    assert x.file_path.endswith(".docx")


@pytest.mark.corpus
def test_otrf_log4shell_exploit_request(corpus):
    path = corpus / "incidents/otrf_log4shell/log4shell_jndi_reference.pcap"
    recs = ingest(path)
    dets = [e for e in events(recs, "detection") if e.attributes.get("detector") == "log4shell_jndi"]
    assert len(dets) == 1
    d = dets[0]
    ws = tshark_fields(path, 'http.request && frame contains "jndi"', "frame.time_epoch", "ip.src", "ip.dst",
                       "tcp.dstport", "http.request.uri", "http.user_agent")
    assert len(ws) == 1
    t, attacker, victim, port, uri, ua = ws[0]
    assert (d.src_ip, d.dst_ip, d.dst_port) == (attacker, victim, int(port))
    assert d.timestamp == round(float(t) * 1e6) and "T1190" in d.attack
    assert d.attributes["value"] == ua and d.url.endswith(uri)
    # the victim then fetched the attacker's class file: carved
    assert any(c.name.endswith(".class") and c.data[:4] == b"\xca\xfe\xba\xbe"
               for c in recs if isinstance(c, CarvedFile))
