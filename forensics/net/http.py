"""HTTP/1.x over a reassembled TCP connection: requests, responses, bodies.

Each direction is a small state machine (headers -> body by Content-Length,
chunked, or until close). Bodies are kept only up to the carve limit; what is
kept whole is handed back as a carved file (decoded from gzip/deflate the way
a browser would save it).
"""
from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass, field

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ",
           b"PROPFIND ")
MAX_HEADER = 64 * 1024
_FNAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.I)


def looks_like_request(data: bytes) -> bool:
    return data.startswith(METHODS)


@dataclass
class Message:
    first_line: str
    headers: dict[str, str]
    frame: int
    off: int
    ts: int
    body_len: int = 0
    body: bytearray | None = field(default_factory=bytearray)
    complete: bool = False


class _Direction:
    """Parses one direction's byte stream into Messages."""

    def __init__(self, is_request: bool, carve_limit: int):
        self.is_request = is_request
        self.carve_limit = carve_limit
        self.buf = bytearray()
        self.msg: Message | None = None
        self.mode = ""  # "length" | "chunked" | "close" | ""
        self.left = 0
        self.chunk_state = 0  # 0 = size line, 1 = data, 2 = CRLF after data, 3 = trailers
        self.dead = False
        self.no_body_next: list[bool] = []  # responses to HEAD / 1xx / 204 / 304 carry no body

    def feed(self, data: bytes, ts: int, frame: int, off: int, out: list[Message]) -> None:
        if self.dead:
            return
        self.buf += data
        for _ in range(10000):  # bounded: each turn consumes input or returns
            if self.msg is None:
                if not self.buf:
                    return
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEADER:
                        self.dead = True
                    return
                head = bytes(self.buf[:end]).decode("latin-1")
                del self.buf[:end + 4]
                lines = head.split("\r\n")
                first = lines[0]
                ok = first.startswith("HTTP/") if not self.is_request else looks_like_request(first.encode("latin-1") + b" ")
                if not ok:
                    self.dead = True
                    return
                headers: dict[str, str] = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    headers.setdefault(k.strip().lower(), v.strip())
                self.msg = Message(first, headers, frame, off, ts)
                self._body_mode(first, headers)
                if self.mode == "":
                    self._finish(out)
                continue
            if not self.buf:
                return
            if self.mode == "length":
                take = min(self.left, len(self.buf))
                self._keep(self.buf[:take])
                del self.buf[:take]
                self.left -= take
                if self.left == 0:
                    self._finish(out)
                continue
            if self.mode == "close":
                self._keep(self.buf)
                self.buf.clear()
                return
            if self.mode == "chunked":
                if not self._chunked(out):
                    return
                continue
            return

    def _body_mode(self, first: str, headers: dict[str, str]) -> None:
        self.mode, self.left = "", 0
        if not self.is_request:
            parts = first.split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            no_body = self.no_body_next.pop(0) if self.no_body_next else False
            if no_body or 100 <= status < 200 or status in (204, 304):
                return
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.mode, self.chunk_state = "chunked", 0
            return
        cl = headers.get("content-length", "")
        if cl.isdigit():
            if int(cl) > 0:
                self.mode, self.left = "length", int(cl)
            return
        if not self.is_request:
            self.mode = "close"

    def _chunked(self, out: list[Message]) -> bool:
        if self.chunk_state == 0:
            nl = self.buf.find(b"\r\n")
            if nl < 0:
                if len(self.buf) > 1024:
                    self.dead = True
                return False
            size_txt = bytes(self.buf[:nl]).split(b";")[0].strip()
            del self.buf[:nl + 2]
            try:
                self.left = int(size_txt, 16)
            except ValueError:
                self.dead = True
                return False
            self.chunk_state = 1 if self.left else 3
            return True
        if self.chunk_state == 1:
            take = min(self.left, len(self.buf))
            self._keep(self.buf[:take])
            del self.buf[:take]
            self.left -= take
            if self.left:
                return False
            self.chunk_state = 2
            return True
        if self.chunk_state == 2:
            if len(self.buf) < 2:
                return False
            del self.buf[:2]
            self.chunk_state = 0
            return True
        nl = self.buf.find(b"\r\n")  # trailers end with an empty line
        if nl < 0:
            return False
        del self.buf[:nl + 2]
        if nl == 0:
            self._finish(out)
        return True

    def _keep(self, chunk) -> None:
        m = self.msg
        m.body_len += len(chunk)
        if m.body is not None:
            if m.body_len > self.carve_limit:
                m.body = None  # too big to carve; keep counting
            else:
                m.body += chunk

    def _finish(self, out: list[Message]) -> None:
        self.msg.complete = True
        out.append(self.msg)
        self.msg = None
        self.mode = ""

    def close(self, out: list[Message]) -> None:
        if self.msg is not None:
            # a body delimited by the connection close is complete now
            self.msg.complete = self.mode == "close"
            out.append(self.msg)
            self.msg = None


def decoded_body(msg: Message) -> bytes | None:
    if msg.body is None:
        return None
    body = bytes(msg.body)
    enc = msg.headers.get("content-encoding", "").lower()
    try:
        if enc in ("gzip", "x-gzip"):
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return d.decompress(body, 1 << 28)
        if enc == "deflate":
            try:
                return zlib.decompressobj().decompress(body, 1 << 28)
            except zlib.error:
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, 1 << 28)
    except zlib.error:
        return body
    return body


def body_filename(uri: str, msg: Message, frame: int) -> str:
    m = _FNAME.search(msg.headers.get("content-disposition", ""))
    if m:
        return m.group(1).strip().replace("/", "_").replace("\\", "_")[:128]
    path = uri.split("?", 1)[0].rsplit("/", 1)[-1]
    return (path[:128] if path else f"http-body-{frame}.bin")


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()
