"""AOL Instant Messenger: OSCAR (FLAP/SNAC) messages and OFT2 file transfers.

OSCAR runs over TCP 5190 or 443 without TLS: FLAP frames (0x2a, channel,
sequence, length) carry SNACs; family 4 (ICBM) subtype 6 is a message sent
by this client, subtype 7 one received. A channel-2 ICBM proposes a file
transfer; its cookie reappears in the OFT2 header of the direct connection
that carries the file, which ties the file to the IM account.
"""
from __future__ import annotations

import hashlib
import html
import re
import struct

from forensics.events import CarvedFile
from forensics.net.sessions import Session, base_event

MAX_BUF = 1 << 20
_TAGS = re.compile(r"<[^>]*>")


def _tlvs(b: bytes, p: int, end: int, limit: int = 256):
    n = 0
    while p + 4 <= end and n < limit:
        t, ln = struct.unpack_from("!HH", b, p)
        yield t, b[p + 4:p + 4 + ln]
        p += 4 + ln
        n += 1


def _message_text(tlv2: bytes) -> str:
    """ICBM channel-1 message block: fragments 0x05 (caps) and 0x01 (text)."""
    p, parts = 0, []
    while p + 4 <= len(tlv2):
        fid, _ver, ln = tlv2[p], tlv2[p + 1], struct.unpack_from("!H", tlv2, p + 2)[0]
        frag = tlv2[p + 4:p + 4 + ln]
        if fid == 1 and len(frag) >= 4:
            charset = struct.unpack_from("!H", frag, 0)[0]
            raw = frag[4:]
            parts.append(raw.decode("utf-16-be", "replace") if charset == 2 else raw.decode("latin-1"))
        p += 4 + ln
    return html.unescape(_TAGS.sub("", "".join(parts))).strip()


class OscarSession(Session):
    def __init__(self, flow, shared: dict):
        self.flow = flow
        self.shared = shared
        self.buf = {True: bytearray(), False: bytearray()}
        self.dead = False
        self.n = 0

    def data(self, fwd, data, ts, frame, off, out):
        if self.dead:
            return
        buf = self.buf[fwd]
        buf += data
        for _ in range(10000):
            if len(buf) < 6:
                return
            if buf[0] != 0x2A:
                self.dead = True
                return
            ln = struct.unpack_from("!H", buf, 4)[0]
            if len(buf) < 6 + ln:
                if len(buf) > MAX_BUF:
                    self.dead = True
                return
            chan = buf[1]
            body = bytes(buf[6:6 + ln])
            del buf[:6 + ln]
            if chan == 2 and len(body) >= 10:
                self._snac(fwd, body, ts, frame, off, out)

    def _snac(self, fwd, b, ts, frame, off, out):
        fam, sub, flags = struct.unpack_from("!HHH", b, 0)
        if fam != 4 or sub not in (6, 7):
            return
        p = 10
        if flags & 0x8000 and p + 2 <= len(b):  # optional SNAC TLV block
            p += 2 + struct.unpack_from("!H", b, p)[0]
        if p + 11 > len(b):
            return
        cookie = b[p:p + 8]
        chan = struct.unpack_from("!H", b, p + 8)[0]
        sn_len = b[p + 10]
        peer = b[p + 11:p + 11 + sn_len].decode("latin-1")
        p += 11 + sn_len
        if sub == 7 and p + 4 <= len(b):  # incoming: warning level + sender's user-info TLVs
            count = struct.unpack_from("!H", b, p + 2)[0]
            p += 4
            for _ in range(min(count, 64)):
                if p + 4 > len(b):
                    return
                p += 4 + struct.unpack_from("!H", b, p + 2)[0]
        outgoing = sub == 6
        text, file_name, file_size = "", None, None
        for t, v in _tlvs(b, p, len(b)):
            if chan == 1 and t == 2:
                text = _message_text(v)
            elif chan == 2 and t == 5 and len(v) >= 26:
                for t2, v2 in _tlvs(v, 26, len(v)):
                    if t2 == 0x2711 and len(v2) >= 9:
                        file_size = struct.unpack_from("!I", v2, 4)[0]
                        file_name = v2[8:].split(b"\x00", 1)[0].decode("latin-1")
        if not text and file_name is None:
            return  # typing notifications, acknowledgements, empty rendezvous replies
        self.n += 1
        who = ("to" if outgoing else "from")
        if file_name is not None:
            msg = f"AIM file transfer offer {who} {peer}: {file_name} ({file_size} bytes)"
            register_offer(self.shared, cookie, file_name, file_size, peer)
            if self.shared.get("split"):  # other processes hold other flows: tell the parent (forensics.net.parallel)
                out.append(["aim_offer", cookie, file_name, file_size, peer])
        else:
            msg = f"AIM message {who} {peer}: {text}"
        ev = base_event(self.flow, fwd, ts, frame, off, "network:im", msg, f"aim-{self.n}")
        ev.user = peer
        ev.attributes = {"protocol": "AIM/OSCAR", "direction": "outgoing" if outgoing else "incoming",
                         "peer_screen_name": peer, "text": text or None, "icbm_channel": chan,
                         "icbm_cookie": cookie.hex(), "client_ip": ev.src_ip if fwd else ev.dst_ip}
        if file_name is not None:
            ev.file_path = file_name
            ev.attributes.update(offered_file=file_name, offered_size=file_size)
        out.append(ev)


def register_offer(shared: dict, cookie: bytes, name: str, size: int, peer: str) -> None:
    shared.setdefault("aim_cookies", {})[cookie] = peer
    # some clients leave the OFT2 cookie zero: the offered name and size identify the file too
    shared.setdefault("aim_offers", {})[(name, size)] = peer


def offer_peer(shared: dict, cookie: bytes, name: str, size: int) -> str | None:
    """The screen name an OFT2 transfer was offered to (or by), from the OSCAR offers seen so far."""
    peer = shared.get("aim_cookies", {}).get(cookie) if any(cookie) else None
    return peer or shared.get("aim_offers", {}).get((name, size))


def oft_message(name: str, size: int, peer: str | None, carved: bool) -> str:
    return (f"AIM direct file transfer: {name} ({size} bytes)" + (f" sent to {peer}" if peer else "")
            + ("" if carved else " (incomplete)"))


def with_peer(ev, peer: str | None) -> None:
    """Set the peer of an OFT2 file event (the parent of a split analysis knows it; forensics.net.parallel)."""
    a = ev.attributes
    ev.message = oft_message(a["file_name"], a["file_size"], peer, a["complete"])
    ev.user = peer
    a["peer_screen_name"] = peer


class OftSession(Session):
    """OFT2 direct file transfer: the sender's prompt header, then the file bytes."""

    def __init__(self, flow, shared: dict, carve_limit: int):
        self.flow = flow
        self.shared = shared
        self.carve_limit = carve_limit
        self.buf = {True: bytearray(), False: bytearray()}
        self.sender: bool | None = None
        self.file: dict | None = None
        self.data_buf = bytearray()
        self.got = 0
        self.done = False
        self.where = None

    def data(self, fwd, data, ts, frame, off, out):
        if self.done:
            return
        if self.file is not None and fwd == self.sender:
            self._file_bytes(data, ts, frame, off, out)
            return
        buf = self.buf[fwd]
        buf += data
        while len(buf) >= 8 and buf[:4] == b"OFT2":
            hlen = struct.unpack_from("!H", buf, 4)[0]
            if hlen < 256 or len(buf) < hlen:
                if len(buf) > MAX_BUF:
                    self.done = True
                return
            hdr = bytes(buf[:hlen])
            del buf[:hlen]
            typ = struct.unpack_from("!H", hdr, 6)[0]
            if typ == 0x0101 and self.file is None:
                name = hdr[192:256].split(b"\x00", 1)[0].decode("latin-1")
                size = struct.unpack_from("!I", hdr, 32)[0]
                cookie = hdr[8:16]
                self.sender = fwd
                peer = offer_peer(self.shared, cookie, name, size)
                self.file = {"name": name, "size": size, "cookie": cookie.hex(), "peer": peer}
                self.where = (ts, frame, off)
                if self.shared.get("split"):  # the offer may be in another process's flow: the parent looks it up
                    out.append(["aim_lookup", cookie, name, size, f"pkt={frame};off={off}"])
                if buf and fwd == self.sender:
                    rest = bytes(buf)
                    buf.clear()
                    self._file_bytes(rest, ts, frame, off, out)
                return
        if buf and buf[:4] != b"OFT2"[: len(buf[:4])]:
            buf.clear()

    def _file_bytes(self, data, ts, frame, off, out):
        need = self.file["size"] - self.got
        chunk = data[:need]
        self.got += len(chunk)
        if len(self.data_buf) + len(chunk) <= self.carve_limit:
            self.data_buf += chunk
        if self.got >= self.file["size"]:
            self._emit(out, complete=True)

    def close(self, out):
        if self.file is not None and not self.done:
            self._emit(out, complete=False)

    def _emit(self, out, complete: bool):
        self.done = True
        f = self.file
        ts, frame, off = self.where
        data = bytes(self.data_buf)
        carved = complete and len(data) == f["size"]
        sha = hashlib.sha256(data).hexdigest() if carved else None
        src_is_a = self.sender  # sender is the flow initiator when fwd
        ev = base_event(self.flow, True, ts, frame, off, "network:im",
                        oft_message(f["name"], f["size"], f["peer"], carved),
                        "oft-file")
        if not src_is_a:  # orient the event from the sender
            ev.src_ip, ev.dst_ip, ev.src_port, ev.dst_port = ev.dst_ip, ev.src_ip, ev.dst_port, ev.src_port
        ev.user = f["peer"]
        ev.file_path, ev.file_sha256 = f["name"], sha
        ev.bytes_out = self.got
        ev.attributes = {"protocol": "AIM/OFT2", "file_name": f["name"], "file_size": f["size"],
                         "bytes_seen": self.got, "complete": carved, "icbm_cookie": f["cookie"],
                         "peer_screen_name": f["peer"], "sender_ip": ev.src_ip, "receiver_ip": ev.dst_ip}
        out.append(ev)
        if carved:
            out.append(CarvedFile(name=f["name"] or "oft-file.bin", data=data, locator=ev.locator,
                                  note=f"AIM OFT2 file transfer from {ev.src_ip} to {ev.dst_ip}"))


def pick(flow, fwd, payload, carve_limit, shared):
    if payload.startswith(b"OFT2"):
        return OftSession(flow, shared, carve_limit)
    if (len(payload) >= 6 and payload[0] == 0x2A and 1 <= payload[1] <= 5
            and (flow.bp in (5190, 443) or flow.ap in (5190, 443))):
        return OscarSession(flow, shared)
    return None
