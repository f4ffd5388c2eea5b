"""auth.log / secure: sshd, sudo, su, account management, PAM — on top of syslog.

Each line becomes one `linux:auth` event with `attributes.outcome`:
  failure  an authentication attempt that failed (counts for brute force)
  success  a login / privilege change that succeeded
  probe    pre-authentication noise (negotiation failures, disconnects before
           login): scanners and floods, not password guessing
  attempt  a rejected public key for a valid user (clients try several keys)
  info     everything else
sshd often logs the client address on one line of a connection and the
failure on another; `FileState.ssh_peer` remembers the address per
(host, pid) so the failure still names its source.
"""
from __future__ import annotations

import re

from forensics.events import Event
from forensics.logs.common import FileState, Where, by_first_char, peer, to_int
from forensics.logs.syslog3164 import SyslogLine

AUTH_PROGRAMS = frozenset({"sshd", "sudo", "su", "useradd", "usermod", "userdel", "groupadd", "groupmod", "gpasswd",
                           "passwd", "chpasswd", "chage", "login", "pam_unix", "unix_chkpwd", "systemd-logind", "polkitd"})

_PORT = r"(?: port (?P<port>\d+))?"
# (pattern, kind, outcome); first match wins. Greedy user fields defeat the
# injection tricks in fail2ban's test log (a user name containing "from 1.2.3.4").
_SSHD = [
    (r"Accepted (?P<method>\S+) for (?P<user>.*) from (?P<host>\S+)" + _PORT + r"(?:\s+ssh\d?)?(?:: (?P<key>.*))?$", "accepted", "success"),
    (r"Failed (?P<method>\S+) for (?P<invalid>(?:invalid|illegal) user )?(?P<user>[^:]*) from (?P<host>\S+?)" + _PORT + r"(?:\s+ssh\d?)?(?:: .*)?\s*$", "failed", "failure"),
    (r"(?:Invalid|Illegal) user (?P<user>.*?) from (?P<host>\S+?)" + _PORT + r"\s*$", "invalid_user", "failure"),
    (r"(?:error: )?PAM: [Aa]uthentication (?:failure|error) for (?:illegal user )?(?P<user>.*?) from (?P<host>\S+)(?: via \S+)?\s*$", "pam_failure", "failure"),
    (r"(?:error: )?PAM: User not known to the underlying authentication module for (?:illegal user )?(?P<user>.*?) from (?P<host>\S+)\s*$", "pam_failure", "failure"),
    (r"ROOT LOGIN REFUSED FROM (?P<host>\S+?)" + _PORT + r"(?: \[preauth\])?\s*$", "root_refused", "failure"),
    (r"User (?P<user>\S+) from (?P<host>\S+) not allowed because", "user_not_allowed", "failure"),
    (r"User (?P<user>\S+) not allowed because", "user_not_allowed", "failure"),
    (r"refused connect from \S* ?\((?P<host>[^)]+)\)", "refused_connect", "failure"),
    (r"(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?(?P<user>.*) from (?P<host>\S+)" + _PORT, "max_attempts", "failure"),
    (r"Disconnecting(?: (?:invalid|authenticating) user (?P<user>\S*))? (?P<host>\S+)" + _PORT + r": Change of username", "user_change", "failure"),
    (r"Disconnecting: Too many authentication failures(?: for (?:invalid user )?(?P<user>\S+))?", "too_many_failures", "failure"),
    (r"(?:error: )?Received disconnect from (?P<host>[^\s:]+|[0-9a-fA-F:.]+?)" + _PORT + r":\s*3: .*Auth fail", "auth_fail_disconnect", "failure"),
    (r"(?:error: )?Received disconnect from (?P<host>\S+?)" + _PORT + r":\s*11: .*\[preauth\]\s*$", "preauth_disconnect", "failure"),
    (r"(?:error: )?Received disconnect from (?P<host>\S+?)" + _PORT + r":\s*14: .*\[preauth\]\s*$", "no_auth_methods", "probe"),
    (r"(?:error: )?Received disconnect from (?P<host>\S+?)" + _PORT + r":\s*\d+:", "disconnect", "info"),
    (r"Did not receive identification string from (?P<host>\S+?)" + _PORT + r"\s*$", "no_ident", "probe"),
    (r"Bad protocol version identification .* from (?P<host>\S+?)" + _PORT + r"\s*$", "bad_protocol", "probe"),
    (r"(?:error: )?kex_exchange_identification: ", "kex_error", "probe"),
    (r"banner exchange: Connection from (?P<host>\S+?)" + _PORT + r": ", "banner_error", "probe"),
    (r"ssh_dispatch_run_fatal: Connection from (?P<host>\S+?)" + _PORT + r": ", "dispatch_error", "probe"),
    (r"(?:fatal: )?Timeout before authentication for (?:connection from )?(?P<host>[^\s,]+?)" + _PORT + r"(?: to |,|\s*$)", "preauth_timeout", "probe"),
    (r"(?:fatal: )?Unable to negotiate with (?P<host>\S+?)" + _PORT + r": ", "negotiation_failed", "probe"),
    (r"fatal: (?:Unable to negotiate|no matching \S+ found)", "negotiation_failed", "probe"),
    (r"fatal: Read from socket failed: Connection reset by peer \[preauth\]", "reset_preauth", "probe"),
    (r"Disconnected from (?:authenticating|invalid) user (?P<user>.*) (?P<host>\S+) port (?P<port>\d+) \[preauth\]\s*$", "disconnected_preauth", "probe"),
    (r"Disconnected from (?P<host>\S+)" + _PORT + r" \[preauth\]\s*$", "disconnected_preauth", "probe"),
    (r"Connection (?:closed|reset) by (?:authenticating|invalid) user (?P<user>.*) (?P<host>\S+) port (?P<port>\d+) \[preauth\]\s*$", "closed_preauth", "probe"),
    (r"Connection (?:closed|reset) by (?P<host>\S+?)" + _PORT + r" \[preauth\]\s*$", "closed_preauth", "probe"),
    (r"Connection (?:closed|reset) by (?:authenticating|invalid) user (?P<user>.*) (?P<host>\S+) port (?P<port>\d+)\s*$", "closed", "info"),
    (r"Connection (?:closed|reset) by (?P<host>\S+?)" + _PORT + r"\s*$", "closed", "info"),
    (r"Disconnected from (?:user (?P<user>\S+) )?(?P<host>\S+)" + _PORT, "disconnected", "info"),
    (r"Connection from (?P<host>\S+)" + _PORT + r"(?: on (?P<dst>\S+) port (?P<dport>\d+))?", "connection", "info"),
    (r"SSH: Server;Ltype: \w+;Remote: (?P<host>[^;]+?)-(?P<port>\d+);", "connection", "info"),
    (r"(?:pam_unix\(sshd:auth\): )?authentication failure;.*?rhost=(?P<host>\S*)(?:\s+user=(?P<user>\S+))?", "pam_failure", "failure"),
    (r"pam_unix\(sshd:session\): session opened for user (?P<user>\S+)", "session_opened", "success"),
    (r"pam_unix\(sshd:session\): session closed for user (?P<user>\S+)", "session_closed", "info"),
    (r"Postponed (?P<method>\S+) for (?P<user>\S+) from (?P<host>\S+)" + _PORT, "postponed", "info"),
    (r"Server listening on (?P<dst>\S+) port (?P<dport>\d+)", "listening", "info"),
    (r"Received signal 15; terminating", "stopping", "info"),
]
_SSHD = [(re.compile(p), k, o) for p, k, o in _SSHD]
# only the patterns that can match a message starting with that character, in the same order
_SSHD_BY_CHAR, _SSHD_ANY = by_first_char(_SSHD)
# kinds whose address, when absent from the line, comes from the connection memory
_FROM_MEMORY = {"too_many_failures", "kex_error", "negotiation_failed", "reset_preauth", "user_change"}

_SUDO_CMD = re.compile(r"\s*(?P<user>\S+) : (?:(?P<fail>.*?) ; )?TTY=(?P<tty>\S*) ; PWD=(?P<pwd>.*?) ; USER=(?P<target>\S+) ;(?: .*?;)? COMMAND=(?P<cmd>.*)$")
_PAM_FAIL = re.compile(r"pam_unix\((?P<svc>[\w-]+):auth\): authentication failure;(?P<kv>.*)$")
_PAM_SESSION = re.compile(r"pam_unix\((?P<svc>[\w-]+):session\): session (?P<what>opened|closed) for user (?P<user>\S+?)(?:\(uid=\d+\))?(?: by (?P<by>\S*?)(?:\(uid=\d+\))?)?\s*$")
_KV = re.compile(r"(\w+)=(\S*)")
_SU = [
    (re.compile(r"(?:\+ \S+ )?\(to (?P<target>\S+)\) (?P<user>\S+) on (?P<tty>\S+)"), "su", "success"),
    (re.compile(r"Successful su for (?P<target>\S+) by (?P<user>\S+)"), "su", "success"),
    (re.compile(r"FAILED su for (?P<target>\S+) by (?P<user>\S+)"), "su", "failure"),
    (re.compile(r"FAILED SU \(to (?P<target>\S+)\) (?P<user>\S+) on (?P<tty>\S+)"), "su", "failure"),
]
_ACCOUNT = [
    (re.compile(r"new user: name=(?P<target>[^,\s]+)"), "user_created", ["T1136.001"]),
    (re.compile(r"new group: name=(?P<target>[^,\s]+)"), "group_created", []),
    (re.compile(r"add '(?P<target>[^']+)' to (?:shadow )?group '(?P<group>[^']+)'"), "group_member_added", ["T1098"]),
    (re.compile(r"delete user '(?P<target>[^']+)'"), "user_deleted", ["T1531"]),
    (re.compile(r"password changed for (?P<target>\S+)"), "password_changed", ["T1098"]),
    (re.compile(r"changed password expiry for (?P<target>\S+)"), "password_expiry_changed", []),
    (re.compile(r"change user '(?P<target>[^']+)' password"), "password_changed", ["T1098"]),
]
_PRIV_GROUPS = {"sudo", "wheel", "admin", "root", "adm", "docker", "lxd"}


def _event(rec: SyslogLine, where: Where, message: str, attrs: dict, outcome: str, kind: str, **kw) -> Event:
    attrs.update(outcome=outcome, kind=kind, program=rec.program, time_text=rec.time_text, body=rec.message,
                 **rec.pri_fields())
    if rec.year_inferred:
        attrs["year_inferred"] = rec.year_inferred
    if where.encoding != "utf-8":
        attrs["encoding"] = where.encoding
    tags = ["authentication"]
    if outcome == "failure":
        tags.append("login_failed")
    elif outcome == "success" and kind in ("accepted", "session_opened"):
        tags.append("login")
    return Event(timestamp=rec.timestamp, data_type="linux:auth", message=message, locator=where.locator,
                 timestamp_desc="Event Time", host=rec.host, process_pid=rec.pid, process_name=rec.program,
                 tags=tags, attributes={k: v for k, v in attrs.items() if v is not None and v != ""}, **kw)


def parse(rec: SyslogLine, where: Where, state: FileState) -> Event | None:
    prog = rec.base_program
    if prog == "sshd":
        return _sshd(rec, where, state)
    if prog == "sudo":
        return _sudo(rec, where)
    if prog == "su":
        return _su(rec, where)
    if prog in AUTH_PROGRAMS:
        return _other(rec, where)
    return None


def _sshd(rec: SyslogLine, where: Where, state: FileState) -> Event | None:
    msg = rec.message
    if msg.startswith("[ID ") and "] " in msg:  # Solaris message ids: "[ID 800047 auth.info] Failed ..."
        msg = msg.split("] ", 1)[1]
    g = _password_line(msg)
    if g is not None:
        kind, outcome = ("failed", "failure") if msg[0] == "F" else ("accepted", "success")
    else:
        for rx, kind, outcome in _SSHD_BY_CHAR.get(msg[:1], _SSHD_ANY):
            m = rx.match(msg)
            if m:
                break
        else:
            return _event(rec, where, f"sshd: {msg}", {}, "info", "other")
        g = m.groupdict()
    key = (rec.host, rec.pid)
    ip, domain = peer(g.get("host"))
    port = to_int(g.get("port"))
    user = g.get("user")
    method = g.get("method")
    attrs: dict = {"method": method}
    if kind == "failed" and method == "publickey" and not g.get("invalid"):
        # a valid user whose client offers several keys: not a guess (fail2ban gh-1263)
        outcome, kind = "attempt", "publickey_rejected"
    if g.get("invalid") or kind == "invalid_user":
        attrs["invalid_user"] = True
    if kind == "pam_failure" and "rhost=" in msg:
        attrs["source"] = "pam"  # the same attempt as sshd's own "Failed" line, if any
        kv = dict(_KV.findall(msg))
        user = user or kv.get("ruser") or None
    if kind in ("connection", "listening") and g.get("dport"):
        attrs["local_address"] = g.get("dst")
        attrs["local_port"] = to_int(g.get("dport"))
    if rec.pid is not None:
        if ip or domain:
            state.ssh_peer[key] = (ip, domain, port)
            pend = state.ssh_pending.pop(key, None)
            if pend and kind.startswith(("closed", "disconnected")) and (outcome == "info" or pend == "failure"):
                outcome, kind = pend, kind + "_after_" + pend  # the failure logged earlier, now with its source
        elif kind in _FROM_MEMORY:
            known = state.ssh_peer.get(key)
            if known:
                ip, domain, port = known
                attrs["address_from"] = "earlier line of the same connection"
            elif outcome in ("failure", "probe"):
                state.ssh_pending[key] = outcome
    if kind == "listening":
        ip = None
    src = ip or domain or "?"
    if kind == "accepted":
        text = f"SSH login accepted for {user} from {src} ({method})"
    elif kind == "failed":
        text = f"SSH {method} authentication failed for {user} from {src}"
    elif kind == "publickey_rejected":
        text = f"SSH public key rejected for {user} from {src}"
    elif kind == "invalid_user":
        text = f"SSH login attempt for invalid user {user!r} from {src}"
    else:
        text = f"sshd: {msg}"
    ev = _event(rec, where, text, attrs, outcome, kind, user=user or None, src_ip=ip, src_port=port, domain=domain,
                proto="ssh")
    if outcome == "failure":
        ev.attack.append("T1110")
    elif kind == "accepted":
        ev.attack.append("T1021.004")
    return ev


def _password_line(msg: str) -> dict | None:
    """The groups of the `Failed`/`Accepted` patterns for the everyday
    "Failed password for [invalid user ]USER from HOST port N ssh2" line, read
    with string operations. None whenever the regexes could read it differently
    (a colon anywhere, a key fingerprint, odd spacing): the patterns decide then.
    """
    if msg[:7] == "Failed ":
        accepted = False
    elif msg[:9] == "Accepted ":
        accepted = True
    else:
        return None
    if ":" in msg or not msg.endswith(" ssh2"):
        return None
    start = 9 if accepted else 7
    sp = msg.find(" ", start)
    method = msg[start:sp]
    if sp <= start or msg[sp:sp + 5] != " for " or not method.isprintable():
        return None
    j = msg.rfind(" from ")
    tail = msg[j + 6:].split(" ")
    if j < sp + 4 or len(tail) != 4 or tail[1] != "port" or not (tail[2].isdigit() and tail[2].isascii()):
        return None
    host = tail[0]
    if not host or host == "from" or not host.isprintable():
        return None
    user_at = sp + 5
    invalid = None
    if not accepted and msg[user_at:user_at + 13] in ("invalid user ", "illegal user "):
        invalid = msg[user_at:user_at + 13]
        user_at += 13
    if j < user_at:
        return None
    g = {"method": method, "user": msg[user_at:j], "host": host, "port": tail[2]}
    if accepted:
        g["key"] = None
    else:
        g["invalid"] = invalid
    return g


def _sudo(rec: SyslogLine, where: Where) -> Event:
    msg = rec.message
    m = _SUDO_CMD.match(msg)
    if m:
        fail = m.group("fail")
        outcome = "failure" if fail else "success"
        attrs = {"target_user": m.group("target"), "tty": m.group("tty"), "cwd": m.group("pwd")}
        if fail:
            attrs["failure"] = fail
        text = (f"sudo {'denied' if fail else 'ran'} as {m.group('target')} by {m.group('user')}: {m.group('cmd')}"
                + (f" ({fail})" if fail else ""))
        ev = _event(rec, where, text, attrs, outcome, "sudo_command", user=m.group("user"), process_cmdline=m.group("cmd"))
        ev.attack.append("T1548.003")
        return ev
    m = _PAM_FAIL.match(msg)
    if m:
        kv = dict(_KV.findall(m.group("kv")))
        return _event(rec, where, f"sudo authentication failure for {kv.get('user') or kv.get('logname')}", {},
                      "failure", "sudo_auth_failure", user=kv.get("logname") or kv.get("user") or None)
    return _other(rec, where)


def _su(rec: SyslogLine, where: Where) -> Event:
    for rx, kind, outcome in _SU:
        m = rx.match(rec.message)
        if m:
            g = m.groupdict()
            return _event(rec, where, f"su to {g['target']} by {g['user']}: {outcome}",
                          {"target_user": g["target"], "tty": g.get("tty")}, outcome, kind, user=g["user"])
    return _other(rec, where)


def _other(rec: SyslogLine, where: Where) -> Event:
    msg = rec.message
    m = _PAM_FAIL.search(msg)
    if m:
        kv = dict(_KV.findall(m.group("kv")))
        ip, domain = peer(kv.get("rhost"))
        return _event(rec, where, f"{m.group('svc')} authentication failure for {kv.get('user') or kv.get('ruser')}",
                      {"service": m.group("svc"), "source": "pam"}, "failure", "pam_failure",
                      user=kv.get("user") or kv.get("ruser") or None, src_ip=ip, domain=domain)
    m = _PAM_SESSION.search(msg)
    if m:
        return _event(rec, where, f"{m.group('svc')} session {m.group('what')} for {m.group('user')}",
                      {"service": m.group("svc"), "by": m.group("by")},
                      "success" if m.group("what") == "opened" else "info", "session_" + m.group("what"), user=m.group("user"))
    for rx, kind, attack in _ACCOUNT:
        m = rx.search(msg)
        if m:
            g = m.groupdict()
            attrs = {"target_user": g["target"], "group": g.get("group")}
            ev = _event(rec, where, f"{rec.program}: {msg}", attrs, "success", kind, user=g["target"])
            ev.attack.extend(attack)
            if kind == "group_member_added" and g.get("group") in _PRIV_GROUPS:
                ev.severity = "medium"
                ev.tags.append("privilege_escalation")
            elif kind == "user_created":
                ev.severity = "low"
            return ev
    return _event(rec, where, f"{rec.program}: {msg}", {}, "info", "other")

