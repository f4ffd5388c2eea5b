"""Benign background activity that --scale multiplies: Internet browsing with
DNS, admin and cron activity in syslog, web hits, Windows service logons.
Each generator is lazy and time-ordered so a large scale streams to disk."""
from __future__ import annotations

import heapq
from typing import Iterator

import numpy as np

from scenarios.writers import logs, pcap, winevents
from scenarios.writers.clock import HOUR, MINUTE, US

BENIGN_SITES = (
    ("www.baidu.com", "110.242.68.66"), ("mirrors.aliyun.com", "120.55.105.4"),
    ("update.microsoft.com", "13.107.4.50"), ("www.qq.com", "121.14.77.201"),
    ("api.weixin.qq.com", "101.91.0.64"), ("cdn.jsdelivr.net", "104.16.85.20"),
    ("time.windows.com", "52.231.114.183"), ("www.gov.cn", "36.110.219.211"),
)


def _in_time_order(batches: Iterator[tuple[int, list]]) -> Iterator:
    """Items come in hourly batches whose items may spill past the hour (a logoff a minute
    later); hold them in a heap and release each once no later batch can precede it."""
    heap: list = []
    for hour, items in batches:
        while heap and heap[0][0] < hour:
            yield heapq.heappop(heap)[-1]
        for it in items:
            heapq.heappush(heap, it)
    while heap:
        yield heapq.heappop(heap)[-1]


def _hour_starts(rng: np.random.Generator, hour: int, n: int) -> list[int]:
    # keep a second of margin so every session of this hour starts before the next hour's
    return sorted(int(x) for x in hour + rng.integers(0, HOUR - US, n))


def web_browsing(ff: pcap.FrameFactory, filler: pcap.Filler, rng: np.random.Generator, clients: list[str],
                 resolver: str, start: int, end: int, per_hour: int, scale: int) -> Iterator[pcap.Session]:
    """Workstations resolving and fetching from well-known sites over HTTPS."""
    n_per_hour = per_hour * scale
    for hour in range(start // HOUR * HOUR, end, HOUR):
        batch = []
        for t in _hour_starts(rng, hour, n_per_hour):
            if not start <= t < end:
                continue
            client = clients[int(rng.integers(0, len(clients)))]
            name, ip = BENIGN_SITES[int(rng.integers(0, len(BENIGN_SITES)))]
            port = int(rng.integers(49152, 65534))
            txid = int(rng.integers(0, 65535))
            resp = int(rng.integers(2_000, 24_000))
            batch.append((t, len(batch), lambda t=t, c=client, p=port, n=name, ip=ip, x=txid:
                          pcap.dns_exchange(ff, t, c, p, resolver, n, [ip], txid=x)))
            ex = pcap.https_exchanges(name, filler.take(t, 32), 700, resp, 30_000)
            t2 = t + 15_000
            batch.append((t2, len(batch), lambda t2=t2, c=client, p=port + 1, ip=ip, ex=ex:
                          pcap.tcp_session(ff, filler, t2, c, p, ip, 443, ex, rtt_us=30_000, ttl_s=52,
                                           isn=t2 // US % 100_000)))
        for t, _, make in sorted(batch, key=lambda x: (x[0], x[1])):
            yield t, make()


def polling(ff: pcap.FrameFactory, filler: pcap.Filler, clients: list[str], server: str, port: int, start: int,
            end: int, interval_s: int, outages: list[tuple[int, int]], request: bytes, response: bytes,
            retry_s: int = 300) -> Iterator[pcap.Session]:
    """Clients holding a persistent connection to a service and polling it; when the service
    goes down the connection dies without FIN and clients retry with unanswered SYNs until
    it is back, then reconnect."""
    sessions: list[tuple[int, int, object]] = []
    cuts = sorted(outages)
    for ci, client in enumerate(clients):
        offset = (ci * interval_s * US) // max(1, len(clients))  # clients poll staggered
        up_from = start + offset
        periods = []
        for o_start, o_end in cuts:
            periods.append((up_from, o_start, False))
            up_from = o_end + offset // 10
        periods.append((up_from, end, True))
        for k, (a, b, last) in enumerate(periods):
            if b <= a:
                continue
            n_polls = (b - a - 100_000) // (interval_s * US)
            cport = 50000 + ci * 100 + k

            def exchanges(n=n_polls):
                for i in range(n):
                    yield pcap.Exchange("c", request, interval_s * US if i else 5_000)
                    yield pcap.Exchange("s", response, 3_000)
            sessions.append((a, len(sessions), lambda a=a, c=client, p=cport, ex=exchanges, last=last:
                             pcap.tcp_session(ff, filler, a, c, p, server, port, ex(), rtt_us=600,
                                              close=last, isn=p)))
        for o_start, o_end in cuts:
            t = o_start + 60 * US + offset
            k = 0
            while t < o_end - 10 * US:
                cport = 40000 + ci * 1000 + k % 1000
                sessions.append((t, len(sessions), lambda t=t, c=client, p=cport: pcap.syn_unanswered(ff, t, c, p, server, port)))
                t += retry_s * US
                k += 1
    for t, _, make in sorted(sessions, key=lambda x: (x[0], x[1])):
        yield t, make()


ADMIN_CMDS = ("/usr/bin/systemctl status nginx", "/usr/bin/journalctl -u app --since today", "/usr/bin/df -h",
              "/usr/bin/apt-get update", "/usr/bin/tail -n 100 /var/log/syslog")


def syslog_activity(rng: np.random.Generator, host: str, admin: str, admin_ip: str, start: int, end: int,
                    per_hour: int, scale: int) -> Iterator[logs.Line]:
    """cron runs every 10 minutes, and admins logging in with keys and running sudo."""
    def batches():
        pid = 20000
        n = 0
        for hour in range(start // HOUR * HOUR, end, HOUR):
            events = [(t, "cron") for t in range(hour, hour + HOUR, 10 * MINUTE)]
            events += [(t, "admin") for t in _hour_starts(rng, hour, per_hour * scale)]
            items = []
            for t, kind in sorted(events):
                if not start <= t < end:
                    continue
                pid += 7
                if kind == "cron":
                    lines = [logs.syslog_line(t, host, "CRON", pid, "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")]
                else:
                    port = int(rng.integers(40000, 60000))
                    cmd = ADMIN_CMDS[int(rng.integers(0, len(ADMIN_CMDS)))]
                    lines = [
                        logs.syslog_line(t, host, "sshd", pid, f"Accepted publickey for {admin} from {admin_ip} port {port} ssh2: ED25519 SHA256:q0bV3kz9mJ4xZt8lq7Rk2w8b1Jp0YcYt1f5r0d6Kx2E"),
                        logs.syslog_line(t + 2 * US, host, "sudo", None, f"   {admin} : TTY=pts/0 ; PWD=/home/{admin} ; USER=root ; COMMAND={cmd}"),
                        logs.syslog_line(t + 60 * US, host, "sshd", pid, f"pam_unix(sshd:session): session closed for user {admin}")]
                for line in lines:
                    n += 1
                    items.append((line[0], n, line))
            yield hour, items
    return _in_time_order(batches())


def http_json_response(body: dict) -> bytes:
    import json
    data = json.dumps(body, sort_keys=True).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(data)).encode() + b"\r\n\r\n" + data)


PAGES = ("/", "/index.html", "/api/v1/status", "/static/app.js", "/static/site.css", "/login", "/api/v1/orders",
         "/products", "/news/2026/03", "/favicon.ico")


def web_hits(rng: np.random.Generator, clients_prefix: str, start: int, end: int, per_hour: int, scale: int,
             utc_offset_hours: int, down: list[tuple[int, int]] = ()) -> Iterator[logs.Line]:
    """Ordinary visitors; while the site is down the front end answers 503."""
    for hour in range(start // HOUR * HOUR, end, HOUR):
        for t in _hour_starts(rng, hour, per_hour * scale):
            if not start <= t < end:
                continue
            client = f"{clients_prefix}.{int(rng.integers(2, 250))}"
            path = PAGES[int(rng.integers(0, len(PAGES)))]
            is_down = any(a <= t < b for a, b in down)
            status, size = (503, 197) if is_down else (200, int(rng.integers(300, 40_000)))
            yield logs.access_line(t, client, "GET", path, status, size, utc_offset_hours=utc_offset_hours)


def windows_service_logons(rng: np.random.Generator, computers: list[str], account: str, source_ip: str,
                           start: int, end: int, per_hour: int, scale: int, seq0: int) -> Iterator[winevents.WinEvent]:
    """A backup/monitoring service account logging on over the network (4624 type 3, then 4634)."""
    def batches():
        seq = seq0
        for hour in range(start // HOUR * HOUR, end, HOUR):
            items = []
            for t in _hour_starts(rng, hour, per_hour * scale):
                if not start <= t < end:
                    continue
                comp = computers[int(rng.integers(0, len(computers)))]
                lid = f"0x{int(rng.integers(0x100000, 0xFFFFFF)):x}"
                seq += 1
                on = winevents.WinEvent(t, seq, comp, winevents.SECURITY, 4624, {
                    "SubjectUserName": "-", "TargetUserName": account, "TargetDomainName": "CORP", "LogonType": 3,
                    "TargetLogonId": lid, "IpAddress": source_ip, "IpPort": int(rng.integers(49152, 65535)),
                    "LogonProcessName": "NtLmSsp", "AuthenticationPackageName": "NTLM", "WorkstationName": "BACKUP01"})
                seq += 1
                off = winevents.WinEvent(t + 3 * US, seq, comp, winevents.SECURITY, 4634, {
                    "TargetUserName": account, "TargetDomainName": "CORP", "TargetLogonId": lid, "LogonType": 3})
                items += [(on.ts, on.seq, on), (off.ts, off.seq, off)]
            yield hour, items
    return _in_time_order(batches())
