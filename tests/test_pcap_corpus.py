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
