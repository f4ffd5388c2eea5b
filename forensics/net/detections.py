"""Network detections over finished flows and DNS queries.

Each detector keeps bounded per-key state while the capture streams and emits
`detection` events (tags, ATT&CK ids, GB/T 20986-2023 category) either when a
threshold is crossed or at the end of the capture. Thresholds come from
thresholds.yaml. A detection cites the first flow or query that fed it
(locator) and lists sample locators in its attributes.
"""
from __future__ import annotations

import ipaddress
import math
from array import array
from collections import Counter, deque
from functools import lru_cache

import numpy as np

from forensics.events import Event
from forensics.net.decode import ip_str
from forensics.net.flows import PROTO_NAMES

MAX_KEYS = 65536  # bound on tracked sources/destinations/domains per detector
SAMPLES = 5


@lru_cache(maxsize=1 << 16)  # called twice per flow; the same servers and clients recur
def is_internal(addr: bytes) -> bool:
    ip = ipaddress.ip_address(addr)
    return ip.is_private or ip.is_loopback or ip.is_link_local


def registered_domain(name: str) -> str:
    labels = [x for x in name.lower().rstrip(".").split(".") if x]
    if len(labels) <= 2:
        return ".".join(labels)
    # two-letter ccTLD with a generic second level (co.uk, com.cn, ...) keeps three labels
    if len(labels[-1]) == 2 and labels[-2] in ("co", "com", "net", "org", "gov", "edu", "ac"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def half_open(fl) -> bool:
    """A TCP attempt that never got past the client's SYN: no answer, no payload either way."""
    return fl.proto == 6 and fl.state() == "S0" and not fl.la and not fl.lb and not fl.pb


def entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def _detection(kind: str, ts: int, locator: str, message: str, attack: list[str], tags: list[str],
               severity: str, gbt: str | None, attrs: dict, key: str, **ents) -> Event:
    attrs = dict(attrs, detector=kind)
    return Event(timestamp=ts, data_type="detection", message=message, locator=locator, timestamp_desc="First Seen",
                 attack=attack, tags=tags, severity=severity, gbt_category=gbt, attributes=attrs,
                 discriminator=f"det-{kind}-{key}", **ents)


class Detectors:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.ready: list[Event] = []
        # port scan: src -> {"ports": {dst: set(ports)}, "hosts": {port: set(dst)}, first, locs, done}
        self.scan: dict[bytes, dict] = {}
        self.brute: dict[tuple, deque] = {}
        self.brute_done: set = set()
        self.beacon: dict[tuple, list] = {}  # (src,dst,port,proto) -> [array starts, first locator]
        self.exfil_dst: dict[bytes, list] = {}  # dst -> [bytes, flows, first ts, locator, srcs]
        self.services: dict[tuple, list] = {}  # (dst,port,proto) -> [array starts, bytearray answered, array served, locs]
        self.dns: dict[str, dict] = {}
        # SYN flood: (dst,port,proto) -> [array starts, array source ids, first locator]; sources interned once
        self.flood: dict[tuple, list] = {}
        self.flood_src: dict[bytes, int] = {}
        self.flood_addr: list[bytes] = []  # source id -> address

    # -- feeds ------------------------------------------------------------------
    def flow(self, fl) -> None:
        if fl.proto not in (6, 17):
            return
        self._scan(fl)
        self._brute(fl)
        self._beacon(fl)
        self._exfil(fl)
        self._service(fl)
        self._flood(fl)

    def dns_query(self, qname: str, qtype: str, ev: Event) -> None:
        c = self.cfg["dns_tunnel"]
        dom = registered_domain(qname)
        if not dom:
            return
        st = self.dns.get(dom)
        if st is None:
            if len(self.dns) >= MAX_KEYS:
                return
            st = self.dns[dom] = {"n": 0, "susp": 0, "txt": 0, "subs": set(), "first": ev.timestamp,
                                  "last": ev.timestamp, "loc": ev.locator, "samples": [], "src": ev.src_ip,
                                  "longest": 0}
        st["n"] += 1
        st["last"] = ev.timestamp
        sub = qname.lower().rstrip(".")[: -len(dom)].rstrip(".")
        if len(st["subs"]) <= c["min_unique_subdomains"]:
            st["subs"].add(sub)
        if qtype == "TXT":
            st["txt"] += 1
        for label in sub.split("."):
            st["longest"] = max(st["longest"], len(label))
            if len(label) >= c["long_label"] or (len(label) >= c["entropy_min_len"] and entropy(label) >= c["entropy_bits"]):
                st["susp"] += 1
                if len(st["samples"]) < SAMPLES:
                    st["samples"].append(qname)
                break

    # -- detectors --------------------------------------------------------------
    def _scan(self, fl) -> None:
        # a probe is a connection attempt that never became a conversation
        if fl.proto == 6:
            if fl.state() not in ("S0", "REJ", "SH", "RSTO", "RSTR", "OTH") or fl.la or fl.lb:
                return
        elif fl.pb:
            return
        c = self.cfg["port_scan"]
        st = self.scan.get(fl.a)
        win = c["window_s"] * 1_000_000
        if st is None or fl.first - st["first"] > win and not st["done"]:
            if st is None and len(self.scan) >= MAX_KEYS:
                return
            st = self.scan[fl.a] = {"ports": {}, "hosts": {}, "first": fl.first, "last": fl.first,
                                    "loc": fl.locator, "done": False, "probes": 0}
        if st["done"]:
            return
        st["probes"] += 1
        st["last"] = max(st["last"], fl.first)
        ports = st["ports"].setdefault(fl.b, set())
        ports.add(fl.bp)
        hosts = st["hosts"].setdefault(fl.bp, set())
        hosts.add(fl.b)
        if len(ports) >= c["min_distinct_ports"] or len(hosts) >= c["min_distinct_hosts"]:
            st["done"] = True
            vertical = len(ports) >= c["min_distinct_ports"]
            src = ip_str(fl.a)
            target = ip_str(fl.b) if vertical else f"port {fl.bp}"
            what = (f"{len(ports)} ports on {target}" if vertical else f"{len(hosts)} hosts on {target}")
            self.ready.append(_detection(
                "port_scan", st["first"], st["loc"],
                f"Port scan from {src}: {what} probed without a conversation",
                ["T1046"], ["network_scan", "reconnaissance"], "medium", "NA",
                {"kind": "vertical" if vertical else "horizontal", "distinct_ports": len(ports),
                 "distinct_hosts": len(hosts), "probes": st["probes"], "first_seen_us": st["first"],
                 "last_seen_us": st["last"], "threshold": c}, f"{src}-{target}",
                src_ip=src, dst_ip=ip_str(fl.b) if vertical else None, proto=PROTO_NAMES[fl.proto]))
            st["ports"], st["hosts"] = {}, {}  # done: free the sets

    def _brute(self, fl) -> None:
        c = self.cfg["brute_force"]
        if fl.proto != 6 or fl.bp not in c["ports"] or not fl.answered() or fl.la > c["max_flow_payload_out"]:
            return
        key = (fl.a, fl.b, fl.bp)
        if key in self.brute_done:
            return
        q = self.brute.get(key)
        if q is None:
            if len(self.brute) >= MAX_KEYS:
                return
            q = self.brute[key] = deque()
        q.append((fl.first, fl.locator))
        win = c["window_s"] * 1_000_000
        while q and fl.first - q[0][0] > win:
            q.popleft()
        if len(q) >= c["min_attempts"]:
            self.brute_done.add(key)
            src, dst = ip_str(fl.a), ip_str(fl.b)
            self.ready.append(_detection(
                "brute_force", q[0][0], q[0][1],
                f"Brute force suspected: {len(q)} short connections from {src} to {dst}:{fl.bp} within {c['window_s']} s",
                ["T1110"], ["brute_force", "credential_access"], "high", "NA",
                {"attempts": len(q), "window_s": c["window_s"], "service": f"{dst}:{fl.bp}/tcp",
                 "sample_locators": [x[1] for x in list(q)[:SAMPLES]], "threshold": c}, f"{src}-{dst}-{fl.bp}",
                src_ip=src, dst_ip=dst, dst_port=fl.bp, proto="tcp"))
            del self.brute[key]

    def _beacon(self, fl) -> None:
        c = self.cfg["beaconing"]
        if half_open(fl):
            return  # a SYN nobody answered carries no command: a flood's bots repeat on a timer too
        key = (fl.a, fl.b, fl.bp, fl.proto)
        st = self.beacon.get(key)
        if st is None:
            if len(self.beacon) >= c["max_tracked_pairs"]:
                return
            st = self.beacon[key] = [array("q"), fl.locator, 0]
        if len(st[0]) < c["max_starts_per_pair"]:
            st[0].append(fl.first)
        st[2] += fl.la

    def _exfil(self, fl) -> None:
        c = self.cfg["exfiltration"]
        if c["external_only"] and not (is_internal(fl.a) and not is_internal(fl.b)):
            return
        if fl.la >= c["flow_bytes_out"] and fl.la >= c["flow_out_in_ratio"] * max(fl.lb, 1):
            src, dst = ip_str(fl.a), ip_str(fl.b)
            self.ready.append(_detection(
                "large_outbound_flow", fl.first, fl.locator,
                f"Large outbound transfer: {src} sent {fl.la} bytes to {dst}:{fl.bp} in one connection",
                ["T1048", "T1041"], ["exfiltration", "data_transfer"], "high", "DSDATALEAK",
                {"payload_out": fl.la, "payload_in": fl.lb, "first_seen_us": fl.first, "last_seen_us": fl.last,
                 "threshold": c}, f"{fl.locator}", src_ip=src, dst_ip=dst, dst_port=fl.bp,
                proto=PROTO_NAMES[fl.proto], bytes_out=fl.la, bytes_in=fl.lb))
        st = self.exfil_dst.get(fl.b)
        if st is None:
            if len(self.exfil_dst) >= MAX_KEYS:
                return
            st = self.exfil_dst[fl.b] = [0, 0, fl.first, fl.locator, set(), fl.last, 0]
        st[0] += fl.la
        st[6] += fl.lb
        st[1] += 1
        st[5] = max(st[5], fl.last)
        if len(st[4]) < SAMPLES:
            st[4].add(ip_str(fl.a))

    def _flood(self, fl) -> None:
        """Half-open TCP attempts per service, for the flood detector. (Unanswered UDP is not counted:
        syslog, NetFlow and SNMP traps are one-way by design and would read as floods.)"""
        if not half_open(fl):
            return
        key = (fl.b, fl.bp, fl.proto)
        st = self.flood.get(key)
        if st is None:
            if len(self.flood) >= MAX_KEYS:
                return
            st = self.flood[key] = [array("q"), array("q"), fl.locator]
        if len(st[0]) >= self.cfg["dos"]["max_attempts_per_service"]:
            return
        sid = self.flood_src.get(fl.a)
        if sid is None:
            if len(self.flood_src) >= (1 << 22):
                return
            sid = self.flood_src[fl.a] = len(self.flood_addr)
            self.flood_addr.append(fl.a)
        st[0].append(fl.first)
        st[1].append(sid)

    def _service(self, fl) -> None:
        key = (fl.b, fl.bp, fl.proto)
        st = self.services.get(key)
        if st is None:
            if len(self.services) >= MAX_KEYS:
                return
            st = self.services[key] = [array("q"), bytearray(), array("q"), []]
        if len(st[0]) >= 1 << 21:
            return
        st[0].append(fl.first)
        st[1].append(1 if fl.answered() else 0)
        st[2].append(fl.last)
        if not fl.answered() and len(st[3]) < 1:
            st[3].append(fl.locator)

    # -- end of capture -------------------------------------------------------
    def finish(self) -> list[Event]:
        out = list(self.ready)
        self.ready = []
        out += self._finish_beacons()
        out += self._finish_exfil_dst()
        out += self._finish_dns()
        out += self._finish_outages()
        out += self._finish_floods()
        return out

    def _finish_floods(self) -> list[Event]:
        """Denial of service: many half-open attempts on one service from many sources within a window.

        Every attempt that has at least `min_attempts` attempts (itself included) within the next
        `window_s` seconds opens a flood window; the union of those windows, split where they stop
        overlapping, gives the flood episodes, each reported once with its span, peak and sources.
        """
        c = self.cfg["dos"]
        win = int(c["window_s"] * 1_000_000)
        out = []
        for (b, port, proto), (starts, srcs, loc) in sorted(self.flood.items()):
            if len(starts) < c["min_attempts"]:
                continue
            t = np.frombuffer(starts, dtype=np.int64)
            s = np.frombuffer(srcs, dtype=np.int64)
            order = np.argsort(t, kind="stable")
            t, s = t[order], s[order]
            ends = np.searchsorted(t, t + win, side="left")  # window [t_i, t_i + win)
            counts = ends - np.arange(len(t))
            opens = np.flatnonzero(counts >= c["min_attempts"])
            if not len(opens):
                continue
            # coverage of the union of flood windows: +1 at each opening attempt, -1 after its window
            delta = np.zeros(len(t) + 1, dtype=np.int64)
            np.add.at(delta, opens, 1)
            np.add.at(delta, ends[opens], -1)
            covered = np.cumsum(delta[:-1]) > 0
            # an episode is a run of covered attempts; a pause longer than the window ends it
            starts_run = covered & np.concatenate(([True], ~covered[:-1] | (np.diff(t) > win)))
            ends_run = covered & np.concatenate((~covered[1:] | (np.diff(t) > win), [True]))
            for i, j in zip(np.flatnonzero(starts_run), np.flatnonzero(ends_run) + 1):
                sources = np.unique(s[i:j])
                if len(sources) < c["min_sources"]:
                    continue
                peak = int(counts[i:j].max())
                svc = f"{ip_str(b)}:{port}/{PROTO_NAMES[proto]}"
                first, last = int(t[i]), int(t[j - 1])
                kind = "SYN flood"
                out.append(_detection(
                    "dos_flood", first, loc if i == 0 else f"{loc};from_us={first}",
                    f"Denial of service ({kind}) on {svc}: {j - i} unanswered attempts from {len(sources)} sources "
                    f"over {(last - first) / 1e6:.0f} s (peak {peak} in {c['window_s']} s)",
                    ["T1498", "T1499"], ["dos", "availability"], "high", "NADOS",
                    {"service": svc, "kind": kind, "attempts": int(j - i), "sources": int(len(sources)),
                     "peak_attempts_in_window": peak, "window_s": c["window_s"], "first_seen_us": first,
                     "last_seen_us": last, "threshold": c,
                     # the botnet is attacker infrastructure: its addresses, bounded (a reader wants the networks)
                     "source_addresses": sorted(ip_str(self.flood_addr[x]) for x in sources[:c["max_listed_sources"]])},
                    f"{svc}-{first}", dst_ip=ip_str(b), dst_port=port, proto=PROTO_NAMES[proto]))
        return out

    def _finish_beacons(self) -> list[Event]:
        c = self.cfg["beaconing"]
        out = []
        for (a, b, port, proto), (starts, loc, payload) in self.beacon.items():
            if len(starts) < c["min_connections"]:
                continue
            t = np.sort(np.frombuffer(starts, dtype=np.int64))
            iv = np.diff(t) / 1e6
            mean = float(iv.mean())
            if mean < c["min_interval_s"]:
                continue
            jitter = float(iv.std() / mean) if mean else 1.0
            if jitter > c["max_jitter_ratio"]:
                continue
            src, dst = ip_str(a), ip_str(b)
            out.append(_detection(
                "beaconing", int(t[0]), loc,
                f"Beaconing: {src} contacted {dst}:{port} {len(t)} times every {mean:.1f} s (jitter {jitter:.0%})",
                ["T1071"], ["c2", "beaconing"], "high", "MP",
                {"connections": len(t), "mean_interval_s": round(mean, 3), "jitter_ratio": round(jitter, 4),
                 "first_seen_us": int(t[0]), "last_seen_us": int(t[-1]), "payload_out": payload, "threshold": c},
                f"{src}-{dst}-{port}-{proto}", src_ip=src, dst_ip=dst, dst_port=port, proto=PROTO_NAMES[proto]))
        return out

    def _finish_exfil_dst(self) -> list[Event]:
        c = self.cfg["exfiltration"]
        out = []
        for b, (nbytes, flows, first, loc, srcs, last, back) in self.exfil_dst.items():
            if nbytes < c["destination_bytes_out"] or nbytes < c["flow_out_in_ratio"] * max(back, 1):
                continue
            dst = ip_str(b)
            out.append(_detection(
                "large_outbound_destination", first, loc,
                f"Large outbound volume to {dst}: {nbytes} bytes over {flows} connections",
                ["T1048", "T1041"], ["exfiltration", "data_transfer"], "high", "DSDATALEAK",
                {"payload_out": nbytes, "payload_in": back, "flows": flows, "sources": sorted(srcs),
                 "first_seen_us": first, "last_seen_us": last, "threshold": c}, dst,
                dst_ip=dst, bytes_out=nbytes, bytes_in=back))
        return out

    def _finish_dns(self) -> list[Event]:
        c = self.cfg["dns_tunnel"]
        out = []
        for dom, st in sorted(self.dns.items()):
            reasons = []
            if st["susp"] >= c["min_suspicious_queries"]:
                reasons.append(f"{st['susp']} queries with long or high-entropy labels")
            if st["txt"] >= c["min_txt_queries"]:
                reasons.append(f"{st['txt']} TXT queries")
            if len(st["subs"]) > c["min_unique_subdomains"]:
                reasons.append(f"more than {c['min_unique_subdomains']} unique subdomains")
            if not reasons:
                continue
            out.append(_detection(
                "dns_tunnel", st["first"], st["loc"], f"DNS tunnelling suspected via {dom}: " + "; ".join(reasons),
                ["T1071.004"], ["c2", "dns_tunnel"], "high", "NA",
                {"domain": dom, "queries": st["n"], "suspicious_queries": st["susp"], "txt_queries": st["txt"],
                 "unique_subdomains": len(st["subs"]), "longest_label": st["longest"], "samples": st["samples"],
                 "first_seen_us": st["first"], "last_seen_us": st["last"], "threshold": c}, dom,
                domain=dom, src_ip=st["src"]))
        return out

    def _finish_outages(self) -> list[Event]:
        """A service that answered, then left clients unanswered for a while = outage candidate."""
        c = self.cfg["outage"]
        min_gap = c["min_gap_s"] * 1_000_000
        out = []
        for (b, port, proto), (starts, answered, lasts, locs) in self.services.items():
            ok = np.frombuffer(bytes(answered), dtype=np.uint8).astype(bool)
            if ok.all() or not ok.any():
                continue  # never failed, or never served: no gap to speak of
            t = np.frombuffer(starts, dtype=np.int64)
            end_t = np.frombuffer(lasts, dtype=np.int64)
            order = np.argsort(t, kind="stable")
            t, ok, end_t = t[order], ok[order], end_t[order]
            # runs of unanswered attempts that follow an answered one
            i = int(np.argmax(ok))
            n = len(t)
            while i < n:
                while i < n and ok[i]:
                    i += 1
                if i >= n:
                    break
                j = i
                while j < n and not ok[j]:
                    j += 1
                gap_start = int(end_t[:i].max())  # the server's last answered conversation ended here
                recovered = j < n
                gap_end = int(t[j]) if recovered else int(end_t[i:j].max())
                attempts = j - i
                if attempts >= c["min_unanswered"] and gap_end - gap_start >= min_gap:
                    svc = f"{ip_str(b)}:{port}/{PROTO_NAMES[proto]}"
                    out.append(_detection(
                        "service_outage", gap_start, locs[0] if locs else "",
                        f"Service {svc} stopped answering: {attempts} unanswered attempts over "
                        f"{(gap_end - gap_start) / 1e6:.0f} s" + ("" if recovered else " (no recovery seen)"),
                        [], ["service_outage", "availability"], "medium", None,
                        {"service": svc, "gap_start_us": gap_start, "gap_end_us": gap_end,
                         "unanswered_attempts": attempts, "recovered": recovered, "threshold": c},
                        f"{svc}-{gap_start}", dst_ip=ip_str(b), dst_port=port, proto=PROTO_NAMES[proto]))
                i = j
        return out
