"""SMTP in the PCAP ingestor: envelopes, AUTH, messages and attachments carved (synthetic captures, tshark as reference)."""
from __future__ import annotations

import base64
import hashlib
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from forensics.events import CarvedFile, Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from forensics.net import synth
from tests.conftest import need_tool

T0 = 1_700_000_000_000_000
INVOICE = bytes(range(256)) * 37 + b"PK\x05\x06"  # binary: must survive base64 exactly
NOTES = "Q3 numbers\n.hidden line that starts with a dot\nend\n"


def message(subject="Invoice 4711") -> bytes:
    m = EmailMessage()
    m["From"] = "Alice <alice@corp.example>"
    m["To"] = "bob@partner.example, carol@partner.example"
    m["Subject"] = subject
    m["Message-ID"] = "<msg-1@corp.example>"
    m.set_content("Please find attached.\n.\n..and a line of dots\n")
    m.add_attachment(INVOICE, maintype="application", subtype="zip", filename="invoice.zip")
    m.add_attachment(NOTES, filename="notes.txt")
    return bytes(m).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dot_stuff(raw: bytes) -> bytes:
    return b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in raw.split(b"\r\n"))


def conversation(raw: bytes, pipelined=False, auth=True, data_reply=b"354 go ahead\r\n",
                 final=b"250 2.0.0 Ok: queued as 4B2C1\r\n") -> list[tuple[bool, bytes]]:
    t = [(False, b"220 mx.partner.example ESMTP Postfix\r\n"), (True, b"EHLO ws-17.corp.example\r\n"),
         (False, b"250-mx.partner.example\r\n250-PIPELINING\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n")]
    if auth:
        t += [(True, b"AUTH LOGIN\r\n"), (False, b"334 VXNlcm5hbWU6\r\n"),
              (True, base64.b64encode(b"alice@corp.example") + b"\r\n"), (False, b"334 UGFzc3dvcmQ6\r\n"),
              (True, base64.b64encode(b"s3cret!") + b"\r\n"), (False, b"235 2.7.0 Authentication successful\r\n")]
    env = [b"MAIL FROM:<alice@corp.example> SIZE=%d\r\n" % len(raw), b"RCPT TO:<bob@partner.example>\r\n",
           b"RCPT TO:<carol@partner.example>\r\n", b"DATA\r\n"]
    if pipelined:
        t += [(True, b"".join(env)), (False, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" + data_reply)]
    else:
        for cmd, rep in zip(env, [b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n", b"250 2.1.5 Ok\r\n", data_reply]):
            t += [(True, cmd), (False, rep)]
    if data_reply.startswith(b"354"):
        t += [(True, dot_stuff(raw) + (b"" if raw.endswith(b"\r\n") else b"\r\n") + b".\r\n"), (False, final)]
    t += [(True, b"QUIT\r\n"), (False, b"221 2.0.0 Bye\r\n")]
    return t


def capture(tmp_path, turns, name="smtp.pcap", port=25, mss=536) -> Path:
    p = tmp_path / name
    with open(p, "wb") as f:
        synth.write_pcap(f, synth.tcp_exchange("10.2.0.17", "203.0.113.25", 51000, port, T0, turns, mss=mss))
    return p


def ingest(path: Path) -> list:
    ctx = IngestContext(path=path, evidence_sha256="0" * 64, evidence_type="pcap", display_name=path.name)
    return list(PcapIngestor().ingest(ctx))


def smtp(recs, command=None) -> list[Event]:
    return [r for r in recs if isinstance(r, Event) and r.data_type == "network:smtp"
            and (command is None or r.attributes.get("command") == command)]


def carved(recs) -> dict[str, bytes]:
    return {c.name: c.data for c in recs if isinstance(c, CarvedFile)}


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("port", [25, 587])
def test_message_attachments_and_envelope(tmp_path, pipelined, port):
    raw = message()
    recs = ingest(capture(tmp_path, conversation(raw, pipelined=pipelined), port=port))
    assert not [r for r in recs if isinstance(r, IngestError)]
    (mail,) = smtp(recs, "data")
    a = mail.attributes
    assert a["mail_from"] == "alice@corp.example"
    assert a["rcpt_to"] == ["bob@partner.example", "carol@partner.example"]
    assert a["subject"] == "Invoice 4711" and a["helo"] == "ws-17.corp.example"
    assert a["accepted"] and a["reply_code"] == 250 and mail.user == "alice@corp.example"
    assert (mail.src_ip, mail.dst_ip, mail.dst_port) == ("10.2.0.17", "203.0.113.25", port)
    files = carved(recs)
    assert files["invoice.zip"] == INVOICE
    assert files["notes.txt"].decode().replace("\r\n", "\n") == NOTES
    assert files["msg-1@corp.example.eml"] == raw  # dot-unstuffed back to the original bytes
    atts = {e.file_path: e for e in smtp(recs, "attachment")}
    assert atts["invoice.zip"].file_sha256 == hashlib.sha256(INVOICE).hexdigest()
    assert [x["name"] for x in a["attachments"]] == ["invoice.zip", "notes.txt"]
    (auth,) = smtp(recs, "auth")
    assert auth.attributes["success"] and auth.user == "alice@corp.example"
    assert "s3cret" not in repr(recs)  # passwords are never kept


def test_message_matches_tshark_imf_export(tmp_path):
    """Wireshark's IMF export of the same capture is an independent reassembly of the message."""
    raw = message()
    path = capture(tmp_path, conversation(raw), mss=100)
    out = tmp_path / "imf"
    out.mkdir()
    subprocess.run([need_tool("tshark"), "-n", "-r", str(path), "-q", "--export-objects", f"imf,{out}"],
                   capture_output=True, timeout=120, check=True)
    (theirs,) = list(out.iterdir())
    ours = carved(ingest(path))["msg-1@corp.example.eml"]
    tb = theirs.read_bytes()
    # Wireshark exports the DATA section as sent (still dot-stuffed); ours is the message itself
    assert ours != tb and dot_stuff(ours) == tb


def test_refused_data_starttls_and_cut_message(tmp_path):
    raw = message()
    recs = ingest(capture(tmp_path, conversation(raw, auth=False, data_reply=b"554 5.7.1 rejected\r\n"), "refused.pcap"))
    assert not smtp(recs, "data") and not carved(recs)
    tls = [(False, b"220 mx ESMTP\r\n"), (True, b"EHLO a\r\n"), (False, b"250 STARTTLS\r\n"),
           (True, b"STARTTLS\r\n"), (False, b"220 2.0.0 Ready to start TLS\r\n"),
           (True, b"\x16\x03\x01\x00\x05hello"), (False, b"\x16\x03\x03\x00\x02ok")]
    recs = ingest(capture(tmp_path, tls, "tls.pcap"))
    assert [e.attributes["command"] for e in smtp(recs)] == ["starttls"]
    # the connection ends inside DATA: the envelope is reported, nothing is carved as whole
    turns = conversation(raw, auth=False)
    cut = [t for t in turns if not t[1].startswith((b"250 2.0.0", b"QUIT", b"221"))]
    cut[-1] = (True, cut[-1][1][:len(cut[-1][1]) // 2])
    recs = ingest(capture(tmp_path, cut, "cut.pcap"))
    (mail,) = smtp(recs, "data")
    assert mail.attributes["accepted"] is None and 0 < mail.attributes["size"] < len(raw)


def test_bdat_and_auth_plain_failure(tmp_path):
    raw = message("chunked")
    half = len(raw) // 2
    turns = [(False, b"220 mx ESMTP\r\n"), (True, b"EHLO a\r\n"), (False, b"250 CHUNKING\r\n"),
             (True, b"AUTH PLAIN " + base64.b64encode(b"\x00mallory\x00guess") + b"\r\n"),
             (False, b"535 5.7.8 Authentication failed\r\n"),
             (True, b"MAIL FROM:<m@x.example>\r\n"), (False, b"250 ok\r\n"),
             (True, b"RCPT TO:<v@y.example>\r\n"), (False, b"250 ok\r\n"),
             (True, b"BDAT %d\r\n" % half + raw[:half]), (False, b"250 ok\r\n"),
             (True, b"BDAT %d LAST\r\n" % (len(raw) - half) + raw[half:]), (False, b"250 queued\r\n")]
    recs = ingest(capture(tmp_path, turns, "bdat.pcap"))
    (auth,) = smtp(recs, "auth")
    assert not auth.attributes["success"] and auth.attributes["user"] == "mallory" and "failed" in auth.tags
    assert carved(recs)["invoice.zip"] == INVOICE
    assert "guess" not in repr(recs)
