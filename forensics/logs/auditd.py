"""Linux audit records (auditd `audit.log`, also forwarded through syslog and
AUOMS): `[node=N ]type=T msg=audit(EPOCH.MS:SERIAL): key=value ...`.

One record, one event; records of one syscall share the serial, kept in
`attributes.serial` so the timeline can group them. EXECVE arguments are
hex-decoded into the command line.
"""
from __future__ import annotations

import re

from forensics.events import Event
from forensics.logs.common import Where, peer, to_int

_HEAD = re.compile(r"(?:node=(?P<node>\S+) )?type=(?P<type>\w+) (?:msg=)?audit\((?P<sec>\d+)\.(?P<ms>\d+):(?P<serial>\d+)\):\s*")
_KV = re.compile(r"""(\w+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)""")
_PROCTITLE = re.compile(r"\bproctitle=(.*?)(?= \w+=|$)")
_HEXARG = re.compile(r"[0-9A-F]+")
_LOGIN_TYPES = {"USER_LOGIN", "USER_AUTH", "USER_ACCT", "USER_START", "CRED_ACQ", "USER_ERR", "ANOM_LOGIN_FAILURES"}
_ACCOUNT_TYPES = {"ADD_USER": ("T1136.001", "account created"), "ADD_GROUP": (None, "group created"),
                  "DEL_USER": ("T1531", "account deleted"), "USER_CHAUTHTOK": ("T1098", "password changed"),
                  "USER_MGMT": ("T1098", "account changed"), "GRP_MGMT": ("T1098", "group changed")}


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def fields(text: str) -> dict[str, str]:
    """key=value pairs; a nested msg='...' (user-space records) is flattened into the same dict."""
    out: dict[str, str] = {}
    body, _, enriched = text.partition("\x1d")
    for k, v in _KV.findall(body):
        if k == "msg" and v.startswith("'"):
            for k2, v2 in _KV.findall(v[1:-1]):
                out.setdefault(k2, _unquote(v2))
        else:
            out.setdefault(k, _unquote(v))
    for k, v in _KV.findall(enriched):  # ausearch enriched form: UID="root" ...
        out.setdefault("enriched_" + k.lower(), _unquote(v))
    return out


def _arg(v: str) -> str:
    if len(v) % 2 == 0 and _HEXARG.fullmatch(v):
        try:
            return bytes.fromhex(v).decode("utf-8", "replace").replace("\x00", " ")
        except ValueError:
            return v
    return v


def find(text: str) -> int:
    """Position of an audit record inside a line (syslog forwarders prepend their header), or -1."""
    i = text.find("type=")
    if i < 0 or "audit(" not in text:
        return -1
    j = text.rfind("node=", 0, i)
    return j if j >= 0 and i - j < 80 else i


def parse(text: str, where: Where, host: str | None = None, time_text_prefix: str | None = None) -> Event | None:
    m = _HEAD.match(text)
    if not m:
        return None
    ts = int(m.group("sec")) * 1_000_000 + int((m.group("ms") + "000000")[:6])
    rtype = m.group("type")
    kv = fields(text[m.end():])
    attrs: dict = {"record_type": rtype, "serial": int(m.group("serial")), "fields": kv,
                   "time_text": f"audit({m.group('sec')}.{m.group('ms')}:{m.group('serial')})"}
    cmdline = None
    if rtype == "EXECVE":
        argc = to_int(kv.get("argc")) or 0
        args = [_arg(kv[f"a{i}"]) for i in range(min(argc, 4096)) if f"a{i}" in kv]
        cmdline = " ".join(args) or None
    elif kv.get("cmdline"):
        cmdline = kv["cmdline"]
    elif kv.get("proctitle"):
        # AUOMS writes the process title unquoted, spaces and all
        p = _PROCTITLE.search(text)
        cmdline = _arg(p.group(1).strip()) if p and not kv["proctitle"].startswith('"') else _arg(kv["proctitle"])
    res = kv.get("res") or kv.get("success")
    outcome = {"success": "success", "yes": "success", "failed": "failure", "no": "failure"}.get((res or "").lower())
    if outcome:
        attrs["outcome"] = outcome
    ip, name = peer(kv.get("addr") or kv.get("hostname"))  # the remote end of a login
    user = kv.get("acct") or kv.get("enriched_auid") or kv.get("enriched_uid") or kv.get("user")
    uid = kv.get("auid") if kv.get("auid") not in (None, "4294967295", "-1") else kv.get("uid")
    if uid is not None:
        attrs["uid"] = uid
    ev = Event(
        timestamp=ts, data_type="linux:auditd", locator=where.locator, timestamp_desc="Event Time",
        message=f"audit {rtype}" + (f": {cmdline}" if cmdline else f" {kv.get('exe') or kv.get('op') or ''}".rstrip()),
        host=m.group("node") or host,
        user=user, process_pid=to_int(kv.get("pid")), process_name=kv.get("comm") or None,
        process_cmdline=cmdline, src_ip=ip, domain=name, file_path=kv.get("name") or kv.get("exe") or None,
        tags=["audit"], attributes=attrs,
    )
    if rtype in _LOGIN_TYPES and outcome:
        ev.tags.append("authentication")
        if outcome == "failure":
            ev.tags.append("login_failed")
            ev.attack.append("T1110")
    if rtype in _ACCOUNT_TYPES:
        t, what = _ACCOUNT_TYPES[rtype]
        ev.message = f"audit {rtype}: {what} {kv.get('id') or kv.get('acct') or ''}".rstrip()
        if t:
            ev.attack.append(t)
        ev.severity = "low"
    if kv.get("ppid"):
        attrs["ppid"] = to_int(kv["ppid"])
    if kv.get("key") and kv["key"] != "(null)":
        attrs["rule_key"] = kv["key"]
    return ev
