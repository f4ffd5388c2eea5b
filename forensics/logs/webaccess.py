"""Apache / Nginx access logs: NCSA common and combined, with an optional vhost
prefix (`vhost:port ip - user [...]`) and extra trailing fields (Nginx).

Requests are matched lazily up to `" status size` because real attack traffic
puts unescaped quotes inside the request line.
"""
from __future__ import annotations

import re
from urllib.parse import unquote_plus

from forensics.events import Event
from forensics.logs.common import Where, peer, to_int
from forensics.logs.timeparse import Clock, month_number, utc_us, parse_offset

_LINE = re.compile(
    r"(?:(?P<vhost>\S+:\d+) )?(?P<client>\S+) (?P<ident>\S+) (?P<user>.*?) "
    r"\[(?P<d>\d{1,2})/(?P<mon>[A-Za-z]{3})/(?P<y>\d{4}):(?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d+))? ?(?P<tz>[+-]\d{4})?\] "
    r'"(?P<request>.*?)" (?P<status>\d{3}|-) (?P<size>\d+|-)'
    r'(?: "(?P<referer>.*?)" "(?P<ua>.*?)(?:"|$))?(?P<extra>.*)$'
)
_REQ = re.compile(r"(?P<method>[A-Z_-]{1,20}) (?P<url>\S.*?)(?: (?P<proto>HTTP/\d(?:\.\d)?))?$")


_DATE = re.compile(r"(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-]\d{4})")
_DATE_CACHE: dict[str, int | None] = {}


def _date_us(text: str) -> int | None:
    """UTC microseconds of "dd/Mon/yyyy:hh:mm:ss +zzzz", cached per distinct second; None: not that layout."""
    ts = _DATE_CACHE.get(text, False)
    if ts is False:
        ts = None
        m = _DATE.fullmatch(text)
        mo = month_number(m.group(2)) if m else 0
        if mo:
            try:
                ts = utc_us(int(m.group(3)), mo, int(m.group(1)), int(m.group(4)), int(m.group(5)),
                            int(m.group(6))) - parse_offset(m.group(7))
            except ValueError:
                ts = None
        if len(_DATE_CACHE) >= 100_000:
            _DATE_CACHE.clear()
        _DATE_CACHE[text] = ts
    return ts


def _fields_fast(line: str) -> tuple | None:
    """The fields `_LINE` reads from the everyday `ip - user [date +zone] "req" 200 123 "ref" "ua"`
    line, with string operations; None whenever the regex could read it differently
    (a vhost prefix, quotes inside the request, odd spacing), so `_LINE` decides those."""
    a = line.find(" ")
    b = line.find(" ", a + 1)
    c = line.find(" ", b + 1)
    if a <= 0 or b <= a + 1 or c <= b + 1 or line[c + 1:c + 2] != "[" or line[c + 28:c + 31] != '] "':
        return None
    client, ident = line[:a], line[a + 1:b]
    if ":" in client or not (client.isprintable() and ident.isprintable()):
        return None
    ts = _date_us(line[c + 2:c + 28])
    if ts is None:
        return None
    rs = c + 31
    q = line.find('"', rs)
    if q < 0 or line[q + 1:q + 2] != " ":
        return None
    st = line[q + 2:q + 5]
    if st[:1] == "-" and line[q + 3:q + 4] == " ":
        ss = q + 4
        st = "-"
    elif line[q + 5:q + 6] == " " and st.isdigit() and st.isascii():
        ss = q + 6
    else:
        return None
    e = line.find(" ", ss)
    if e < 0:
        e = len(line)
    size = line[ss:e]
    if not (size == "-" or size.isdigit() and size.isascii()):
        return None
    rest = line[e:]
    referer = ua = None
    extra = rest
    if rest[:2] == ' "':
        j = rest.find('" "', 2)
        if j < 0:
            return None
        referer = rest[2:j]
        k = rest.find('"', j + 3)
        ua, extra = (rest[j + 3:k], rest[k + 1:]) if k >= 0 else (rest[j + 3:], "")
    return (ts, line[c + 2:c + 28], None, client, line[b + 1:c], line[rs:q], st, size, referer, ua, extra)


def _fields(line: str, clock: Clock) -> tuple | None:
    """(timestamp, time text, vhost, client, user, request, status, size, referer, ua, extra) or None."""
    f = _fields_fast(line)
    if f is not None:
        return f
    m = _LINE.match(line)
    if not m:
        return None
    mo = month_number(m.group("mon"))
    if not mo:
        return None
    frac = m.group("frac")
    us = int((frac + "00000")[:6]) if frac else 0
    try:
        parts = (int(m.group("y")), mo, int(m.group("d")), int(m.group("h")), int(m.group("mi")), int(m.group("s")), us)
        ts = utc_us(*parts) - parse_offset(m.group("tz")) if m.group("tz") else clock.local(*parts)
    except ValueError:
        return None
    return (ts, line[m.start("d"):m.end("tz") if m.group("tz") else m.end("s")], m.group("vhost"), m.group("client"),
            m.group("user"), m.group("request"), m.group("status"), m.group("size"), m.group("referer"),
            m.group("ua"), m.group("extra"))


_REQUESTS: dict[str, tuple[str | None, str | None, str | None, str | None]] = {}


def _decode(url: str) -> str:
    """URL-decoded until stable (at most 3 rounds): double encoding (%2527) is a classic WAF bypass."""
    for _ in range(3):
        nxt = unquote_plus(url)
        if nxt == url:
            break
        url = nxt
    return url


def _request(request: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(method, url, protocol, URL-decoded url) of a request line; the same requests recur all through a log."""
    hit = _REQUESTS.get(request)
    if hit is None:
        r = _REQ.match(request)
        method, url, proto = (r.group("method"), r.group("url"), r.group("proto")) if r else (None, None, None)
        hit = (method, url, proto, _decode(url) if url and ("%" in url or "+" in url) else None)
        if len(_REQUESTS) >= 65536:
            _REQUESTS.clear()
        _REQUESTS[request] = hit
    return hit


def parse(line: str, where: Where, clock: Clock) -> Event | None:
    f = _fields(line, clock)
    if f is None:
        return None
    ts, time_text, vhost, client, user, request, status_text, size_text, referer, ua, extra = f
    client_ip, client_name = peer(client)
    if client_ip is None and client_name is None:
        return None
    method, url, proto, decoded = _request(request)
    status = to_int(status_text)
    size = to_int(size_text)
    attrs = {
        "time_text": time_text,
        "request": request, "method": method, "status": status, "http_version": proto,
        "referer": None if referer in (None, "-") else referer,
        "user_agent": None if ua in (None, "-") else ua, "vhost": vhost,
        "format": "combined" if referer is not None else "common",
        "decoded_url": decoded,
    }
    if extra.strip():
        attrs["extra"] = extra.strip()
    if where.encoding != "utf-8":
        attrs["encoding"] = where.encoding
    dst_port = None
    if vhost and ":" in vhost:
        dst_port = to_int(vhost.rsplit(":", 1)[1])
    return Event(
        timestamp=ts, data_type="web:access", locator=where.locator, timestamp_desc="Request Time",
        message=f"{client} {request} -> {status_text}",
        src_ip=client_ip, domain=vhost.rsplit(":", 1)[0] if vhost else client_name, dst_port=dst_port,
        user=None if user in ("-", "") else user, url=url, proto="http", bytes_out=size,
        tags=["web_request"], attributes={k: v for k, v in attrs.items() if v is not None},
    )

