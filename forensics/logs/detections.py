"""Detections over the events of one text log, streaming.

SSH and HTTP brute force, a successful login after failures, web attacks (SQL
injection, path traversal, webshell access, scanners by user agent, exploit
strings), log gaps and log clearing. Thresholds live in detections.yaml.
Each detection is an event [`detection`] citing the events it rests on
(`attributes.evidence_event_ids`, `attributes.evidence_locators`).
Web-attack and clearing indicators are also written onto the events
themselves (tags, ATT&CK ids, severity) before they are stored.
"""
from __future__ import annotations

import heapq
import re
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Iterator

import yaml

from forensics.events import Event, iso_utc

_S = 1_000_000


def load_thresholds(override: dict | None = None) -> dict[str, dict[str, Any]]:
    text = resources.files("forensics.logs").joinpath("detections.yaml").read_text()
    conf = yaml.safe_load(text)
    for rule, values in (override or {}).items():
        conf.setdefault(rule, {}).update(values or {})
    return conf


def event_id(ev: Event) -> str:
    """make_event_id(sha, locator, parser, discriminator or data_type): `Event.event_id`, or the id a
    batch row (forensics.logs.batchpath.Lite) carries already."""
    return ev.event_id


# --- web attack signatures (on the URL-decoded request and the user agent) ---
WEB_SIGNATURES: list[tuple[str, str, re.Pattern, str]] = [
    ("sql_injection", "SQL injection attempt", re.compile(
        r"union(?:\s|/\*.*?\*/|\+)+(?:all\s+)?select|'\s*(?:or|and)\s+'?\d+'?\s*=\s*'?\d|\bor\s+1\s*=\s*1|@@version|"
        r"information_schema|\bsleep\s*\(\s*\d|benchmark\s*\(|waitfor\s+delay|xp_cmdshell|;\s*drop\s+table|"
        r"'\s*--|\bselect\b.+\bfrom\b.+\bwhere\b|convert\s*\(\s*int|char\(\d+\)\s*\+|extractvalue\s*\(|updatexml\s*\(",
        re.I), "T1190"),
    ("path_traversal", "path traversal attempt", re.compile(
        r"(?:\.\.[/\\]){2,}|\.\.[/\\].*(?:etc/passwd|win\.ini|boot\.ini)|/etc/(?:passwd|shadow)\b|[/\\]win(?:nt|dows)[/\\]win\.ini|"
        r"%2e%2e[%/\\]|%c0%ae|\.\.%2f|\.\.%5c", re.I), "T1083"),
    ("webshell", "webshell access", re.compile(
        r"/(?:cmd|shell|c99|r57|wso|b374k|webshell|evil|backdoor|alfa|indoxploit|chopper|spy|sh3ll|up)"
        r"\.(?:php\d?|phtml|jspx?|aspx?|ashx|cgi|pl)\b|\.(?:php\d?|jspx?|aspx?)\?(?:cmd|exec|command|execute|c)="
        r"[^&]*(?:uname|whoami|\bid\b|cat\s|ls\b|dir\b|wget|curl|powershell|cmd(?:\.exe)?|net\s+user|ipconfig|ifconfig|ver\b)",
        re.I), "T1505.003"),
    ("exploit", "exploit payload", re.compile(
        r"\$\{jndi:|\$\{\$\{|\(\)\s*\{\s*:;\s*\}|<script\b|javascript:|/cgi-bin/.*(?:;|%3b)|\bphp://input|"
        r"allow_url_include|\$\{.*?\}/.*\.action|class\.module\.classloader", re.I), "T1190"),
]
SCANNER_AGENTS = re.compile(
    r"nikto|sqlmap|nmap|masscan|dirbuster|gobuster|wpscan|acunetix|nessus|openvas|w3af|zgrab|nuclei|hydra|ffuf|"
    r"feroxbuster|morfeus|zmeu|jorgee|netsparker|appscan|burp|havij|arachni|skipfish|whatweb|dirb\b|wfuzz|commix",
    re.I)
LOGIN_URL = re.compile(r"login|logon|signin|sign-in|wp-login\.php|xmlrpc\.php|/manager/html|/auth\b|j_security_check|/admin\b", re.I)
CLEARING = re.compile(
    r"\brm\s+(?:-\w+\s+)*[^;|&]*/var/log|>\s*/var/log/|\btruncate\b[^;|&]*/var/log|\bshred\b[^;|&]*(?:/var/log|wtmp|btmp|lastlog|history)|"
    r"history\s+-c|unset\s+HISTFILE|HISTFILE=/dev/null|HISTSIZE=0|journalctl\s+[^;|&]*--vacuum|journalctl\s+[^;|&]*--rotate|"
    r"ln\s+-sf?\s+/dev/null\s+\S*history|>\s*~?/?\S*\.bash_history|wevtutil(?:\.exe)?\s+cl\b|clear-eventlog|"
    r"auditctl\s+-D|service\s+(?:rsyslog|auditd)\s+stop|systemctl\s+stop\s+(?:rsyslog|auditd|systemd-journald)",
    re.I)

# Every alternative of CLEARING contains one of these (case-insensitively), so an
# ASCII text without any of them cannot match; most log lines are skipped with
# a few substring tests instead of a scan by the large regex.
_CLEARING_WORDS = ("/var/log", "shred", "hist", "journalctl", "wevtutil", "clear-eventlog", "auditctl", "service",
                   "systemctl")


def is_clearing(cmd: str) -> bool:
    if cmd.isascii():
        low = cmd.lower()
        if not any(w in low for w in _CLEARING_WORDS):
            return False
    return CLEARING.search(cmd) is not None


class _Memo(dict):
    """Results of a pure function of a string: URLs and user agents repeat all through a log."""

    def __init__(self, fn, limit: int = 65536):
        super().__init__()
        self.fn, self.limit = fn, limit

    def __missing__(self, key):
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.fn(key)
        return value


def _signatures(key: tuple[str, str]) -> tuple[str, ...]:
    url, raw = key
    return tuple(k for k, _, rx, _ in WEB_SIGNATURES if rx.search(url) or (raw != url and rx.search(raw)))


def _is_scanner(ua: str) -> bool:
    return SCANNER_AGENTS.search(ua) is not None


@dataclass(slots=True)
class _Burst:
    first: Event
    last: Event
    count: int = 0
    users: set = field(default_factory=set)
    per_pid: dict = field(default_factory=dict)  # pid -> [pam, sshd] failures, so one attempt counts once
    samples: list = field(default_factory=list)

    def attempts(self) -> int:
        return self.count - sum(min(p, s) for p, s in self.per_pid.values())


class Detector:
    """Feed stamped events in file order; collect detections from `feed` and `finish`."""

    def __init__(self, thresholds: dict | None = None):
        self.t = load_thresholds(thresholds)
        self.ssh: dict[str, _Burst] = {}
        self.http: dict[str, _Burst] = {}
        self.recent_fail: dict[str, deque] = {}
        self.web: dict[tuple[str, str], _Burst] = {}
        self.prev: Event | None = None
        self.gaps: list[tuple[int, int, str, str, str, str]] = []  # min-heap of the largest gaps
        self._signatures = _Memo(_signatures)
        self._min_gap = self.t["log_gap"]["min_gap_s"] * _S
        self._max_gaps = self.t["log_gap"]["max_reports"]
        self._scanner = _Memo(_is_scanner)

    # ---- per event ----
    def feed(self, ev: Event) -> list[Event]:
        out: list[Event] = []
        dt = ev.data_type
        if dt == "linux:auth" or (dt == "linux:auditd" and "authentication" in ev.tags):
            out += self._auth(ev)
        if dt in ("web:access", "web:iis"):
            out += self._web(ev)
        cmd = ev.process_cmdline or (ev.message if dt in ("linux:syslog:line", "log:jsonl", "log:csv") else None)
        if cmd and is_clearing(cmd):
            out.append(self._clearing(ev, cmd))
        if "log_gap" in ev.tags:
            out.append(self._detection(ev, "log_gap", "events lost by the logger", [ev], ev.timestamp, ev.timestamp,
                                       "medium", [], {"events_lost": ev.attributes.get("events_lost")}))
        self._gap(ev)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        for ip in sorted(self.ssh):
            out += self._close_ssh(ip)
        for ip in sorted(self.http):
            out += self._close_http(ip)
        cap = self.t["web_attack"]["max_samples"]
        for (kind, ip), b in sorted(self.web.items()):
            title = _WEB_TITLES[kind]
            ok = sum(1 for e in b.samples if 200 <= (e.attributes.get("status") or 0) < 400)
            sev = "high" if kind == "webshell" and ok else "medium" if kind != "scanner" else "low"
            out.append(self._detection(b.first, "web_attack", f"{title} from {ip}", b.samples[:cap], b.first.timestamp,
                                       b.last.timestamp, sev, [_WEB_ATTACK[kind]],
                                       {"category": kind, "count": b.count, "succeeded": ok}, key=f"{kind}:{ip}"))
        lim = self.t["log_gap"]["max_reports"]
        for gap, start, loc_a, loc_b, id_a, id_b in sorted(self.gaps, reverse=True)[:lim]:
            out.append(Event(
                timestamp=start, data_type="detection", locator=loc_a, timestamp_desc="Gap Start",
                message=f"log gap: no entries for {gap / 3600 / _S:.1f} h after {iso_utc(start)}",
                severity="low", tags=["detection", "log_gap"], discriminator=f"detection:log_gap:{loc_a}",
                attributes={"rule": "log_gap", "gap_seconds": gap // _S, "gap_start": iso_utc(start),
                            "gap_end": iso_utc(start + gap), "evidence_locators": [loc_a, loc_b],
                            "evidence_event_ids": [id_a, id_b]}))
        return out

    # ---- rules ----
    def _auth(self, ev: Event) -> list[Event]:
        out: list[Event] = []
        outcome = ev.attributes.get("outcome")
        src = ev.src_ip or ev.domain
        if not src:
            return out
        conf = self.t["ssh_brute_force"]
        if outcome == "failure":
            b = self.ssh.get(src)
            if b and ev.timestamp - b.last.timestamp > conf["max_gap_s"] * _S:
                out += self._close_ssh(src)
                b = None
            if b is None:
                b = self.ssh[src] = _Burst(ev, ev)
            b.last = ev
            b.count += 1
            if ev.user:
                b.users.add(ev.user)
            if ev.process_pid is not None:
                pp = b.per_pid.setdefault((ev.host, ev.process_pid), [0, 0])
                pp[0 if ev.attributes.get("source") == "pam" else 1] += 1
            if len(b.samples) < 10:
                b.samples.append(ev)
            dq = self.recent_fail.get(src)
            if dq is None:
                dq = self.recent_fail[src] = deque(maxlen=1000)
            dq.append(ev)
        elif outcome == "success" and (ev.attributes.get("kind") == "accepted"
                                       or ev.attributes.get("record_type") == "USER_LOGIN"):
            laf = self.t["login_after_failures"]
            dq = self.recent_fail.get(src)
            if dq:
                while dq and ev.timestamp - dq[0].timestamp > laf["lookback_s"] * _S:
                    dq.popleft()
                if len(dq) >= laf["min_failures"]:
                    fails = list(dq)
                    users = sorted({e.user for e in fails if e.user})
                    out.append(self._detection(
                        ev, "login_after_failures",
                        f"successful login as {ev.user} from {src} after {len(fails)} failures",
                        fails[-9:] + [ev], fails[0].timestamp, ev.timestamp, "high", ["T1110", "T1078"],
                        {"failures": len(fails), "failed_users": users, "success_user": ev.user}, key=src))
                    dq.clear()
        return out

    def ssh_failures(self, rows: list, positions: list[int]) -> list[tuple[int, list[Event]]]:
        """`_auth` for many sshd failures (outcome "failure", not PAM) in file order, with the
        lookups hoisted out of the loop: (position, detections) for those that raise some."""
        raised = []
        ssh, recent = self.ssh, self.recent_fail
        max_gap = self.t["ssh_brute_force"]["max_gap_s"] * _S
        for pos, ev in zip(positions, rows):
            src = ev.src_ip or ev.domain
            if not src:
                continue
            b = ssh.get(src)
            if b is not None and ev.timestamp - b.last.timestamp > max_gap:
                out = self._close_ssh(src)
                if out:
                    raised.append((pos, out))
                b = None
            if b is None:
                b = ssh[src] = _Burst(ev, ev)
            b.last = ev
            b.count += 1
            if ev.user:
                b.users.add(ev.user)
            if ev.process_pid is not None:
                key = (ev.host, ev.process_pid)
                pp = b.per_pid.get(key)
                if pp is None:
                    pp = b.per_pid[key] = [0, 0]
                pp[1] += 1
            if len(b.samples) < 10:
                b.samples.append(ev)
            dq = recent.get(src)
            if dq is None:
                dq = recent[src] = deque(maxlen=1000)
            dq.append(ev)
        return raised

    def _close_ssh(self, src: str) -> list[Event]:
        b = self.ssh.pop(src)
        conf = self.t["ssh_brute_force"]
        attempts = b.attempts()
        if attempts < conf["min_failures"]:
            return []
        spray = len(b.users) >= conf["spray_min_users"]
        title = f"{'password spray' if spray else 'SSH brute force'} from {src}: {attempts} failed logins"
        return [self._detection(b.first, "ssh_brute_force", title, b.samples, b.first.timestamp, b.last.timestamp,
                                "high" if attempts >= 10 * conf["min_failures"] else "medium",
                                ["T1110.003" if spray else "T1110.001"],
                                {"attempts": attempts, "lines": b.count, "users": sorted(b.users)[:50],
                                 "distinct_users": len(b.users)}, key=src)]

    def _web(self, ev: Event) -> list[Event]:
        out: list[Event] = []
        src = ev.src_ip or ev.domain or "?"
        url = ev.attributes.get("decoded_url") or ev.url or ev.attributes.get("request") or ""
        raw = ev.url or ""
        ua = ev.attributes.get("user_agent") or ""
        kinds = list(self._signatures[url, raw])
        if ua and self._scanner[ua]:
            kinds.append("scanner")
        for kind in kinds:
            ev.tags.append("web_attack")
            ev.tags.append(kind)
            ev.attack.append(_WEB_ATTACK[kind])
            if ev.severity == "info":
                ev.severity = "low" if kind == "scanner" else "medium"
            b = self.web.get((kind, src))
            if b is None:
                b = self.web[(kind, src)] = _Burst(ev, ev)
            b.last = ev
            b.count += 1
            if len(b.samples) < self.t["web_attack"]["max_samples"]:
                b.samples.append(ev)
        status = ev.attributes.get("status")
        method = ev.attributes.get("method")
        if status in (401, 403) or (method == "POST" and LOGIN_URL.search(ev.url or "")):
            out += self.http_attempt(ev, src)
        return out

    def http_attempt(self, ev: Event, src: str) -> list[Event]:
        """A 401/403 answer or a POST to a login URL from `src` (the HTTP brute-force rule)."""
        out: list[Event] = []
        conf = self.t["http_brute_force"]
        b = self.http.get(src)
        if b and ev.timestamp - b.last.timestamp > conf["max_gap_s"] * _S:
            out += self._close_http(src)
            b = None
        if b is None:
            b = self.http[src] = _Burst(ev, ev)
        b.last = ev
        b.count += 1
        if len(b.samples) < 10:
            b.samples.append(ev)
        return out

    def _close_http(self, src: str) -> list[Event]:
        b = self.http.pop(src)
        if b.count < self.t["http_brute_force"]["min_attempts"]:
            return []
        return [self._detection(b.first, "http_brute_force", f"HTTP brute force from {src}: {b.count} login attempts",
                                b.samples, b.first.timestamp, b.last.timestamp, "medium", ["T1110"],
                                {"attempts": b.count}, key=src)]

    def _clearing(self, ev: Event, cmd: str) -> Event:
        ev.tags.append("log_clearing")
        ev.attack.append("T1070")
        ev.severity = "high"
        return self._detection(ev, "log_clearing", f"log clearing: {cmd[:200]}", [ev], ev.timestamp, ev.timestamp,
                               "high", ["T1070.002" if "var/log" in cmd or "journal" in cmd else "T1070"],
                               {"command": cmd[:2000]})

    def _gap(self, ev: Event) -> None:
        prev, self.prev = self.prev, ev
        if prev is None:
            return
        gap = ev.timestamp - prev.timestamp
        if gap > self._min_gap:
            key = (gap, prev.timestamp, prev.locator, ev.locator)
            if len(self.gaps) < self._max_gaps:
                heapq.heappush(self.gaps, key + (event_id(prev), event_id(ev)))
            elif self.gaps and self.gaps[0][:4] < key:  # locators are unique, so the ids never decide the order
                heapq.heapreplace(self.gaps, key + (event_id(prev), event_id(ev)))

    def _detection(self, anchor: Event, rule: str, title: str, cited: list[Event], first: int, last: int,
                   severity: str, attack: list[str], extra: dict, key: str = "") -> Event:
        attrs = {"rule": rule, "title": title, "first_seen": iso_utc(first), "last_seen": iso_utc(last),
                 "evidence_event_ids": [event_id(e) for e in cited], "evidence_locators": [e.locator for e in cited],
                 "thresholds": self.t.get(rule, {}), **{k: v for k, v in extra.items() if v is not None}}
        return Event(timestamp=first, data_type="detection", locator=anchor.locator, timestamp_desc="First Seen",
                     message=title, host=anchor.host, user=anchor.user, src_ip=anchor.src_ip, domain=anchor.domain,
                     tags=["detection", rule], attack=attack, gbt_category="NA" if rule not in ("log_gap",) else None,
                     severity=severity, attributes=attrs, discriminator=f"detection:{rule}:{key}:{first}")


_WEB_ATTACK = {"sql_injection": "T1190", "path_traversal": "T1083", "webshell": "T1505.003", "exploit": "T1190",
               "scanner": "T1595.002"}
_WEB_TITLES = {k: t for k, t, _, _ in WEB_SIGNATURES} | {"scanner": "vulnerability scanner"}


def run(events: list[Event], thresholds: dict | None = None) -> Iterator[Event]:
    """Convenience for tests and callers with events in hand."""
    d = Detector(thresholds)
    for ev in events:
        yield from d.feed(ev)
    yield from d.finish()
