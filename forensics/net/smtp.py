"""SMTP sessions: envelope (MAIL FROM, RCPT TO), AUTH account, messages and their attachments.

Client commands are paired with the server's replies in order (this also
holds when the client pipelines), so each message is reported with the
server's verdict on it. The DATA section is dot-unstuffed and parsed with the
standard library's MIME parser; attachments are decoded (base64,
quoted-printable) and carved, as is the whole message (.eml). After STARTTLS
the rest of the session is encrypted and is only counted in the flow.
Passwords seen in AUTH are never kept.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import deque

from forensics.events import CarvedFile
from forensics.net.sessions import Session, base_event

SMTP_PORTS = (25, 587, 2525, 26)
MAX_LINE = 8192  # RFC 5321 says 512 for commands; be generous, but bounded
MAX_QUEUE = 1024
MAX_ATTACHMENTS = 256
_ADDR = re.compile(r"<([^>]*)>|(\S+)")
_SAFE = re.compile(r"[^\w.@+-]+")
_COMMANDS = (b"EHLO", b"HELO", b"MAIL", b"RCPT", b"DATA", b"QUIT", b"RSET", b"NOOP", b"AUTH", b"STARTTLS", b"BDAT",
             b"VRFY", b"EXPN")


def _addr(arg: str) -> str:
    m = _ADDR.search(arg)
    return (m.group(1) if m and m.group(1) is not None else (m.group(2) if m else "")).strip()


def _b64(s: str) -> str | None:
    try:
        return base64.b64decode(s.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _safe_name(name: str, fallback: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())[:128]
    return name if name and name not in (".", "..") else fallback


class Mail:
    """One transaction: envelope, where it started, and the DATA bytes (kept up to the carve limit)."""

    def __init__(self, mail_from: str, where):
        self.mail_from = mail_from
        self.rcpts: list[str] = []
        self.where = where
        self.data = bytearray()
        self.size = 0
        self.bdat = False  # BDAT chunks are sent as is: no dot-stuffing to undo
        self.too_big = False
        self.complete = False


class SmtpSession(Session):
    def __init__(self, flow, carve_limit: int):
        self.flow = flow
        self.carve_limit = carve_limit
        self.client_fwd = not (flow.ap in SMTP_PORTS and flow.bp not in SMTP_PORTS)
        self.cbuf = bytearray()
        self.sbuf = bytearray()
        self.mode = "cmd"  # cmd | wait354 | data | bdat | auth
        self.expect: deque = deque([("CONNECT", None)])  # commands awaiting the server's reply, in order
        self.helo = None
        self.auth_user = None
        self.auth_mech = None
        self.auth_step: list[str] = []  # what the next client lines of an AUTH exchange are
        self.mail: Mail | None = None
        self.bdat_left = 0
        self.bdat_last = False
        self.scanned = 0
        self.n = 0
        self.starttls = False
        self.where = None
        self.auth_where = None
        self.data_started = False

    # -- bytes in ---------------------------------------------------------------
    def data(self, fwd, data, ts, frame, off, out):
        if fwd == self.client_fwd:
            self.cbuf += data
            self.where = (ts, frame, off)
            self._client(out)
        else:
            self.sbuf += data
            self._server(ts, frame, off, out)
            if self.active:
                self._client(out)  # a reply may have unblocked the client (354 after DATA)
        if len(self.sbuf) > MAX_LINE:
            self.sbuf.clear()

    def _client(self, out) -> None:
        for _ in range(100000):  # every turn consumes input or returns
            if self.mode == "data":
                if not self._data_bytes(out):
                    return
                continue
            if self.mode == "bdat":
                take = min(self.bdat_left, len(self.cbuf))
                self._keep(self.cbuf[:take])
                del self.cbuf[:take]
                self.bdat_left -= take
                if self.bdat_left:
                    return
                self.mode = "cmd"
                if self.bdat_last:
                    self._end_of_data(out)
                continue
            if self.mode == "wait354":
                return
            nl = self.cbuf.find(b"\n")
            if nl < 0:
                if len(self.cbuf) > MAX_LINE:
                    self.cbuf.clear()
                return
            line = bytes(self.cbuf[:nl]).rstrip(b"\r").decode("utf-8", "replace")
            del self.cbuf[:nl + 1]
            self._command(line, out)
            if not self.active:
                return

    def _command(self, line: str, out) -> None:
        if self.auth_step:
            step = self.auth_step.pop(0)
            if step == "user":
                self.auth_user = _b64(line) or self.auth_user
            elif step == "plain":
                self._auth_plain(line)
            if line.strip() == "*":  # the client cancelled
                self.auth_step = []
            self._expect("AUTH-CONT", None)
            return
        verb, _, arg = line.partition(" ")
        v = verb.upper()
        if v in ("EHLO", "HELO"):
            self.helo = arg.strip() or None
        elif v == "MAIL" and arg.upper().startswith("FROM:"):
            self.mail = Mail(_addr(arg[5:]), self.where)
        elif v == "RCPT" and arg.upper().startswith("TO:") and self.mail is not None:
            if len(self.mail.rcpts) < 1000:
                self.mail.rcpts.append(_addr(arg[3:]))
        elif v == "DATA":
            self.mode = "wait354"
            self.scanned = 0
            self.data_started = False
        elif v == "BDAT":
            parts = arg.split()
            if parts and parts[0].isdigit():
                self.bdat_left = int(parts[0])
                self.bdat_last = len(parts) > 1 and parts[1].upper() == "LAST"
                self.mode = "bdat"
                if self.mail is None:
                    self.mail = Mail("", self.where)
                self.mail.bdat = True
        elif v == "AUTH":
            mech, _, initial = arg.strip().partition(" ")
            self.auth_mech = mech.upper()
            if self.auth_mech == "PLAIN":
                if initial:
                    self._auth_plain(initial)
                else:
                    self.auth_step = ["plain"]
            elif self.auth_mech == "LOGIN":
                if initial:
                    self.auth_user = _b64(initial)
                    self.auth_step = ["password"]
                else:
                    self.auth_step = ["user", "password"]
            self.auth_where = self.where
            self._expect("AUTH", self.where)
            return
        elif v == "RSET":
            self.mail = None
        self._expect(v if v in {c.decode() for c in _COMMANDS} else "OTHER", self.where)

    def _auth_plain(self, b64: str) -> None:
        text = _b64(b64)
        if text is not None:
            parts = text.split("\x00")
            if len(parts) >= 2:
                self.auth_user = parts[1] or parts[0]  # authcid; the password (parts[2]) is dropped

    def _expect(self, what: str, where) -> None:
        if len(self.expect) < MAX_QUEUE:
            self.expect.append((what, where))

    def _data_bytes(self, out) -> bool:
        """DATA mode: keep bytes until CRLF.CRLF; True when the message ended and commands follow."""
        buf = self.cbuf
        if not self.data_started and buf[:3] == b".\r\n":  # an empty message
            del buf[:3]
            self._end_of_data(out)
            return True
        if not buf:
            return False
        self.data_started = True
        i = buf.find(b"\r\n.\r\n", max(0, self.scanned - 4))
        if i < 0:
            keep = max(0, len(buf) - 4)  # the terminator may straddle this chunk and the next
            self._keep(buf[:keep])
            del buf[:keep]
            self.scanned = len(buf)
            return False
        self._keep(buf[:i + 2])
        del buf[:i + 5]
        self._end_of_data(out)
        return True

    def _keep(self, chunk) -> None:
        m = self.mail
        if m is None:
            return
        m.size += len(chunk)
        if not m.too_big:
            if m.size > self.carve_limit:
                m.too_big = True
                m.data = bytearray()
            else:
                m.data += chunk

    def _end_of_data(self, out) -> None:
        self.mode = "cmd"
        self.scanned = 0
        if self.mail is not None:
            self.mail.complete = True
            self._expect("END-DATA", self.mail)
            self.mail = None

    def _server(self, ts, frame, off, out) -> None:
        for _ in range(10000):
            nl = self.sbuf.find(b"\n")
            if nl < 0:
                return
            line = bytes(self.sbuf[:nl]).rstrip(b"\r").decode("utf-8", "replace")
            del self.sbuf[:nl + 1]
            if len(line) >= 4 and line[3] == "-":
                continue  # a continuation line of a multi-line reply
            code = int(line[:3]) if line[:3].isdigit() else 0
            what, ctx = self.expect.popleft() if self.expect else ("OTHER", None)
            self._reply(what, ctx, code, line, (ts, frame, off), out)
            if not self.active:
                return

    def _reply(self, what, ctx, code, line, where, out) -> None:
        if what == "DATA":
            if code == 354:
                self.mode = "data"
            else:  # refused: the client will not send the message
                self.mode = "cmd"
                self.mail = None
        elif what == "END-DATA":
            self._message(ctx, code, line, out)
        elif what in ("AUTH", "AUTH-CONT") and code in (235, 535, 534, 454, 500, 501, 504):
            self.auth_step = []
            ok = code == 235
            ev = self._event(self.auth_where or where, f"SMTP AUTH {self.auth_mech} as {self.auth_user or '?'}: "
                                           f"{'accepted' if ok else 'rejected'} ({code})", "auth")
            ev.user = self.auth_user
            ev.tags = ["logon"] if ok else ["logon", "failed"]
            ev.attributes = {"command": "auth", "mechanism": self.auth_mech, "user": self.auth_user,
                             "success": ok, "reply": line[:200], "helo": self.helo}
            out.append(ev)
            if not ok:
                self.auth_user = None
        elif what == "STARTTLS" and code == 220:
            self.starttls = True
            self.active = False  # TLS from here on
            ev = self._event(ctx or where, "SMTP STARTTLS: the rest of the session is encrypted", "starttls")
            ev.attributes = {"command": "starttls", "helo": self.helo}
            out.append(ev)

    # -- events -----------------------------------------------------------------
    def _event(self, where, message: str, kind: str):
        ts, frame, off = where
        self.n += 1
        ev = base_event(self.flow, True, ts, frame, off, "network:smtp", message, f"smtp-{kind}-{self.n}")
        if not self.client_fwd:
            ev.src_ip, ev.dst_ip, ev.src_port, ev.dst_port = ev.dst_ip, ev.src_ip, ev.dst_port, ev.src_port
        return ev

    def _message(self, m: Mail, code: int, reply: str | None, out) -> None:
        where = m.where or self.where
        raw = bytes(m.data) if not m.too_big else None
        body = None
        if raw is not None and m.bdat:
            body = raw
        elif raw is not None:  # dot-unstuffing (RFC 5321 4.5.2)
            body = raw.replace(b"\r\n..", b"\r\n.")
            if body.startswith(b".."):
                body = body[1:]
        attrs = {"command": "data", "helo": self.helo, "mail_from": m.mail_from, "rcpt_to": m.rcpts,
                 "size": m.size, "reply_code": code or None, "reply": (reply or "")[:200] or None,
                 "accepted": 200 <= code < 300 if code else None, "auth_user": self.auth_user,
                 "too_big_to_carve": m.too_big}
        parts: list[tuple[str, str, bytes]] = []
        if body is not None:
            import email.policy  # noqa: PLC0415 - only captures that carry mail pay for the MIME machinery

            try:
                msg = email.message_from_bytes(body, policy=email.policy.default)
                for h in ("subject", "from", "to", "cc", "date", "message-id"):
                    v = msg.get(h)
                    attrs[h.replace("-", "_")] = str(v)[:1000] if v is not None else None
                parts = _attachments(msg)
            except Exception as e:  # the stdlib parser on hostile MIME: report, keep the envelope
                attrs["mime_error"] = f"{type(e).__name__}: {e}"[:200]
        n = self.n + 1
        subject = attrs.get("subject")
        eml_name = _safe_name((attrs.get("message_id") or "").strip("<> ") + ".eml", f"smtp-message-{n}.eml")
        if eml_name == ".eml":
            eml_name = f"smtp-message-{n}.eml"
        attrs["attachments"] = [{"name": nm, "content_type": ct, "size": len(d),
                                 "sha256": hashlib.sha256(d).hexdigest()} for nm, ct, d in parts]
        to = ", ".join(m.rcpts[:5]) + (f" and {len(m.rcpts) - 5} more" if len(m.rcpts) > 5 else "")
        verdict = f"accepted {code}" if attrs["accepted"] else (f"refused {code}" if code else "no reply")
        ev = self._event(where, f"SMTP mail from {m.mail_from or '<>'} to {to or '?'}"
                                + (f": {subject!r}" if subject else "")
                                + f" ({m.size} bytes, {len(parts)} attachment{'s' if len(parts) != 1 else ''}, {verdict})",
                         "mail")
        ev.user = self.auth_user or m.mail_from or None
        ev.bytes_out = m.size
        ev.attributes = attrs
        if body is not None:
            ev.file_path, ev.file_sha256 = eml_name, hashlib.sha256(body).hexdigest()
        out.append(ev)
        if body is not None:
            out.append(CarvedFile(name=eml_name, data=body, locator=ev.locator,
                                  note=f"SMTP message from {m.mail_from} to {to} ({ev.src_ip} -> {ev.dst_ip})"))
        for k, (name, ctype, data) in enumerate(parts, 1):
            sha = hashlib.sha256(data).hexdigest()
            a = self._event(where, f"SMTP attachment {name} ({len(data)} bytes, {ctype}) from {m.mail_from or '<>'} "
                                   f"to {to or '?'}", f"att{k}")
            a.user, a.file_path, a.file_sha256, a.bytes_out = ev.user, name, sha, len(data)
            a.attributes = {"command": "attachment", "mail_from": m.mail_from, "rcpt_to": m.rcpts,
                            "subject": subject, "content_type": ctype, "size": len(data), "message_locator": ev.locator,
                            "message_sha256": ev.file_sha256}
            out.append(a)
            out.append(CarvedFile(name=name, data=data, locator=a.locator,
                                  note=f"SMTP attachment of message from {m.mail_from} to {to}"))

    def close(self, out):
        if self.mode == "data" and self.mail is not None and self.mail.size:
            self.mail.complete = False  # the connection ended inside DATA: report what came
            self._message(self.mail, 0, "connection closed inside DATA", out)
            self.mail = None
        while self.expect:
            what, ctx = self.expect.popleft()
            if what == "END-DATA":
                self._message(ctx, 0, None, out)


def _attachments(msg) -> list[tuple[str, str, bytes]]:
    """Decoded leaf parts that are attachments (or inline parts with a file name)."""
    out: list[tuple[str, str, bytes]] = []
    for i, part in enumerate(msg.walk()):
        if len(out) >= MAX_ATTACHMENTS:
            break
        if part.is_multipart():
            continue
        name = part.get_filename()
        if part.get_content_disposition() != "attachment" and not name:
            continue
        data = part.get_payload(decode=True)
        if data is None:
            continue
        out.append((_safe_name(name or "", f"attachment-{i}.bin"), part.get_content_type(), data))
    return out


def pick(flow, fwd, payload, carve_limit, shared):
    head = payload[:16]
    on_port = flow.bp in SMTP_PORTS or flow.ap in SMTP_PORTS
    banner = not fwd and head.startswith((b"220 ", b"220-")) and (on_port or b"SMTP" in payload[:256].upper())
    hello = fwd and head[:5].upper() in (b"EHLO ", b"HELO ")
    if banner or hello or (on_port and head[:4].upper() in _COMMANDS):
        return SmtpSession(flow, carve_limit)
    return None
