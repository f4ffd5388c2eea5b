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


def parse(line: str, where: Where, clock: Clock) -> Event | None:
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
    client_ip, client_name = peer(m.group("client"))
    if client_ip is None and client_name is None:
        return None
    request = m.group("request")
    r = _REQ.match(request)
    method, url, proto = (r.group("method"), r.group("url"), r.group("proto")) if r else (None, None, None)
    status = to_int(m.group("status"))
    size = to_int(m.group("size"))
    ua = m.group("ua")
    user = m.group("user")
    vhost = m.group("vhost")
    attrs = {
        "time_text": line[m.start("d"):m.end("tz") if m.group("tz") else m.end("s")],
        "request": request, "method": method, "status": status, "http_version": proto,
        "referer": None if m.group("referer") in (None, "-") else m.group("referer"),
        "user_agent": None if ua in (None, "-") else ua, "vhost": vhost,
        "format": "combined" if m.group("referer") is not None else "common",
        "decoded_url": unquote_plus(url) if url and ("%" in url or "+" in url) else None,
    }
    if m.group("extra").strip():
        attrs["extra"] = m.group("extra").strip()
    if where.encoding != "utf-8":
        attrs["encoding"] = where.encoding
    dst_port = None
    if vhost and ":" in vhost:
        dst_port = to_int(vhost.rsplit(":", 1)[1])
    return Event(
        timestamp=ts, data_type="web:access", locator=where.locator, timestamp_desc="Request Time",
        message=f"{m.group('client')} {request} -> {m.group('status')}",
        src_ip=client_ip, domain=vhost.rsplit(":", 1)[0] if vhost else client_name, dst_port=dst_port,
        user=None if user in ("-", "") else user, url=url, proto="http", bytes_out=size,
        tags=["web_request"], attributes={k: v for k, v in attrs.items() if v is not None},
    )

