"""SMB1/SMB2 in the PCAP ingestor: real PsExec and EICAR captures checked against tshark, synthetic sessions."""
from __future__ import annotations

import hashlib
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml

from forensics.events import CarvedFile, Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from forensics.net import synth
from tests.conftest import need_tool


def ingest(path: Path) -> list:
    ctx = IngestContext(path=path, evidence_sha256="0" * 64, evidence_type="pcap", display_name=path.name)
    return list(PcapIngestor().ingest(ctx))


def smb(recs, command=None) -> list[Event]:
    return [r for r in recs if isinstance(r, Event) and r.data_type == "network:smb"
            and (command is None or r.attributes.get("command") == command)]


def detections(recs, kind) -> list[Event]:
    return [r for r in recs if isinstance(r, Event) and r.data_type == "detection" and r.attributes["detector"] == kind]


def carved(recs) -> dict[str, CarvedFile]:
    return {c.name: c for c in recs if isinstance(c, CarvedFile)}


def tshark_export_smb(path: Path, tmp_path: Path) -> dict[str, str]:
    """sha256 of every object Wireshark's SMB export writes, by file name (an independent carver)."""
    out = tmp_path / "tshark-smb"
    out.mkdir()
    subprocess.run([need_tool("tshark"), "-n", "-r", str(path), "-q", "--export-objects", f"smb,{out}"],
                   capture_output=True, timeout=120, check=True)
    return {p.name.replace("%5c", "\\").lstrip("\\"): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in out.iterdir()}


def tshark_rows(path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    cmd = [need_tool("tshark"), "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return [ln.split("\t") for ln in res.stdout.splitlines() if ln.strip()]


# -- real captures ------------------------------------------------------------------------------

@pytest.mark.corpus
def test_smb1_eicar_upload_carved_like_tshark(corpus, tmp_path):
    path = corpus / "pcap/smb1_eicar_upload.pcap"
    recs = ingest(path)
    assert not [r for r in recs if isinstance(r, IngestError)]
    theirs = tshark_export_smb(path, tmp_path)
    files = carved(recs)
    assert set(files) == set(theirs) == {"eicar"}
    assert hashlib.sha256(files["eicar"].data).hexdigest() == theirs["eicar"]
    # the share and file names Wireshark's SMB dissector reads from the same packets
    (share,) = {r[0] for r in tshark_rows(path, "smb.cmd==0x75 && smb.flags.response==0", "smb.path")}
    (tree,) = smb(recs, "tree_connect")
    assert tree.file_path == share and tree.attributes["share_type"] == "disk"
    close = smb(recs, "close")[0]
    written = sum(int(lo) + 65536 * int(hi or 0) for lo, hi in
                  tshark_rows(path, "smb.cmd==0x2f && smb.flags.response==0", "smb.data_len_low", "smb.data_len_high"))
    assert close.bytes_out == written == len(files["eicar"].data)
    assert close.file_sha256 == theirs["eicar"] and close.file_path.endswith("\\eicar")
    logon = smb(recs, "session_setup")[0]
    assert logon.attributes["anonymous"] and logon.attributes["workstation"] == \
        tshark_rows(path, "ntlmssp.messagetype==3", "ntlmssp.auth.hostname")[0][0]
    # the carved bytes are what the EICAR YARA rule of the corpus recognises
    yara = pytest.importorskip("yara")
    rules = yara.compile(filepath=str(corpus / "yara/rules/yararules_eicar.yar"))
    assert rules.match(data=files["eicar"].data)


@pytest.fixture(scope="module")
def psexec(corpus):
    path = corpus / "pcap/smb2_psexec_add_user.pcap"
    return path, ingest(path)


@pytest.mark.corpus
def test_psexec_service_binary_carved_like_tshark(psexec, tmp_path):
    path, recs = psexec
    theirs = tshark_export_smb(path, tmp_path)
    files = carved(recs)
    assert "PSEXESVC.exe" in files  # pipes are not files: only the dropped binary is carved
    assert hashlib.sha256(files["PSEXESVC.exe"].data).hexdigest() == theirs["PSEXESVC.exe"]
    import pefile
    pe = pefile.PE(data=files["PSEXESVC.exe"].data, fast_load=True)
    assert pe.FILE_HEADER.NumberOfSections > 0


@pytest.mark.corpus
def test_psexec_shares_and_opens_match_tshark(psexec):
    path, recs = psexec
    trees = Counter(r[0] for r in tshark_rows(path, "smb2.cmd==3 && smb2.flags.response==0", "smb2.tree"))
    assert Counter(e.file_path for e in smb(recs, "tree_connect")) == trees
    opens = Counter(r[0] for r in tshark_rows(path, "smb2.cmd==5 && smb2.flags.response==0", "smb2.filename"))
    assert Counter(e.attributes["file_name"] for e in smb(recs, "create")) == opens
    # bytes written per file: tshark's write lengths, joined to names through the create responses
    rows = tshark_rows(path, "smb2.cmd==5 || smb2.cmd==9", "smb2.cmd", "smb2.flags.response", "smb2.msg_id",
                       "smb2.filename", "smb2.fid", "smb2.write_length")
    asked, names, written = {}, {}, Counter()
    for cmd, resp, mid, name, fid, wlen in rows:
        if cmd == "5" and resp in ("0", "False"):
            asked[mid] = name
        elif cmd == "5" and fid and mid in asked:
            names[fid] = asked[mid]
        elif cmd == "9" and wlen:
            written[names[fid]] += int(wlen)
    ours = Counter()
    for e in smb(recs, "close"):
        ours[e.attributes["file_name"]] += e.bytes_out
    assert +ours == +written


@pytest.mark.corpus
def test_psexec_suricata_expectations(psexec, corpus):
    """The suricata-verify answer key for this capture, read from its test.yaml."""
    _path, recs = psexec
    key = yaml.safe_load((corpus / "pcap/smb2_psexec_add_user.suricata-test.yaml").read_text())
    creates = smb(recs, "create")
    trees = smb(recs, "tree_connect")
    for check in key["checks"]:
        m = check["filter"]["match"]
        if m.get("event_type") != "smb":
            continue
        if m.get("smb.command") == "SMB2_COMMAND_CREATE":
            disp = m["smb.disposition"].removeprefix("FILE_").lower()
            hits = [e for e in creates if e.attributes["file_name"] == m["smb.filename"]
                    and e.attributes["disposition"] == disp]
        elif m.get("smb.command") == "SMB2_COMMAND_TREE_CONNECT":
            want = m.get("smb.share") or m.get("smb.named_pipe")
            hits = [e for e in trees if e.file_path == want]
            assert all((e.attributes["share_type"] == "pipe") == ("smb.named_pipe" in m) for e in hits)
        elif m.get("smb.access") == "delete on close":
            hits = [e for e in creates if e.attributes["file_name"] == m["smb.filename"]
                    and e.attributes["delete_on_close"]]
            hits += [e for e in smb(recs, "delete") if e.attributes["file_name"] == m["smb.filename"]]
        else:
            continue
        assert len(hits) == check["filter"]["count"], m


@pytest.mark.corpus
def test_psexec_detections(psexec):
    _path, recs = psexec
    (svc,) = detections(recs, "smb_remote_service_creation")
    assert "T1569.002" in svc.attack and svc.severity == "critical"
    assert svc.attributes["psexec_pattern"]
    dropped = svc.attributes["dropped_file"]
    assert svc.attributes["binary_path"].lower().endswith(dropped["name"].lower())
    (write,) = detections(recs, "smb_admin_share_write")
    assert "T1021.002" in write.attack and write.file_path == dropped["path"]
    assert write.file_sha256 == dropped["sha256"] == hashlib.sha256(carved(recs)["PSEXESVC.exe"].data).hexdigest()
    # the service is created after the binary landed, from the same client to the same server
    assert write.timestamp < svc.timestamp and (write.src_ip, write.dst_ip) == (svc.src_ip, svc.dst_ip)
    ops = [e.attributes["operation"] for e in smb(recs, "rpc")]
    assert ops.index("StartServiceW") > ops.index(svc.attributes.get("operation", "CreateServiceWOW64W"))


# -- synthetic sessions -------------------------------------------------------------------------

T0 = 1_700_000_000_000_000
PAYLOAD = b"MZ" + bytes(range(256)) * 40


def lateral_movement(port: int = 445) -> tuple[list, bytes]:
    s = synth.Smb2Script()
    s.negotiate()
    s.logon("mallory", "CORP", "WS-7")
    s.tree(r"\\fs1\C$")
    fid = s.create(r"Windows\Temp\evil.exe", disposition=5)
    s.write(fid, 5000, PAYLOAD[5000:])  # out of order: the tail first
    s.write(fid, 0, PAYLOAD[:5000])
    s.close(fid)
    report = bytes(range(200, 256)) * 100
    fid = s.create(r"Users\ceo\report.docx", disposition=1, eof=len(report))
    s.read(fid, 0, report[:4000])
    s.read(fid, 4000, report[4000:])
    s.close(fid)
    part = s.create(r"Users\ceo\big.db", disposition=1, eof=100000)
    s.read(part, 0, b"x" * 3000)  # read partly: must not be carved
    s.close(part)
    s.tree(r"\\fs1\IPC$", share_type=2)
    pipe = s.create("svcctl", disposition=1)
    s.write(pipe, 0, synth.svcctl_create_service("updsvc", r"C:\Windows\Temp\evil.exe"))
    s.close(pipe)
    turns = s.turns
    if port == 139:
        turns = [(True, b"\x81\x00\x00\x44" + b"\x20" + b"A" * 32 + b"\x00" + b"\x20" + b"B" * 32 + b"\x00"),
                 (False, b"\x82\x00\x00\x00")] + turns
    return synth.tcp_exchange("10.1.1.50", "10.1.1.10", 50123, port, T0, turns, mss=1000), report


def write_capture(tmp_path, packets, name="smb.pcap") -> Path:
    p = tmp_path / name
    with open(p, "wb") as f:
        synth.write_pcap(f, packets)
    return p


@pytest.mark.parametrize("port", [445, 139])
def test_synthetic_lateral_movement(tmp_path, port):
    packets, report = lateral_movement(port)
    recs = ingest(write_capture(tmp_path, packets))
    assert not [r for r in recs if isinstance(r, IngestError)]
    (logon,) = smb(recs, "session_setup")
    assert logon.user == "CORP\\mallory" and logon.attributes["workstation"] == "WS-7"
    assert logon.src_ip == "10.1.1.50" and logon.dst_port == port
    files = carved(recs)
    assert files["evil.exe"].data == PAYLOAD and files["report.docx"].data == report
    assert "big.db" not in files
    closes = {e.attributes["file_name"]: e for e in smb(recs, "close")}
    assert closes[r"Windows\Temp\evil.exe"].bytes_out == len(PAYLOAD)
    assert closes[r"Users\ceo\report.docx"].bytes_in == len(report)
    assert closes[r"Users\ceo\big.db"].bytes_in == 3000 and closes[r"Users\ceo\big.db"].file_sha256 is None
    assert all(e.user == "CORP\\mallory" for e in smb(recs) if e.attributes["command"] != "session_setup")
    (write,) = detections(recs, "smb_admin_share_write")
    assert write.file_path == r"\\fs1\C$\Windows\Temp\evil.exe" and write.user == "CORP\\mallory"
    (svc,) = detections(recs, "smb_remote_service_creation")
    assert svc.attributes["service_name"] == "updsvc" and svc.attributes["psexec_pattern"]
    assert svc.file_sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    # locators point at the packet where each message starts
    frames = {i + 1: fr for i, (_, fr) in enumerate(packets)}
    n = int(logon.locator.split(";")[0].split("=")[1])
    assert b"NTLMSSP" in frames[n] or b"\xfeSMB" in frames[n]


def test_capture_starting_mid_connection_resynchronises(tmp_path):
    packets, report = lateral_movement()
    # drop the handshake and the first 9 segments: the stream starts inside a message
    packets = packets[12:]
    recs = ingest(write_capture(tmp_path, packets))
    assert not [r for r in recs if isinstance(r, IngestError)]
    assert carved(recs)["report.docx"].data == report


def test_failed_logon_and_damaged_message(tmp_path):
    s = synth.Smb2Script()
    s.negotiate()
    s.logon("admin", "CORP", "KALI", status=0xC000006D)
    s.turns.append((True, synth.nbss(b"\xfeSMB" + b"\x00" * 10)))  # too short to be a header
    s.turns.append((True, b"\x00\x00\x00\x50" + b"\xfeSMB" + b"\xff" * 60 + b"\x00" * 16))  # nonsense fields
    s.logon("admin", "CORP", "KALI", status=0)
    recs = ingest(write_capture(tmp_path, synth.tcp_exchange("10.9.9.9", "10.1.1.10", 40000, 445, T0, s.turns)))
    logons = smb(recs, "session_setup")
    assert [e.attributes["success"] for e in logons] == [False, True]
    assert "STATUS_LOGON_FAILURE" in logons[0].message and "failed" in logons[0].tags


@pytest.mark.corpus
def test_psexec_kerberos_logons_match_tshark(psexec):
    """Kerberos hides the client principal; the ticket's realm and service name are read like Wireshark does."""
    path, recs = psexec
    ws = tshark_rows(path, "smb2.cmd==1 && smb2.flags.response==0 && kerberos.realm", "frame.number",
                     "kerberos.realm", "kerberos.SNameString")
    logons = smb(recs, "session_setup")
    assert len(logons) == len(ws) and all(e.attributes["mechanism"] == "Kerberos" and e.attributes["success"]
                                          for e in logons)
    for e, (_frame, realm, sname) in zip(logons, ws):
        assert e.attributes["realm"] == realm and e.attributes["service_principal"] == sname.replace(",", "/")


def test_carve_budget(tmp_path):
    """Files over the carve limit are counted, not kept; the connection's budget returns when a handle closes."""
    packets, _report = lateral_movement()
    p = write_capture(tmp_path, packets)
    ctx = IngestContext(path=p, evidence_sha256="0" * 64, evidence_type="pcap", display_name=p.name,
                        options={"pcap": {"carving": {"max_file_bytes": 6000}}})
    recs = list(PcapIngestor().ingest(ctx))
    closes = {e.attributes["file_name"]: e for e in smb(recs, "close")}
    evil = closes[r"Windows\Temp\evil.exe"]
    assert evil.bytes_out == len(PAYLOAD) and evil.attributes["too_big_to_carve"] and evil.file_sha256 is None
    assert "evil.exe" not in carved(recs) and "report.docx" in carved(recs)  # the budget came back after the close
