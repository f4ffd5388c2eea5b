"""Apache error log (2.2 and 2.4 forms) and Nginx error log."""
from __future__ import annotations

import re

from forensics.events import Event
from forensics.logs.common import Where, peer, to_int
from forensics.logs.timeparse import Clock, month_number

_APACHE = re.compile(
    r"\[(?P<dow>[A-Z][a-z]{2}) (?P<mon>[A-Z][a-z]{2}) (?P<d>\d{1,2}) (?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))? (?P<y>\d{4})\] "
    r"\[(?:(?P<module>[^:\]\s]+):)?(?P<level>[^\]\s]+)\]"
    r"(?: \[pid (?P<pid>\d+)(?::tid \d+)?\])?(?: \[client (?P<client>[^\]]+)\])? ?(?P<msg>.*)$"
)
_NGINX = re.compile(
    r"(?P<y>\d{4})/(?P<mo>\d\d)/(?P<d>\d\d) (?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d) \[(?P<level>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<conn>\d+) )?(?P<msg>.*)$"
)
_NGINX_KV = re.compile(r', (client|server|request|upstream|host|referrer): "?(.*?)"?(?=, \w+: |$)')


def parse(line: str, where: Where, clock: Clock) -> Event | None:
    if line.startswith("["):
        m = _APACHE.match(line)
        if not m:
            return None
        frac = m.group("frac")
        try:
            ts = clock.local(int(m.group("y")), month_number(m.group("mon")), int(m.group("d")), int(m.group("h")),
                             int(m.group("mi")), int(m.group("s")), int((frac + "00000")[:6]) if frac else 0)
        except ValueError:
            return None
        client = m.group("client") or ""
        host, _, port = client.rpartition(":") if client.count(":") == 1 or client.startswith("[") else (client, "", "")
        ip, name = peer(host)
        attrs = {"level": m.group("level"), "module": m.group("module"), "server": "apache",
                 "time_text": line[1:m.end("y")]}
        # the message keeps the [pid]/[client] prefixes, as Apache wrote it
        return Event(timestamp=ts, data_type="web:error", message=line[m.end("level") + 1:].strip(),
                     locator=where.locator, process_pid=to_int(m.group("pid")), src_ip=ip, domain=name,
                     src_port=to_int(port),
                     severity=_severity(m.group("level")), attributes={k: v for k, v in attrs.items() if v})
    m = _NGINX.match(line)
    if not m:
        return None
    try:
        ts = clock.local(*(int(m.group(k)) for k in ("y", "mo", "d", "h", "mi", "s")))
    except ValueError:
        return None
    kv = dict(_NGINX_KV.findall(m.group("msg")))
    ip, name = peer(kv.get("client"))
    req = kv.get("request", "")
    url = req.split(" ")[1] if req.count(" ") >= 1 else None
    attrs = {"level": m.group("level"), "server": "nginx", "connection": to_int(m.group("conn")), "request": req or None,
             "time_text": line[:19], "server_name": kv.get("server"), "host_header": kv.get("host")}
    return Event(timestamp=ts, data_type="web:error", message=m.group("msg"), locator=where.locator,
                 process_pid=to_int(m.group("pid")), src_ip=ip, domain=name, url=url,
                 severity=_severity(m.group("level")), attributes={k: v for k, v in attrs.items() if v})


def _severity(level: str) -> str:
    return {"emerg": "high", "alert": "high", "crit": "high", "error": "low", "warn": "low"}.get(level, "info")
