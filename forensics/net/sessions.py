"""Application-layer sessions over a flow's reassembled byte streams.

`pick(flow, fwd, first_payload)` chooses a session for a flow on its first
payload (by content first, port second); each session turns bytes into events
and carved files appended to `out`.
"""
from __future__ import annotations

import re

from forensics.events import CarvedFile, Event
from forensics.net import http, tls
from forensics.net.decode import ip_str

HTTP_PORTS = {80, 8080, 8000, 8008, 8888, 3128, 81, 591}
# Log4Shell lookups, including the usual ${${lower:j}ndi:...} obfuscations
_JNDI = re.compile(r"\$\{[^\n]{0,60}?j[^\n]{0,20}?n[^\n]{0,20}?d[^\n]{0,20}?i[^\n]{0,20}?:", re.I)


def base_event(flow, fwd: bool, ts: int, frame: int, off: int, data_type: str, message: str, disc: str) -> Event:
    """An event oriented from the flow's initiator (client) to the responder."""
    return Event(timestamp=ts, data_type=data_type, message=message, locator=f"pkt={frame};off={off}",
                 src_ip=ip_str(flow.a), src_port=flow.ap, dst_ip=ip_str(flow.b), dst_port=flow.bp,
                 proto="tcp" if flow.proto == 6 else "udp", discriminator=disc)


class Session:
    active = True  # False once the session wants no more bytes (the analyzer stops reassembling)

    def data(self, fwd: bool, data: bytes, ts: int, frame: int, off: int, out: list) -> None:
        raise NotImplementedError

    def close(self, out: list) -> None:
        pass

    # Bulk feeding (forensics.net.parallel): in-order bytes a session would only keep, taken in one go.
    def capacity(self, fwd: bool) -> int:
        """How many next bytes in this direction `data` would just keep: producing nothing and
        recording nothing about the packets they came in. 0 = feed them packet by packet."""
        return 0

    def absorb(self, fwd: bool, pieces: list[tuple[bytes, int, int, int]]) -> None:
        """Take (payload, ts, frame, offset) pieces of at most `capacity(fwd)` bytes in all, exactly
        as the same `data` calls would."""
        raise NotImplementedError


class HttpSession(Session):
    def __init__(self, flow, carve_limit: int):
        self.flow = flow
        self.req = http._Direction(True, carve_limit)
        self.resp = http._Direction(False, carve_limit)
        self.pending: list[http.Message] = []  # requests awaiting their response
        self.n = 0

    def data(self, fwd, data, ts, frame, off, out):
        msgs: list[http.Message] = []
        if fwd:
            self.req.feed(data, ts, frame, off, msgs)
            for m in msgs:
                self._request(m, out)
        else:
            self.resp.feed(data, ts, frame, off, msgs)
            for m in msgs:
                self._response(m, out)

    def capacity(self, fwd):
        d = self.req if fwd else self.resp
        if d.dead or d.msg is None or d.mode != "length" or d.buf:
            return 0
        return d.left - 1  # the byte that completes the body goes through `data` (it emits the message)

    def absorb(self, fwd, pieces):
        d = self.req if fwd else self.resp
        body = b"".join(p[0] for p in pieces)
        d._keep(body)
        d.left -= len(body)

    def close(self, out):
        msgs: list[http.Message] = []
        self.req.close(msgs)
        for m in msgs:
            self._request(m, out)
        msgs = []
        self.resp.close(msgs)
        for m in msgs:
            self._response(m, out)

    def _request(self, m: http.Message, out: list) -> None:
        method, _, rest = m.first_line.partition(" ")
        uri = rest.rsplit(" ", 1)[0] if " HTTP/" in rest else rest
        host = m.headers.get("host", ip_str(self.flow.b))
        self.resp.no_body_next.append(method == "HEAD")
        self.pending.append(m)
        m.headers["_method"], m.headers["_uri"] = method, uri
        self.n += 1
        url = uri if uri.startswith("http") else f"http://{host}{uri}"
        ev = base_event(self.flow, True, m.ts, m.frame, m.off, "network:http",
                        f"HTTP {method} {url}", f"http-req-{self.n}")
        ev.url, ev.domain = url, host.split(":")[0]
        ev.attributes = {"direction": "request", "method": method, "uri": uri, "host": host,
                         "user_agent": m.headers.get("user-agent"), "body_size": m.body_len,
                         "content_type": m.headers.get("content-type"), "complete": m.complete,
                         "headers": {k: v for k, v in m.headers.items() if not k.startswith("_")}}
        ev.bytes_out = m.body_len
        self._carve(m, uri, ev, out, "upload")
        out.append(ev)
        self._exploit_check(m, uri, ev, out)

    def _exploit_check(self, m: http.Message, uri: str, req: Event, out: list) -> None:
        where = [("uri", uri)] + [(k, v) for k, v in m.headers.items() if not k.startswith("_")]
        hit = next(((k, v) for k, v in where if _JNDI.search(v)), None)
        if hit is None:
            return
        det = base_event(self.flow, True, m.ts, m.frame, m.off, "detection",
                         f"Log4Shell JNDI lookup in HTTP {hit[0]} from {req.src_ip} to {req.dst_ip}:{req.dst_port}: "
                         f"{hit[1][:120]}", f"jndi-{self.n}")
        det.url, det.domain = req.url, req.domain
        det.attack, det.tags, det.severity, det.gbt_category = ["T1190"], ["exploit", "log4shell"], "critical", "NA"
        det.attributes = {"detector": "log4shell_jndi", "field": hit[0], "value": hit[1], "request_locator": req.locator}
        out.append(det)

    def _response(self, m: http.Message, out: list) -> None:
        req = self.pending.pop(0) if self.pending else None
        uri = req.headers.get("_uri", "") if req else ""
        host = req.headers.get("host", ip_str(self.flow.b)) if req else ip_str(self.flow.b)
        parts = m.first_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        self.n += 1
        url = f"http://{host}{uri}" if uri and not uri.startswith("http") else uri or None
        ev = base_event(self.flow, False, m.ts, m.frame, m.off, "network:http",
                        f"HTTP {status} for {url or '?'} ({m.body_len} bytes)", f"http-resp-{self.n}")
        ev.url, ev.domain = url, host.split(":")[0]
        ev.bytes_in = m.body_len
        ev.attributes = {"direction": "response", "status": status, "body_size": m.body_len,
                         "content_type": m.headers.get("content-type"), "server": m.headers.get("server"),
                         "request_method": req.headers.get("_method") if req else None, "uri": uri,
                         "complete": m.complete}
        self._carve(m, uri, ev, out, "download")
        out.append(ev)

    def _carve(self, m: http.Message, uri: str, ev: Event, out: list, what: str) -> None:
        if not m.complete or not m.body_len:
            return
        body = http.decoded_body(m)
        if not body:
            return
        name = http.body_filename(uri, m, m.frame)
        ev.file_path, ev.file_sha256 = name, http.sha256(body)
        ev.attributes["carved_size"] = len(body)
        out.append(CarvedFile(name=name, data=body, locator=ev.locator,
                              note=f"HTTP {what} body, {ev.url or uri}"))


class TlsSession(Session):
    """Waits for the client's first flight (bounded) and reports its ClientHello."""

    LIMIT = 64 * 1024

    def __init__(self, flow):
        self.flow = flow
        self.buf = bytearray()
        self.first: tuple[int, int, int] | None = None
        self.done = False

    def data(self, fwd, data, ts, frame, off, out):
        if self.done or not fwd:
            return
        if self.first is None:
            self.first = (ts, frame, off)
        self.buf += data
        hello = tls.client_hello(bytes(self.buf))
        if hello is not None:
            self._emit(hello, out)
        elif len(self.buf) > self.LIMIT or (self.buf and self.buf[0] != 0x16):
            self.done = True
            self.active = False

    def _emit(self, hello: dict, out: list) -> None:
        self.done = True
        self.active = False
        ts, frame, off = self.first
        sni = hello["sni"]
        ev = base_event(self.flow, True, ts, frame, off, "network:tls",
                        f"TLS ClientHello {hello['version']} SNI {sni or '-'} JA3 {hello['ja3_md5']}", "tls-hello")
        ev.domain = sni
        ev.attributes = hello
        out.append(ev)
        self.buf = bytearray()


def pick(flow, fwd: bool, payload: bytes, carve_limit: int, shared: dict) -> Session | None:
    """Choose the application session for a TCP flow from its first payload."""
    from forensics.net import aim, smb, smtp  # noqa: PLC0415 - keep the hot import list short

    if http.looks_like_request(payload) or (not fwd and payload.startswith(b"HTTP/")):
        return HttpSession(flow, carve_limit)
    if tls.looks_like_handshake(payload) and fwd:
        return TlsSession(flow)
    s = aim.pick(flow, fwd, payload, carve_limit, shared)
    if s is not None:
        return s
    s = smb.pick(flow, fwd, payload, carve_limit, shared)
    if s is not None:
        return s
    s = smtp.pick(flow, fwd, payload, carve_limit, shared)
    if s is not None:
        return s
    if flow.bp in HTTP_PORTS and fwd:
        return HttpSession(flow, carve_limit)
    return None
