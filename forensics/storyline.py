"""The incident storyline: the facts adjusters need, each citing the events it rests on.

Everything is a set-wise DuckDB query over the case's events (clock offsets
applied, see `timecorrect`); Python only sees the few rows each fact needs.
The reasoning, in order:

1. indicators: events that say "attack" on their own (detections, Sigma /
   YARA / Hayabusa matches, high or critical severity, a GB/T category);
   ATT&CK ids alone are weaker (every service install carries T1543.003);
2. attacker infrastructure: external addresses that *succeeded* — logged on
   after failures, received C2 or exfiltration traffic, or were the source of
   an exploit whose victim then called back — not every Internet scanner;
3. T0 = first contact with that infrastructure or first indicator on a
   compromised host; compromised hosts grow along lateral movement;
4. impact, outages, exfiltration, extortion, BEC, attribution and the GB/T
   20986-2023 classification follow from the same sets.

Confidence is a stated heuristic, not a probability: higher when independent
evidence items agree.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb

from forensics.attack_tactics import ordered_tactics, techniques_for
from forensics.entities import host_id, ip_key, is_private
from forensics.events import iso_utc
from forensics.storyline_model import Exfiltration, Fact, Outage, Storyline

MAX_CITES = 20
HOUR_US = 3_600_000_000

# Times an event can really carry. Untimed records (YARA hits on a file, memory artefacts) carry 0,
# and a clock offset applied to 0, a broken RTC or a parser's epoch default give dates no incident
# of ours has: such events never date a fact (T0, first/last seen, chronology), but they are still
# cited as supporting evidence where they matter (impact, extortion, infrastructure).
MIN_PLAUSIBLE_US = 631_152_000_000_000  # 1990-01-01T00:00:00Z
MAX_PLAUSIBLE_US = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
TIMED = f"(timestamp BETWEEN {MIN_PLAUSIBLE_US} AND {MAX_PLAUSIBLE_US})"


def plausible(ts_us: int | None) -> bool:
    return ts_us is not None and MIN_PLAUSIBLE_US <= ts_us <= MAX_PLAUSIBLE_US

# "this event on its own says attack" (STRONG), or a command that uploads a local file to a remote host
# (UPLOAD: a staged theft that stayed under the network detection's volume threshold). A detection with no ATT&CK technique, no GB/T code and below
# high severity is an observation (a service that stopped answering, a silent log), not an attack:
# an operator's mistake produces those too.
STRONG = ("((data_type = 'detection' AND (len(attack) > 0 OR severity IN ('high', 'critical')))"
          " OR data_type IN ('yara:match', 'memory:injection') OR data_type LIKE 'sigma%' "
          "OR data_type LIKE 'hayabusa%' OR severity IN ('high', 'critical') OR gbt_category IS NOT NULL "
          "OR (process_cmdline IS NOT NULL AND regexp_matches(process_cmdline, '{upload}')))")


def _techs_sql(*tactics: str) -> str:
    """SQL: the event carries a technique of one of these tactics (sub-techniques included)."""
    ids = ", ".join(f"'{t}'" for t in techniques_for(*tactics))
    return f"len(list_filter(attack, lambda a: split_part(a, '.', 1) IN ({ids}))) > 0"


# GB/T 20986-2023 categories. MP/NA/DS/IC/DE/RO/SHE/AB/FOC/OTH and the sub-codes
# MPRANS, NADOS, DSDATALEAK are the ones DESIGN.md names; DSDATATAMPER follows the
# same pattern and should be checked against the standard's annex before a report
# relies on it. Where we cannot name a sub-code we give the category only.
GBT_NAMES = {
    "MPRANS": "有害程序事件/勒索软件事件 (ransomware)",
    "MPOTH": "有害程序事件/其他有害程序事件 (other malicious program: destructive malware, wiper)",
    "MP": "有害程序事件 (malicious program)",
    "NADOS": "网络攻击事件/拒绝服务攻击事件 (denial of service)",
    "NA": "网络攻击事件 (network attack)",
    "DSDATALEAK": "数据安全事件/数据泄露事件 (data leak)",
    "DSDATATAMPER": "数据安全事件/数据篡改事件 (data tampering)",
    "DS": "数据安全事件 (data security, incl. social engineering)",
    "RO": "违规操作事件 (improper operation)",
    "DE": "设备设施故障事件 (equipment failure)",
    "OTH": "其他事件 (other)",
}

_RANSOM_NOTE = r"(?i)(readme|read_me|restore|decrypt|recover|how_to|ransom|_readme|!!!).*\.(txt|html?|hta|rtf)$"
_ENCRYPTED_EXT = r"(?i)\.(locked|encrypted|enc|crypt|crypted|lock|ryk|conti|lockbit|akira|royal|blackcat|wncry|cerber)$"
_DESTRUCTIVE = (r"(?i)(rm\s+-[a-z]*r[a-z]*f|rm\s+-[a-z]*f[a-z]*r|drop\s+(table|database|schema)|truncate\s+table|\bmkfs|"
                r"\bdd\s+if=|format\s+[a-z]:|del\s+/[sq]|remove-item\b.*-recurse|wipefs|delete\s+from\s+\w+\s*;?\s*$|"
                r"systemctl\s+(stop|disable)|shutdown\s+(/s|-h|-r)|zfs\s+destroy|lvremove|diskpart)")
_WALLET = r"\b(bc1[02-9ac-hj-np-z]{25,62}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|4[0-9AB][1-9A-HJ-NP-Za-km-z]{93})\b"
_DEMAND = r"(?i)(\d+(?:[.,]\d+)?)\s*(BTC|XMR|ETH|USDT|bitcoin|monero)"
_STATE = (r"(?i)(state[- ]sponsored|nation[- ]state|state[- ]backed|government[- ]backed|国家支持|国家背景|\bAPT\s?\d+\b|sandworm|GRU|lazarus"
          r"|(?:military|foreign) intelligence (?:unit|service|agency)[^.]{0,40}\bstate\b)")
# a government (not a vendor) making the attribution: what LMA5567A-style war exclusions accept
_GOV_ATTRIBUTION = (r"(?i)(\b(UK|US|United States|French|German|Australian|Chinese|the) Government (assesses|attributes|has attributed|judges)"
                    r"|Foreign, Commonwealth|National Cyber Security Centre|\bNCSC\b|\bCISA\b|Department of State|外交部|国家互联网应急中心|公安部)")
_MAJOR_IMPACT = r"(?i)(major detrimental impact|重大不利影响)"
_DOC_IP = r"\b(?:\d{1,3}\.){3}\d{1,3}\b"
_DOC_DOMAIN = r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,24})\b"
_INTEL_DOC = r"(?i)(indicators?( of compromise)?:|\bIOCs?\b|威胁情报|失陷指标)"
# a command that sends a local file to a remote URL or host (T1048 / T1567): curl -T / -F @ / --data-binary @,
# wget --post-file, scp/rsync to user@host, rclone copy, ftp/sftp put
_UPLOAD_CMD = (r"(?i)(\bcurl\b[^|;&]*\s(-T|--upload-file|-F\s*\S*=@|--data-binary\s+@|-d\s*@)\s*\S+[^|;&]*\b(https?|ftps?|sftp)://"
               r"|\bwget\b[^|;&]*--post-file|\b(scp|rsync)\b[^|;&]*\s\S+@[\w.-]+:|\brclone\s+(copy|sync|move)\b)")
STRONG = STRONG.replace("{upload}", _UPLOAD_CMD.replace("'", "''"))
_URL_HOST = r"(?i)\b(?:https?|ftps?|sftp)://([a-z0-9.-]+)"
# VPN concentrators' session lines: (user, remote address, assigned inner address)
_VPN_PATTERNS = (
    r"(?P<user>[^\s/\[\]]+)/(?P<remote>\d{1,3}(?:\.\d{1,3}){3}):\d+ MULTI_sva: pool returned IPv4=(?P<inner>\d{1,3}(?:\.\d{1,3}){3})",
    r"tunnel established user=(?P<user>\S+) remote_ip=(?P<remote>\d{1,3}(?:\.\d{1,3}){3}) assigned_ip=(?P<inner>\d{1,3}(?:\.\d{1,3}){3})",
)
# look-alike (typo-squatted) names of the services whose credentials phishing harvests
_LOOKALIKE = (r"(?i)(micr[0o]s[0o]ft|m1cros|0ff1?ice|0utl[0o][0o]k|outl00k|paypa1|g00g|app1e|amaz0n|a1ipay|we-?chat-?login"
              r"|(login|signin|secure|verify|account)s?[.-](microsoft|office|outlook|live|paypal|google|apple|amazon|alipay))")
_LOOKALIKE_OK = r"(?i)\.(microsoft|office|outlook|live|microsoftonline|paypal|google|apple|amazon|alipay)\.com$"
_WEB_EXPLOIT = r"(?i)(\.\./\.\./|%2e%2e%2f|\$\{jndi:|union\s+select|/etc/passwd|cmd\.exe|/bin/sh)"

# --- one pass for the text searches ---------------------------------------------------------------
# The storyline's wording searches (inbox rules, transfer instructions, wallets and ransom amounts, VPN
# session lines, service stops, failing health checks) each used to read the text of every event; in a
# large case almost no event holds any of those words. So one pass copies the events whose text holds
# any of them into `story_text`, and those queries read that instead of `events`. Every query that reads
# `story_text` must only be able to match rows holding one of these words (case-insensitively) in the
# column named, or satisfying TEXT_EXTRA: the words are a necessary condition, never the test itself,
# which stays in the query. tests/test_storyline_prefilter.py checks the storyline is the same with
# `story_text` = all events.
_TEXT_WORDS = {
    "message": (
        "inboxrule", "inbox rule", "forwarding rule", "收件箱规则",                          # _social_engineering rules
        "wire transfer", "bank account", "iban", "swift", "new account details",          # ... transfer
        "汇款", "付款", "收款账户", "银行账户",
        "btc", "bitcoin", "wallet", "ransom",                                             # _extortion text
        "xmr", "eth", "usdt", "monero",                                                   # _extortion demand (currency)
        "multi_sva: pool returned ipv4=", "tunnel established user=",                     # _VPN_PATTERNS
        "stopped ", "started ", "stopping ", "starting ",                                 # _outages service stop
        "health", "upstream",                                                             # _outages health checks
    ),
    "attributes": (
        "inboxrule", "bitcoin", "btc", "ransom", "wallet", "xmr", "eth", "usdt", "monero",
        '"service_state"', "health",
        "\\u",  # a JSON escape could spell a key or word differently: keep such rows
    ),
}
# rows the text queries accept on something other than wording (the rules query's ATT&CK ids)
TEXT_EXTRA = "list_has_any(attack, ['T1564.008', 'T1114.003'])"


def _words_regex(words: Iterable[str]) -> str:
    """RE2, case-insensitive, any of the words literally. `İ` lower-cases to `i` for ILIKE but is
    not in RE2's case folding of `i`, so it is spelled out."""
    alts = []
    for w in words:
        lit = "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in w)
        alts.append(lit.replace("i", "[iİ]"))
    return "(?i)(" + "|".join(alts) + ")"


TEXT_PREFILTER = True  # False: `story_text` is all events (the reference path the tests compare against)


def _story_text(q: "_Q") -> None:
    """`story_text`: the events any wording search can match (see _TEXT_WORDS), in one pass."""
    if not TEXT_PREFILTER:
        q.con.execute("CREATE OR REPLACE TEMP VIEW story_text AS SELECT * FROM events")
        return
    conds = [f"regexp_matches({col}, '{_words_regex(words)}')" for col, words in _TEXT_WORDS.items()]
    q.con.execute(f"CREATE OR REPLACE TEMP TABLE story_text AS SELECT * FROM events WHERE {' OR '.join(conds)} OR {TEXT_EXTRA}")


@dataclass
class _Q:
    con: duckdb.DuckDBPyConnection

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        cur = self.con.execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]

    def one(self, sql: str, params: Iterable[Any] = ()):
        r = self.con.execute(sql, list(params)).fetchone()
        return r[0] if r else None


@dataclass
class _State:
    infra_ips: set[str] = field(default_factory=set)
    infra_domains: set[str] = field(default_factory=set)
    compromised: dict[str, str] = field(default_factory=dict)  # host id -> display name
    accounts: set[str] = field(default_factory=set)  # compromised account names (resolved)
    ip_host: dict[str, str] = field(default_factory=dict)  # internal ip -> host id
    display: dict[str, str] = field(default_factory=dict)  # host id -> display name
    t0: int | None = None
    t_access: int | None = None


def _ip(value: str | None) -> str | None:
    """The canonical address when `value` is an IP address at all (ip_key canonicalises, it does not validate)."""
    import ipaddress
    k = ip_key(value) if value else None
    try:
        return str(ipaddress.ip_address(k)) if k else None
    except ValueError:
        return None


def _fact(name: str, value: Any, confidence: float, ids: Iterable[str], note: str = "") -> Fact:
    seen: list[str] = []
    for i in ids:
        if i and i not in seen:
            seen.append(i)
    return Fact(name=name, value=value, confidence=round(min(max(confidence, 0.0), 1.0), 2),
                cited_event_ids=seen[:MAX_CITES], note=note)


def _sql_list(values: Iterable[str]) -> str:
    vals = sorted(set(v for v in values if v))
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in vals) + "]::VARCHAR[]"


# --- entity maps ------------------------------------------------------------------------------

def _host_maps(q: _Q, st: _State) -> None:
    """Display names per host, and which internal address belongs to which host.

    An address belongs to a host when the host's own events use it as the
    source of a connection (Sysmon 3, netscan), or when a logon names the
    workstation it came from.
    """
    for r in q.rows("SELECT host, count(*) AS n FROM events WHERE host IS NOT NULL GROUP BY host ORDER BY n DESC, host"):
        hid = host_id(r["host"])
        if hid and hid.startswith("host:") and hid not in st.display:
            st.display[hid] = r["host"].split(".", 1)[0].lstrip("\\").rstrip("$")
    pairs = q.rows("""
        SELECT src_ip AS ip, host, count(*) AS n FROM events
        WHERE host IS NOT NULL AND src_ip IS NOT NULL AND dst_ip IS NOT NULL AND NOT list_contains(tags, 'login')
          AND (data_type LIKE 'windows:%' OR data_type LIKE 'memory:%' OR data_type ILIKE '%sysmon%' OR data_type LIKE 'linux:audit%')
        GROUP BY ALL
        UNION ALL
        SELECT src_ip, json_extract_string(attributes, '$.workstation'), count(*) FROM events
        WHERE list_contains(tags, 'login') AND src_ip IS NOT NULL AND attributes LIKE '%"workstation"%'
        GROUP BY ALL ORDER BY n DESC""")
    # a logon names its client address and port; the captured connection from that address and port
    # (within five minutes) names the address of the host that logged it
    pairs += q.rows(f"""SELECT f.dst_ip AS ip, l.host, count(*) AS n FROM events l JOIN events f
                          ON f.src_ip = l.src_ip AND f.src_port = l.src_port AND f.data_type LIKE 'network:flow%'
                         AND abs(f.timestamp - l.timestamp) <= 300000000
                        WHERE list_contains(l.tags, 'login') AND l.host IS NOT NULL AND l.src_port IS NOT NULL AND {TIMED.replace('timestamp', 'l.timestamp')}
                        GROUP BY ALL ORDER BY n DESC""")
    # clients reaching an internal server by its host name (HTTP Host: web01, or a site's name such as
    # shop.example.cn behind a reverse proxy / WAF) name its address; the busiest name wins
    pairs += q.rows(r"""SELECT dst_ip AS ip, regexp_extract(url, '^https?://([A-Za-z][A-Za-z0-9.-]*)(?::\d+)?/', 1) AS host, count(*) AS n
                       FROM events WHERE data_type LIKE 'network:http%' AND dst_ip IS NOT NULL AND cc_private(dst_ip)
                         AND regexp_matches(url, '^https?://[A-Za-z][A-Za-z0-9.-]*(:\d+)?/')
                       GROUP BY ALL ORDER BY n DESC, host""")
    for r in pairs:
        ip, hid = ip_key(r["ip"]), host_id(r["host"])
        if ip and hid and hid.startswith("host:") and is_private(ip) and ip not in st.ip_host:
            st.ip_host[ip] = hid
            st.display.setdefault(hid, r["host"].split(".", 1)[0])


def _name(st: _State, hid: str) -> str:
    return st.display.get(hid, hid.split(":", 1)[-1])


def _host_of(st: _State, host: str | None, ip: str | None = None) -> str | None:
    if host:
        h = host_id(host)
        if h and h.startswith("host:"):
            return h
        if h and h.startswith("ip:"):
            ip = h[3:]
    k = ip_key(ip) if ip else None
    if k:
        return st.ip_host.get(k, f"ip:{k}")
    return None


# --- the facts ----------------------------------------------------------------------------------

# an event naming an address outside the network, and that address (the destination if external)
_EXT = "((src_ip IS NOT NULL AND NOT cc_private(src_ip)) OR (dst_ip IS NOT NULL AND NOT cc_private(dst_ip)))"
_XIP = "(CASE WHEN dst_ip IS NOT NULL AND NOT cc_private(dst_ip) THEN dst_ip ELSE src_ip END)"


def _infrastructure(q: _Q, st: _State) -> Fact | None:
    c2_exfil = _techs_sql("command-and-control", "exfiltration")
    # each branch tests "names an external address" (EXT) after its own, far more selective, conditions:
    # a CTE of every external-address event would materialise millions of rows first
    rows = q.rows(f"""
        -- C2 / exfiltration destinations named by a detection
        SELECT 'c2_exfil' AS why, {_XIP} AS ip, domain, event_id, timestamp, evidence_sha256 FROM events
        WHERE {c2_exfil} AND {STRONG} AND {_EXT}
        UNION ALL
        -- an external source that logged on successfully (after failures, or flagged)
        SELECT 'logon', src_ip, NULL, event_id, timestamp, evidence_sha256 FROM events
        WHERE list_contains(tags, 'login') AND NOT list_contains(tags, 'login_failed') AND {_EXT} AND src_ip = {_XIP}
          AND src_ip IN (SELECT src_ip FROM events WHERE list_contains(tags, 'login_failed') OR {STRONG})
        UNION ALL
        -- the source of an exploit whose victim then connected out to that same address
        SELECT 'exploit', e.src_ip, NULL, e.event_id, e.timestamp, e.evidence_sha256 FROM events e
        WHERE {_techs_sql('initial-access')} AND {STRONG} AND {_EXT} AND e.src_ip = {_XIP}
          AND e.src_ip IN (SELECT dst_ip FROM events WHERE dst_ip IS NOT NULL AND cc_private(src_ip))
        UNION ALL
        -- the source of an exploit the application answered with success (2xx)
        SELECT 'exploit_ok', src_ip, NULL, event_id, timestamp, evidence_sha256 FROM events
        WHERE list_contains(attack, 'T1190') AND {TIMED} AND {_EXT} AND src_ip = {_XIP}
          AND TRY_CAST(json_extract(attributes, '$.status') AS INTEGER) BETWEEN 200 AND 299
        UNION ALL
        -- the sources of a denial-of-service flood (a botnet the attacker commands)
        SELECT 'flood', unnest(json_extract_string(attributes, '$.source_addresses[*]')), NULL, event_id, timestamp, evidence_sha256
        FROM events WHERE data_type = 'detection' AND gbt_category = 'NADOS' AND attributes LIKE '%"source_addresses"%'
        ORDER BY timestamp, event_id""")
    if not rows:
        # fall back to every external address a strong indicator names (lower confidence)
        rows = q.rows(f"""SELECT 'indicator' AS why, CASE WHEN dst_ip IS NOT NULL AND NOT cc_private(dst_ip) THEN dst_ip ELSE src_ip END AS ip,
                                 domain, event_id, timestamp, evidence_sha256 FROM events
                          WHERE {STRONG} AND ((src_ip IS NOT NULL AND NOT cc_private(src_ip)) OR (dst_ip IS NOT NULL AND NOT cc_private(dst_ip)))
                          ORDER BY timestamp, event_id LIMIT 1000""")
    for r in rows:
        k = ip_key(r["ip"]) if r["ip"] else None
        if k and not is_private(k):
            st.infra_ips.add(k)
        if r["domain"]:
            st.infra_domains.add(r["domain"].lower().rstrip("."))
    rows += _upload_destinations(q, st)
    if not st.infra_ips and not st.infra_domains:
        return None
    _infra_names(q, st)
    whys = {r["why"] for r in rows}
    conf = 0.5 if whys == {"indicator"} else min(0.95, 0.6 + 0.15 * len(whys - {"indicator"}))
    value = _infra_value(st)
    return _fact("attacker_infrastructure", value, conf, [r["event_id"] for r in rows],
                 "external addresses that logged on after failures, received C2/exfiltration traffic or exploited a host "
                 "that called back; names they answer to from DNS/TLS/HTTP")


def _upload_destinations(q: _Q, st: _State) -> list[dict]:
    """Hosts a command uploaded local files to, and the addresses DNS gave for them; the uploading hosts are compromised."""
    out = []
    for r in q.rows(f"""SELECT event_id, timestamp, evidence_sha256, host, lower(regexp_extract(process_cmdline, '{_URL_HOST}', 1)) AS d,
                               regexp_extract(process_cmdline, '@([0-9.]+):', 1) AS ip
                        FROM events WHERE process_cmdline IS NOT NULL AND regexp_matches(process_cmdline, '{_UPLOAD_CMD}')
                        ORDER BY timestamp, event_id LIMIT 200"""):
        if r["d"] and not _ip(r["d"]):
            st.infra_domains.add(r["d"].rstrip("."))
        k = _ip(r["ip"] or r["d"] or "")
        if k and not is_private(k):
            st.infra_ips.add(k)
        h = host_id(r["host"]) if r["host"] else None
        if h and h.startswith("host:"):
            st.compromised.setdefault(h, _name(st, h))
        out.append({"why": "upload", "ip": None, "domain": r["d"], "event_id": r["event_id"], "timestamp": r["timestamp"],
                    "evidence_sha256": r["evidence_sha256"]})
    if out and st.infra_domains:
        for r in q.rows(f"""SELECT DISTINCT unnest(json_extract_string(attributes, '$.answers[*].value')) AS a FROM events
                            WHERE data_type LIKE '%dns%' AND list_contains({_sql_list(st.infra_domains)}, lower(rtrim(domain, '.')))"""):
            k = _ip(r["a"] or "")
            if k and not is_private(k):
                st.infra_ips.add(k)
    return out


def _vpn_sessions(q: _Q) -> list[dict]:
    """VPN sessions from concentrator logs: who, from which outside address, given which inner address."""
    out = []
    for pat in _VPN_PATTERNS:
        sql_pat = pat.replace("(?P<user>", "(").replace("(?P<remote>", "(").replace("(?P<inner>", "(").replace("'", "''")
        names = re.findall(r"\(\?P<(\w+)>", pat)
        cols = ", ".join(f"regexp_extract(message, '{sql_pat}', {i + 1}) AS {n}" for i, n in enumerate(names))
        out += q.rows(f"""SELECT event_id, timestamp, host, {cols} FROM story_text
                          WHERE {TIMED} AND regexp_matches(message, '{sql_pat}') ORDER BY timestamp, event_id LIMIT 10000""")
    return sorted(out, key=lambda r: (r["timestamp"], r["event_id"]))


CIDR_MIN_HOSTS = 16  # this many attacking addresses in one /24 are shown as the network (a botnet, a hosting range)


def _infra_value(st: _State) -> list[str]:
    """Infrastructure as a reader wants it: addresses, with crowded /24s (flood sources) shown as the network."""
    import ipaddress
    by_net: dict[str, list[str]] = {}
    for ip in st.infra_ips:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            continue
        if a.version == 4:
            by_net.setdefault(str(ipaddress.ip_network(f"{ip}/24", strict=False)), []).append(ip)
    crowded = {n for n, ips in by_net.items() if len(ips) >= CIDR_MIN_HOSTS}
    singles = [ip for ip in st.infra_ips if not any(ip in by_net[n] for n in crowded)]
    return sorted(crowded) + sorted(singles) + sorted(st.infra_domains)


def _infra_names(q: _Q, st: _State) -> None:
    """Names the infrastructure answers to: TLS SNI / HTTP host / DNS answers / Sysmon DestinationHostname."""
    ips = _sql_list(st.infra_ips)
    for r in q.rows(f"""SELECT DISTINCT lower(domain) AS d FROM events WHERE domain IS NOT NULL
                        AND (list_contains({ips}, dst_ip) OR list_contains({ips}, json_extract_string(attributes, '$.answer'))
                             OR attributes SIMILAR TO '.*"(answers?|resolved|ips?)":.*' AND
                                len(list_filter({ips}, lambda a: contains(attributes, '"' || a || '"'))) > 0)"""):
        st.infra_domains.add(r["d"].rstrip("."))


def _initial_access(q: _Q, st: _State) -> tuple[Fact | None, Fact | None]:
    infra = _sql_list(st.infra_ips)
    # a log line may name the address only in its text (an appliance's own warning)
    first_contact = q.rows(f"""SELECT event_id, timestamp, host, src_ip, message FROM events
        WHERE {TIMED} AND (list_contains({infra}, src_ip) OR list_contains({infra}, dst_ip)
           OR (src_ip IS NULL AND dst_ip IS NULL AND len(list_filter({infra}, lambda a: contains(message, a))) > 0)
           OR list_contains({_sql_list(st.infra_domains)}, lower(domain)))
        ORDER BY timestamp, event_id LIMIT 5""") if (st.infra_ips or st.infra_domains) else []
    logon = q.rows(f"""SELECT event_id, timestamp, host, "user", src_ip, json_extract_string(attributes, '$.logon_type') AS lt
        FROM events WHERE list_contains(tags, 'login') AND NOT list_contains(tags, 'login_failed')
          AND list_contains({infra}, src_ip) AND {TIMED} ORDER BY timestamp, event_id LIMIT 5""") if st.infra_ips else []
    failed = q.one(f"""SELECT count(*) FROM events WHERE list_contains(tags, 'login_failed') AND list_contains({infra}, src_ip)
                       AND timestamp <= ?""", [logon[0]["timestamp"]]) if logon else 0
    ia_events = q.rows(f"""SELECT event_id, timestamp, attack, host, src_ip, dst_ip, dst_port, message FROM events
        WHERE {_techs_sql('initial-access')} AND {STRONG} ORDER BY NOT {TIMED}, timestamp, event_id LIMIT 20""")
    first_strong = q.rows(f"SELECT event_id, timestamp, host, attack FROM events WHERE {STRONG} AND {TIMED} ORDER BY timestamp, event_id LIMIT 5")

    vector, ids, conf, when, detail = None, [], 0.0, None, {}
    if logon:
        r = logon[0]
        lt = str(r["lt"] or "")
        port_rdp = q.one(f"SELECT count(*) FROM events WHERE dst_port = 3389 AND list_contains({infra}, src_ip)")
        vector = "exposed RDP" if lt == "10" or port_rdp else ("exposed SSH" if q.one(
            f"SELECT count(*) FROM events WHERE dst_port = 22 AND list_contains({infra}, src_ip)") else "valid accounts (external logon)")
        if failed:
            vector += " (brute force)"
        elif vector.startswith("valid accounts") and (ph := _phishing(q, st, r["timestamp"])):
            vector = "phishing (credential harvesting), then logon from an outside address"
            first_contact = sorted(first_contact + [{"event_id": ph["event_id"], "timestamp": ph["timestamp"]}],
                                   key=lambda x: (x["timestamp"], x["event_id"]))
        ids, conf, when = [x["event_id"] for x in logon], 0.85 if failed else 0.7, r["timestamp"]
        detail = {"host": _name(st, host_id(r["host"]) or ""), "account": r["user"], "source_ip": r["src_ip"],
                  "failed_logons_before": int(failed or 0)}
        st.t_access = r["timestamp"]
        if r["user"]:
            st.accounts.add(r["user"].split("\\")[-1].split("@")[0].lower())
    elif ia_events:
        r = ia_events[0]
        techs = {a.split(".")[0] for a in r["attack"]}
        vector = ("web exploit" if "T1190" in techs else "phishing" if "T1566" in techs else
                  "external remote services" if "T1133" in techs else "supply chain" if "T1195" in techs else
                  "valid accounts" if "T1078" in techs else "drive-by" if "T1189" in techs else "initial access")
        r = dict(r)
        when = r["timestamp"] if plausible(r["timestamp"]) else None
        ids, conf = [x["event_id"] for x in ia_events[:5]], 0.7 if when else 0.5
        # attempts a WAF or the application refused are not access: the first exploit answered 2xx is
        ok = q.rows(f"""SELECT event_id, timestamp, message FROM events
                        WHERE src_ip = ? AND {TIMED} AND timestamp >= ? AND list_contains(attack, 'T1190')
                          AND TRY_CAST(json_extract(attributes, '$.status') AS INTEGER) BETWEEN 200 AND 299
                        ORDER BY timestamp, event_id LIMIT 1""", [r["src_ip"], r["timestamp"]]) if r["src_ip"] and when else []
        if ok and ok[0]["timestamp"] > when:
            refused = q.one(f"""SELECT count(*) FROM events WHERE src_ip = ? AND {TIMED} AND timestamp BETWEEN ? AND ?
                                AND list_contains(attack, 'T1190')
                                AND TRY_CAST(json_extract(attributes, '$.status') AS INTEGER) BETWEEN 400 AND 499""",
                            [r["src_ip"], when, ok[0]["timestamp"]])
            when, ids = ok[0]["timestamp"], [ok[0]["event_id"]] + ids
            vector += f" (after {refused} refused attempts)" if refused else ""
            r["message"] = ok[0]["message"]
        detail = {"host": _name(st, _host_of(st, r["host"], r["dst_ip"]) or ""), "source_ip": r["src_ip"],
                  "target_ip": r["dst_ip"], "target_port": r["dst_port"], "request": r["message"][:300]}
        st.t_access = when
    elif exploit := next((r for r in first_contact if re.search(_WEB_EXPLOIT, r["message"] or "")), None):
        # the attacker's first contacts include an exploit request (a log line the parsers did not flag)
        r = exploit
        vector = "VPN appliance exploit" if re.search(r"(?i)(vpn|remote/|fgt_|pulse|globalprotect|citrix)", (r["host"] or "") + " " + r["message"]) \
            else "web exploit"
        ids, conf, when = [r["event_id"]], 0.6, r["timestamp"]
        detail = {"host": r["host"], "source_ip": r["src_ip"] or next((ip for ip in st.infra_ips if ip in r["message"]), None),
                  "request": r["message"][:300]}
        st.t_access = when
    elif vpn := _vpn_entry(q, st):
        r, session = vpn
        vector = "stolen VPN credentials (valid account over VPN from an outside address)"
        ids, conf, when = [session["event_id"], r["event_id"]], 0.65, session["timestamp"]
        detail = {"host": session["host"], "account": session["user"], "source_ip": session["remote"],
                  "inner_ip": session["inner"], "next_hop": _name(st, host_id(r["host"]) or "")}
        st.t_access = when
        st.accounts.add(session["user"].lower())
        first_contact = sorted(first_contact + [{"event_id": session["event_id"], "timestamp": session["timestamp"]}],
                               key=lambda x: (x["timestamp"], x["event_id"]))
    t0_rows = sorted(first_contact + first_strong, key=lambda r: (r["timestamp"], r["event_id"]))
    if first_contact and first_strong:
        # an indicator long before any contact with the infrastructure is only kept when it is on a
        # host we know to be compromised (computed later); here prefer the infrastructure's first contact
        t0_rows = first_contact + [r for r in first_strong if r["timestamp"] >= first_contact[0]["timestamp"]]
    t0 = None
    if t0_rows:
        st.t0 = t0_rows[0]["timestamp"]
        t0 = _fact("t0", iso_utc(st.t0), 0.8 if first_contact else 0.6, [r["event_id"] for r in t0_rows[:5]],
                   "first contact with attacker infrastructure" if first_contact else "first attack indicator")
    ia = _fact("initial_access", {"vector": vector, "time": iso_utc(when) if when else None, **detail}, conf, ids) if vector else None
    return t0, ia


CORRELATION_WINDOW_US = 10_000_000  # host events this close to the exploit are its candidate consequences


def _access_correlation(q: _Q, st: _State, ia: Fact | None) -> Fact | None:
    """The moment of initial access as each evidence source saw it.

    The victim address of the exploit names the victim host through any event
    that carries both (a host log's own address); then, per evidence item, the
    first events on that host or address within a few seconds of the exploit:
    the network request and the process/file/connection events it caused.
    """
    if ia is None or not ia.value.get("time") or not ia.value.get("target_ip"):
        return None
    t, ip = _us(ia.value["time"]), ia.value["target_ip"]
    names = [r["host"] for r in q.rows("""SELECT host, count(*) AS n FROM events WHERE host IS NOT NULL AND (src_ip = ? OR dst_ip = ?)
                                          AND data_type NOT LIKE 'network:%' AND data_type <> 'detection' GROUP BY host ORDER BY n DESC, host""",
                                       [ip, ip])]
    hosts = _sql_list(h.lower() for h in names[:3])
    rows = q.rows(f"""SELECT evidence_sha256, arg_min(event_id, (timestamp, event_id)) AS eid, min(timestamp) AS first, count(*) AS n,
                             arg_min(data_type, (timestamp, event_id)) AS data_type, arg_min(parser, (timestamp, event_id)) AS parser,
                             arg_min(left(message, 200), (timestamp, event_id)) AS message
                      FROM events WHERE timestamp BETWEEN ? AND ? AND {TIMED}
                        AND (list_contains({hosts}, lower(host)) OR src_ip = ? OR dst_ip = ?)
                      GROUP BY evidence_sha256 ORDER BY first, evidence_sha256""", [t - CORRELATION_WINDOW_US, t + CORRELATION_WINDOW_US, ip, ip])
    if len(rows) < 2:
        return None
    value = {"victim_ip": ip, "victim_host": names[0] if names else None, "exploit_time": ia.value["time"],
             "window_s": CORRELATION_WINDOW_US / 1e6,
             "sources": [{"evidence_sha256": r["evidence_sha256"], "parser": r["parser"], "data_type": r["data_type"],
                          "first": iso_utc(r["first"]), "events": int(r["n"]), "message": r["message"]} for r in rows]}
    return _fact("access_correlation", value, min(0.95, 0.5 + 0.15 * len(rows)), ia.cited_event_ids[:3] + [r["eid"] for r in rows],
                 "the same moment in every evidence item: events on the victim host or address within the window of the exploit")


def _phishing(q: _Q, st: _State, before_us: int) -> dict | None:
    """Credential phishing before an account's outside logon: a look-alike login domain an inside client
    resolved, the address it resolved to, and the mail that came from that same address (the lure).
    Adds the domains and the address to the infrastructure; returns the lure (or the lookup)."""
    look = q.rows(f"""SELECT event_id, timestamp, lower(rtrim(domain, '.')) AS d,
                             json_extract_string(attributes, '$.answers[*].value') AS answers
                      FROM events WHERE domain IS NOT NULL AND data_type LIKE '%dns%' AND {TIMED} AND timestamp <= ?
                        AND regexp_matches(domain, '{_LOOKALIKE}') AND NOT regexp_matches(rtrim(domain, '.'), '{_LOOKALIKE_OK}')
                      ORDER BY timestamp, event_id LIMIT 200""", [before_us])
    if not look:
        return None
    ips = sorted({k for r in look for a in (r["answers"] or []) if (k := _ip(a)) and not is_private(k)})
    st.infra_domains.update(r["d"] for r in look)
    st.infra_ips.update(ips)
    lure = None
    if ips:
        # the mail server's log names the connecting client as host[address]
        like = " OR ".join(f"contains(message, '[{ip}]')" for ip in ips)
        mail = q.rows(f"""SELECT event_id, timestamp, host, message FROM events WHERE {TIMED} AND timestamp <= ? AND ({like})
                          ORDER BY timestamp, event_id LIMIT 5""", [before_us])
        if mail:
            lure = mail[0]
            senders = q.rows(f"""SELECT DISTINCT lower(regexp_extract(message, 'from=<[^@>]+@([^>]+)>', 1)) AS d FROM events
                                 WHERE host = ? AND timestamp BETWEEN ? AND ? AND regexp_matches(message, 'from=<[^@>]+@[^>]+>')""",
                             [lure["host"], lure["timestamp"], lure["timestamp"] + 60_000_000])
            st.infra_domains.update(r["d"] for r in senders if r["d"])
    r = lure or look[0]
    return {"event_id": r["event_id"], "timestamp": r["timestamp"], "lookups": [x["event_id"] for x in look[:5]],
            "lure": bool(lure)}


def _vpn_entry(q: _Q, st: _State) -> tuple[dict, dict] | None:
    """The VPN session (from an outside address) of an account that then logged on to a host with attack indicators.

    The session's inner address is the source of that logon; the outside address joins the infrastructure.
    """
    sessions = [v for v in _vpn_sessions(q) if _ip(v["remote"]) and not is_private(_ip(v["remote"]))]
    if not sessions:
        return None
    suspects = {h.split(":", 1)[1] for h in st.compromised}
    for v in sessions:
        r = q.rows(f"""SELECT event_id, timestamp, host FROM events
                       WHERE list_contains(tags, 'login') AND NOT list_contains(tags, 'login_failed') AND src_ip = ? AND {TIMED}
                         AND timestamp >= ? AND lower(split_part("user", '\\', -1)) = lower(?) AND host IS NOT NULL
                       ORDER BY timestamp, event_id LIMIT 20""", [v["inner"], v["timestamp"], v["user"]])
        hit = next((x for x in r if (host_id(x["host"]) or "").split(":", 1)[-1] in suspects), None)
        if hit:
            st.infra_ips.add(ip_key(v["remote"]))
            return hit, v
    return None


def _lateral(q: _Q, st: _State) -> Fact | None:
    """Remote logons from a compromised host or with a compromised account, after access; grows the compromised set."""
    if st.t_access is None:
        return None
    rows = q.rows(f"""SELECT event_id, timestamp, host, "user", src_ip, json_extract_string(attributes, '$.workstation') AS ws
        FROM events WHERE list_contains(tags, 'login') AND NOT list_contains(tags, 'login_failed')
          AND timestamp >= ? AND {TIMED} AND src_ip IS NOT NULL AND cc_private(src_ip) AND host IS NOT NULL
          AND json_extract_string(attributes, '$.logon_type') IN ('3', '10')
        ORDER BY timestamp, event_id""", [st.t_access])
    lm_tech = q.rows(f"""SELECT event_id, timestamp, host, src_ip, dst_ip FROM events
        WHERE {_techs_sql('lateral-movement')} AND timestamp >= ? AND {TIMED} AND {STRONG} ORDER BY timestamp, event_id""", [st.t_access])
    path, ids = [], []
    for _ in range(3):  # a few passes: a newly compromised host may be the source of the next hop
        grew = False
        for r in rows:
            src = host_id(r["ws"]) if r["ws"] and r["ws"] not in ("-", "") else None
            src = src if src and src.startswith("host:") else _host_of(st, None, r["src_ip"])
            dst = host_id(r["host"])
            acct = (r["user"] or "").split("\\")[-1].split("@")[0].lower()
            if not dst or src == dst or not (src in st.compromised or acct in st.accounts):
                continue
            hop = [_name(st, src) if src else r["src_ip"], _name(st, dst), iso_utc(r["timestamp"])]
            if hop not in path:
                path.append(hop)
                ids.append(r["event_id"])
            if dst not in st.compromised:
                st.compromised[dst] = _name(st, dst)
                grew = True
        if not grew:
            break
    for r in lm_tech:
        src, dst = _host_of(st, None, r["src_ip"]), _host_of(st, r["host"], r["dst_ip"])
        if src and dst and src != dst:
            hop = [_name(st, src), _name(st, dst), iso_utc(r["timestamp"])]
            if not any(h[0] == hop[0] and h[1] == hop[1] for h in path):
                path.append(hop)
                ids.append(r["event_id"])
            st.compromised.setdefault(dst, _name(st, dst))
    if not path:
        return None
    path.sort(key=lambda h: h[2])
    return _fact("lateral_movement", path, 0.8 if len(ids) > 1 else 0.6, ids,
                 "remote logons (type 3/10) with a compromised account or from a compromised host, and lateral-movement detections")


def _on_hosts(st: _State) -> str:
    hosts = [h.split(":", 1)[1] for h in st.compromised]
    return f"list_contains({_sql_list(hosts)}, lower(split_part(trim(host, '\\\\'), '.', 1)))"


def _tactic_fact(q: _Q, st: _State, name: str, tactics: tuple[str, ...], tags: tuple[str, ...], note: str) -> Fact | None:
    if st.t0 is None or not st.compromised:
        return None
    tag_sql = " OR ".join(f"list_contains(tags, '{t}')" for t in tags) or "false"
    rows = q.rows(f"""SELECT event_id, timestamp, host, "user", message FROM events
        WHERE timestamp >= ? AND {TIMED} AND ({_techs_sql(*tactics)} OR {tag_sql}) AND host IS NOT NULL AND {_on_hosts(st)}
        ORDER BY timestamp, event_id LIMIT 200""", [st.t0])
    if not rows:
        return None
    value = [{"host": _name(st, host_id(r["host"]) or ""), "time": iso_utc(r["timestamp"]), "user": r["user"],
              "what": r["message"][:200]} for r in rows[:20]]
    return _fact(name, value, 0.75, [r["event_id"] for r in rows], note)


def _compromised(q: _Q, st: _State, infra_fact: Fact | None) -> Fact | None:
    ids = []
    if st.infra_ips:
        # logged on to from the infrastructure (the host field names the target), or talked to it
        # (the source address names the host: a firewall or capture's own host field does not)
        for r in q.rows(f"""SELECT CASE WHEN list_contains(tags, 'login') THEN host END AS host, src_ip, min(event_id) AS eid FROM events
                WHERE (list_contains({_sql_list(st.infra_ips)}, src_ip) AND host IS NOT NULL AND list_contains(tags, 'login')
                       AND NOT list_contains(tags, 'login_failed'))
                   OR (list_contains({_sql_list(st.infra_ips)}, dst_ip) AND cc_private(src_ip))
                GROUP BY ALL"""):
            h = _host_of(st, r["host"], r["src_ip"] if not r["host"] else None)
            if h and h.startswith("host:"):
                st.compromised.setdefault(h, _name(st, h))
                ids.append(r["eid"])
        # the servers a successful exploit's source talked to (the capture names them by address)
        for r in q.rows(f"""SELECT DISTINCT f.dst_ip, min(f.event_id) AS eid FROM events f
                WHERE f.data_type LIKE 'network:flow%' AND cc_private(f.dst_ip) AND f.src_ip IN (
                    SELECT src_ip FROM events WHERE list_contains(attack, 'T1190') AND list_contains({_sql_list(st.infra_ips)}, src_ip)
                      AND TRY_CAST(json_extract(attributes, '$.status') AS INTEGER) BETWEEN 200 AND 299)
                GROUP BY f.dst_ip"""):
            h = _host_of(st, None, r["dst_ip"])
            if h and h.startswith("host:"):
                st.compromised.setdefault(h, _name(st, h))
                ids.append(r["eid"])
    if st.t0 is not None:
        for r in q.rows(f"""SELECT host, min(event_id) AS eid FROM events WHERE {STRONG} AND host IS NOT NULL AND timestamp >= ? AND {TIMED}
                            AND severity IN ('high', 'critical') GROUP BY host""", [st.t0]):
            h = host_id(r["host"])
            if h and h.startswith("host:"):
                st.compromised.setdefault(h, _name(st, h))
                ids.append(r["eid"])
    return None


def _impact(q: _Q, st: _State) -> list[Fact]:
    out = []
    t0 = st.t0 if st.t0 is not None else MIN_PLAUSIBLE_US
    kinds = [
        ("encryption", f"""list_contains(attack, 'T1486') OR gbt_category = 'MPRANS' OR regexp_matches(coalesce(file_path, ''), '{_ENCRYPTED_EXT}')"""),
        ("inhibit_recovery", "list_contains(attack, 'T1490') OR regexp_matches(coalesce(process_cmdline, ''), '(?i)(vssadmin.*delete\\s+shadows|shadowcopy\\s+delete|wbadmin\\s+delete|bcdedit.*recoveryenabled\\s+no)')"),
        ("wiping", "len(list_filter(attack, lambda a: split_part(a, '.', 1) IN ('T1485', 'T1561'))) > 0 OR regexp_matches(coalesce(process_cmdline, ''), '(?i)(sdelete|cipher\\s+/w|shred\\s|dd\\s+if=/dev/(zero|urandom))')"),
        ("service_stop", "list_contains(attack, 'T1489') OR (lower(json_extract_string(attributes, '$.service_state')) = 'stopped')"),
        ("data_tampering", "len(list_filter(attack, lambda a: split_part(a, '.', 1) IN ('T1565', 'T1491'))) > 0 OR gbt_category = 'DSDATATAMPER'"),
        ("denial_of_service", "len(list_filter(attack, lambda a: split_part(a, '.', 1) IN ('T1498', 'T1499'))) > 0 OR gbt_category = 'NADOS'"),
    ]
    for name, cond in kinds:
        # untimed hits (a YARA match on an encrypted file) support the fact but never date it
        rows = q.rows(f"""SELECT host, dst_ip, min(timestamp) FILTER (WHERE {TIMED}) AS first,
                                 max(timestamp) FILTER (WHERE {TIMED}) AS last, count(*) AS n,
                                 arg_min(event_id, (NOT {TIMED}, timestamp, event_id), 10) AS ids
                          FROM events WHERE ({cond}) AND (timestamp >= ? OR NOT {TIMED})
                          GROUP BY host, dst_ip ORDER BY first NULLS LAST""", [t0])
        if name == "service_stop" and st.compromised:
            rows = [r for r in rows if _host_of(st, r["host"], r["dst_ip"]) in st.compromised] or rows
        if not rows:
            continue
        if all(r["first"] is None for r in rows) and not any(_host_of(st, r["host"], r["dst_ip"]) in st.compromised for r in rows):
            continue  # only untimed hits, on no host we know to be compromised: not an impact of this incident
        hosts = sorted({_name(st, h) for r in rows if (h := _host_of(st, r["host"], r["dst_ip"]))})
        firsts = [r["first"] for r in rows if r["first"] is not None]
        lasts = [r["last"] for r in rows if r["last"] is not None]
        value = {"hosts": hosts, "first": iso_utc(min(firsts)) if firsts else None, "last": iso_utc(max(lasts)) if lasts else None,
                 "events": int(sum(r["n"] for r in rows))}
        out.append(_fact(f"impact:{name}", value, 0.85 if value["events"] > 3 else 0.6, [i for r in rows for i in r["ids"]]))
    return out


def _outages(q: _Q, st: _State) -> list[Outage]:
    found: list[Outage] = []
    for r in q.rows("""SELECT event_id, host, dst_ip, json_extract_string(attributes, '$.service') AS svc,
                              CAST(json_extract(attributes, '$.gap_start_us') AS BIGINT) AS gs,
                              CAST(json_extract(attributes, '$.gap_end_us') AS BIGINT) AS ge,
                              clock_offset_us AS off
                       FROM events WHERE attributes LIKE '%"gap_start_us"%' ORDER BY gs, event_id"""):
        gs, ge = r["gs"] + r["off"], (r["ge"] + r["off"]) if r["ge"] is not None else None
        if not plausible(gs):
            continue
        h = _host_of(st, r["host"], r["dst_ip"])
        found.append(Outage(service=r["svc"] or "service", host=_name(st, h) if h else None, start=iso_utc(gs),
                            end=iso_utc(ge) if ge else None, basis="traffic gap", confidence=0.7, cited_event_ids=[r["event_id"]]))
    # service stopped ... running again (Windows 7036, systemd "Stopped X." / "Started X.")
    rows = q.rows(rf"""
        WITH s AS (
            SELECT event_id, timestamp, host,
                   coalesce(json_extract_string(attributes, '$.service_name'),
                            nullif(regexp_extract(message, '(?:Stopped|Started|Stopping|Starting) (\S+\.(?:service|socket|target))\b', 1), ''),
                            regexp_extract(message, '(?:Stopped|Started|Stopping|Starting) (.+?)\.*$', 1)) AS svc,
                   CASE WHEN lower(json_extract_string(attributes, '$.service_state')) = 'stopped'
                             OR regexp_matches(message, '^(Stopped|Stopping) ') OR regexp_matches(message, 'systemd.*: (Stopped|Stopping) ')
                        THEN 'down'
                        WHEN lower(json_extract_string(attributes, '$.service_state')) = 'running'
                             OR regexp_matches(message, '^Started ') OR regexp_matches(message, 'systemd.*: Started ')
                        THEN 'up' END AS st
            FROM story_text WHERE host IS NOT NULL AND {TIMED} AND (attributes LIKE '%"service_state"%'
                  OR (data_type LIKE 'linux:%' AND regexp_matches(message, '(Stopped|Started|Stopping|Starting) ')))),
        k AS (SELECT *,
                     -- the first "up" after this row (the same change may be logged by two evidence items)
                     first_value(CASE WHEN st = 'up' THEN timestamp END IGNORE NULLS) OVER f AS next_t,
                     first_value(CASE WHEN st = 'up' THEN event_id END IGNORE NULLS) OVER f AS next_id,
                     CASE WHEN first_value(CASE WHEN st = 'up' THEN timestamp END IGNORE NULLS) OVER f IS NOT NULL THEN 'up' END AS next_st,
                     lag(st) OVER w AS prev_st
              FROM s WHERE st IS NOT NULL AND svc IS NOT NULL
              WINDOW w AS (PARTITION BY lower(host), lower(svc) ORDER BY timestamp, event_id),
                     f AS (PARTITION BY lower(host), lower(svc) ORDER BY timestamp, event_id
                           ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING))
        SELECT * FROM k WHERE st = 'down' AND coalesce(prev_st, 'up') = 'up' ORDER BY timestamp, event_id""")
    for r in rows:
        h = host_id(r["host"])
        end = r["next_t"] if r["next_st"] == "up" else None
        found.append(Outage(service=r["svc"], host=_name(st, h) if h else r["host"], start=iso_utc(r["timestamp"]),
                            end=iso_utc(end) if end else None, basis="service stop", confidence=0.75,
                            cited_event_ids=[r["event_id"]] + ([r["next_id"]] if end else [])))
    # failed health checks / upstream failures: runs of failures per host, split where quiet for > 1 h
    hc = q.rows(rf"""
        WITH f AS (SELECT event_id, timestamp, host FROM story_text WHERE host IS NOT NULL AND {TIMED} AND (
                     regexp_matches(message, '(?i)health.?check.*(fail|down|timed? ?out|unhealthy|error)')
                     OR regexp_matches(message, '(?i)(upstream.*(timed out|refused|unreachable|failed)|connect\(\) failed.*upstream)')
                     OR lower(json_extract_string(attributes, '$.health')) IN ('fail', 'failed', 'down', 'unhealthy'))),
             g AS (SELECT *, sum(CASE WHEN timestamp - prev > 3600000000 OR prev IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY lower(host) ORDER BY timestamp, event_id) AS run
                   FROM (SELECT *, lag(timestamp) OVER (PARTITION BY lower(host) ORDER BY timestamp, event_id) AS prev FROM f))
        SELECT host, run, min(timestamp) AS s, max(timestamp) AS e, count(*) AS n, arg_min(event_id, (timestamp, event_id), 5) AS ids
        FROM g GROUP BY host, run HAVING count(*) >= 3 ORDER BY s""")
    for r in hc:
        h = host_id(r["host"])
        found.append(Outage(service=f"health checks on {r['host']}", host=_name(st, h) if h else r["host"], start=iso_utc(r["s"]),
                            end=iso_utc(r["e"]), basis="failed health checks", confidence=0.5, cited_event_ids=list(r["ids"])))
    return _merge_outages(found)


def _us(iso: str) -> int:
    from datetime import datetime

    from forensics.events import to_us
    return to_us(datetime.fromisoformat(iso.replace("Z", "+00:00")))


# Which source dates an outage best: an explicit service state change is exact; a traffic gap
# starts at the last answered conversation (up to one polling interval early); failing health
# checks only bracket it at their own interval.
OUTAGE_PRECEDES_US = 15 * 60_000_000  # more than a polling interval or two: a different, earlier cause
_BASIS_RANK = {"service stop": 0, "traffic gap": 1, "failed health checks": 2}


def _merge_outages(items: list[Outage]) -> list[Outage]:
    """The same outage seen by several sources (a traffic gap, a stopped service, failing health checks) is one.

    Intervals on the same host that overlap, or on any hosts that overlap by
    ≥ 80 % of the shorter one, form a cluster; its start and end come from the
    best-ranked basis in it (earliest start, latest end among those), and it
    cites every source.
    """
    def span(o: Outage) -> tuple[int, int]:
        return _us(o.start), (_us(o.end) if o.end else 2**62)

    clusters: list[list[Outage]] = []
    for o in sorted(items, key=lambda o: (o.start, o.service)):
        s, e = span(o)
        for cl in clusters:
            if any((m.host == o.host and min(e, span(m)[1]) > max(s, span(m)[0]))
                   or (min(e, span(m)[1]) - max(s, span(m)[0]) >= 0.8 * min(e - s, span(m)[1] - span(m)[0]) > 0)
                   for m in cl):
                cl.append(o)
                break
        else:
            clusters.append([o])
    merged = []
    for cl in clusters:
        best_rank = min(_BASIS_RANK.get(o.basis, 9) for o in cl)
        best = [o for o in cl if _BASIS_RANK.get(o.basis, 9) == best_rank]
        start = min(_us(o.start) for o in best)
        end = None if any(o.end is None for o in best) else max(_us(o.end) for o in best)
        earliest = min(_us(o.start) for o in cl)
        if start - earliest > OUTAGE_PRECEDES_US:
            # the service was already unreachable well before anyone stopped it (a flood, a crash):
            # the outage began with the first evidence of it
            start = earliest
        services, hosts = [], []
        for o in best + [o for o in cl if o not in best]:
            if o.service not in services:
                services.append(o.service)
            if o.host and o.host not in hosts:
                hosts.append(o.host)
        merged.append(Outage(
            service=" | ".join(services), host=hosts[0] if hosts else None, start=iso_utc(start),
            end=iso_utc(end) if end is not None else None,
            duration_hours=round((end - start) / HOUR_US, 3) if end is not None else None,
            basis=" + ".join(sorted({o.basis for o in cl}, key=lambda b: _BASIS_RANK.get(b, 9))),
            confidence=round(min(0.95, max(o.confidence for o in cl) + 0.1 * (len({o.basis for o in cl}) - 1)), 2),
            cited_event_ids=[i for o in cl for i in o.cited_event_ids][:MAX_CITES]))
    return merged


_PAYLOAD_OUT = "coalesce(TRY_CAST(json_extract(attributes, '$.payload_out') AS BIGINT), bytes_out)"
_PAYLOAD_IN = "coalesce(TRY_CAST(json_extract(attributes, '$.payload_in') AS BIGINT), bytes_in, 0)"
LARGE_UPLOAD = 1 << 20  # one flow sending ≥ 1 MiB, ≥ 5× what it received, from a compromised host or to the attacker


def _exfiltration(q: _Q, st: _State, inventory: list[dict]) -> list[Exfiltration]:
    """Bytes that left the network per external destination.

    Counted: every flow to a destination an exfiltration detection names, and
    upload-shaped flows (≥ 1 MiB out, ≥ 5× in) from a compromised host or to
    attacker infrastructure (a staged theft often stays under an IDS's volume
    threshold). Bytes are transport payload where the flow records it.
    """
    exfil_tech = _techs_sql("exfiltration")
    det_ids: dict[str, list[str]] = {}
    for r in q.rows(f"""SELECT dst_ip AS ip, event_id FROM events
                       WHERE ({exfil_tech} OR list_contains(tags, 'exfiltration')) AND {STRONG}
                         AND dst_ip IS NOT NULL AND NOT cc_private(dst_ip) ORDER BY timestamp, event_id"""):
        det_ids.setdefault(ip_key(r["ip"]), []).append(r["event_id"])
    comp_ips = [ip for ip, h in st.ip_host.items() if h in st.compromised]
    rows = q.rows(f"""SELECT dst_ip, src_ip, host, sum({_PAYLOAD_OUT}) AS b,
                             min(timestamp) FILTER (WHERE {TIMED}) AS first, max(timestamp) FILTER (WHERE {TIMED}) AS last,
                             arg_min(event_id, (timestamp, event_id), 10) AS ids
                      FROM events WHERE data_type LIKE 'network:flow%' AND src_ip IS NOT NULL AND cc_private(src_ip)
                        AND dst_ip IS NOT NULL AND NOT cc_private(dst_ip)
                        AND (list_contains({_sql_list(det_ids)}, dst_ip)
                             OR ((list_contains({_sql_list(st.infra_ips)}, dst_ip) OR list_contains({_sql_list(comp_ips)}, src_ip))
                                 AND {_PAYLOAD_OUT} >= {LARGE_UPLOAD} AND {_PAYLOAD_OUT} >= 5 * {_PAYLOAD_IN}))
                      GROUP BY ALL ORDER BY first""")
    out: dict[str, Exfiltration] = {}
    for r in rows:
        src = _host_of(st, r["host"], r["src_ip"])
        x = out.setdefault(r["dst_ip"], Exfiltration(destination=r["dst_ip"], bytes=0,
                                                     cited_event_ids=list(det_ids.get(ip_key(r["dst_ip"]), [])[:5])))
        x.bytes += int(r["b"] or 0)
        name = _name(st, src) if src and src.startswith("host:") else r["src_ip"]
        if name not in x.source_hosts:
            x.source_hosts.append(name)
        x.first_seen = min(filter(None, [x.first_seen, iso_utc(r["first"]) if r["first"] is not None else None]), default=None)
        x.last_seen = max(filter(None, [x.last_seen, iso_utc(r["last"]) if r["last"] is not None else None]), default=None)
        x.cited_event_ids = (x.cited_event_ids + list(r["ids"]))[:MAX_CITES]
    for x in _exploit_responses(q, st, inventory):
        out.setdefault(x.destination, x)
    for x in out.values():
        hosts = {h.lower() for h in x.source_hosts}
        counted = set(x.source_systems)  # systems already matched (e.g. by the tables an injection named)
        for row in inventory:
            if (row.get("host") or "").split(".")[0].lower() in hosts and row["system"] not in counted:
                if row["system"] not in x.source_systems:
                    x.source_systems.append(row["system"])
                x.records_by_type[row["record_type"]] = x.records_by_type.get(row["record_type"], 0) + int(row["count"])
        st.infra_ips.add(ip_key(x.destination))
    return sorted(out.values(), key=lambda x: (x.first_seen or "", x.destination))


_SQL_TABLE = r"(?i)\b(?:from|join|into|update|table)\s+[`\"\[]?([a-z_][a-z0-9_]{2,63})"


def _exploit_responses(q: _Q, st: _State, inventory: list[dict]) -> list[Exfiltration]:
    """Data pulled out in the answers to a successful web exploit (SQL injection dumps, file downloads).

    An external source whose exploit request got a 2xx answer, and that received
    at least 1 MiB from the internal server over all its connections, took
    that data: every payload byte the server sent it counts. The tables its
    SQL named are matched to the data inventory's record types.
    """
    hits = q.rows(f"""SELECT src_ip, min(timestamp) AS first, list(DISTINCT coalesce(json_extract_string(attributes, '$.decoded_url'), url)) AS urls,
                             arg_min(event_id, (timestamp, event_id), 5) AS ids
                      FROM events WHERE {TIMED} AND src_ip IS NOT NULL AND NOT cc_private(src_ip)
                        AND (list_contains(attack, 'T1190') OR list_contains(tags, 'web_attack'))
                        AND TRY_CAST(json_extract(attributes, '$.status') AS INTEGER) BETWEEN 200 AND 299
                      GROUP BY src_ip""")
    out = []
    for h in hits:
        r = q.rows(f"""SELECT dst_ip, sum({_PAYLOAD_IN}) AS b, min(timestamp) FILTER (WHERE {TIMED}) AS first,
                              max(timestamp) FILTER (WHERE {TIMED}) AS last, arg_min(event_id, (timestamp, event_id), 8) AS ids
                       FROM events WHERE data_type LIKE 'network:flow%' AND src_ip = ? AND dst_ip IS NOT NULL AND cc_private(dst_ip)
                       GROUP BY dst_ip ORDER BY b DESC""", [h["src_ip"]])
        total = sum(int(x["b"] or 0) for x in r)
        if total < LARGE_UPLOAD:
            continue  # a tampering or probing exploit, not a dump
        servers = [_name(st, hh) if (hh := _host_of(st, None, x["dst_ip"])) and hh.startswith("host:") else x["dst_ip"] for x in r]
        x = Exfiltration(destination=h["src_ip"], bytes=total, source_hosts=servers,
                         first_seen=iso_utc(min(v["first"] for v in r if v["first"] is not None)),
                         last_seen=iso_utc(max(v["last"] for v in r if v["last"] is not None)),
                         cited_event_ids=(list(h["ids"]) + [i for v in r for i in v["ids"]])[:MAX_CITES])
        tables = {t.lower().rstrip("s") for u in h["urls"] if u for t in re.findall(_SQL_TABLE, u)}
        for row in inventory:
            kind = (row.get("record_type") or "").lower()
            if any(t and (t in kind or kind.split("_")[0].rstrip("s") == t) for t in tables):
                x.source_systems.append(row["system"])
                x.source_hosts.append(row.get("host") or row["system"])
                x.records_by_type[row["record_type"]] = x.records_by_type.get(row["record_type"], 0) + int(row["count"])
        out.append(x)
    return out


_SQL_WRITE = r"(?i)\b(?:update\s+[`\"\[]?([a-z_][a-z0-9_]*)[`\"\]]?\s+set|delete\s+from\s+[`\"\[]?([a-z_][a-z0-9_]*)|insert\s+into\s+[`\"\[]?([a-z_][a-z0-9_]*))"
_ROWS_CHANGED = r"(?i)(\d[\d,]*)\s+rows?\s+(?:in|of)\s+[`\"]?([a-z_][a-z0-9_]*)[`\"]?\s+(?:were\s+)?(?:changed|modified|altered|updated|deleted|tampered)"


def _inventory_rows(inventory: list[dict], table: str) -> list[dict]:
    """Inventory rows whose record type is the table (price_list -> price_list_rows, customers -> customer_records)."""
    t = table.lower().rstrip("s")
    return [r for r in inventory if t and (t in (r.get("record_type") or "").lower()
                                          or (r.get("record_type") or "").lower().split("_")[0].rstrip("s") == t)]


def _tampering(q: _Q, st: _State, inventory: list[dict]) -> Fact | None:
    """Stored data changed by the attacker (T1565.001): SQL writes in exploit requests, and the integrity
    or audit messages that count the rows changed; the table's host (per the data inventory) is compromised."""
    infra = _sql_list(st.infra_ips)
    writes = q.rows(f"""SELECT event_id, timestamp, coalesce(json_extract_string(attributes, '$.decoded_url'), url, message) AS u FROM events
                        WHERE {TIMED} AND list_contains({infra}, src_ip) AND list_contains(attack, 'T1190')
                          AND regexp_matches(coalesce(json_extract_string(attributes, '$.decoded_url'), url, message), '{_SQL_WRITE}')
                        ORDER BY timestamp, event_id LIMIT 200""") if st.infra_ips else []
    tables = {t.lower() for r in writes for m in re.findall(_SQL_WRITE, r["u"]) for t in m if t}
    if not tables:
        return None
    counts = q.rows(f"""SELECT event_id, timestamp, host, regexp_extract(message, '{_ROWS_CHANGED}', 1) AS n,
                               lower(regexp_extract(message, '{_ROWS_CHANGED}', 2)) AS t FROM events
                        WHERE {TIMED} AND timestamp >= ? AND regexp_matches(message, '{_ROWS_CHANGED}')
                        ORDER BY timestamp, event_id LIMIT 200""", [writes[0]["timestamp"]])
    records: dict[str, int] = {}
    hosts: set[str] = set()
    cited = [r["event_id"] for r in writes[:5]]
    for c in counts:
        if c["t"] not in tables:
            continue
        cited.append(c["event_id"])
        for row in _inventory_rows(inventory, c["t"]):
            records[row["record_type"]] = max(records.get(row["record_type"], 0), int(c["n"].replace(",", "")))
            hosts.add(row.get("host") or "")
        if c["host"]:
            hosts.add(c["host"])
    for h in sorted(x for x in hosts if x):
        hid = host_id(h)
        if hid and hid.startswith("host:"):
            st.compromised.setdefault(hid, h)
    return _fact("impact:data_tampering", {"tables": sorted(tables), "hosts": sorted(x for x in hosts if x),
                                           "records": records, "first": iso_utc(writes[0]["timestamp"]),
                                           "last": iso_utc(writes[-1]["timestamp"]), "events": len(writes)},
                 0.8 if records else 0.6, cited,
                 "SQL writes in the attacker's exploit requests; rows counted by the insured's own integrity/audit messages")


def _instant_messaging(q: _Q, st: _State) -> tuple[Fact | None, list[Exfiltration]]:
    """Conversations over instant messaging, and the files internal hosts sent in them.

    A conversation is the IM events between one internal client address and one
    peer account (start = first message or offer, end = last). A file the
    internal side sent (a completed direct transfer, or an offer where no transfer
    was captured) is data handed to an outside party: an exfiltration of that
    file's size, whatever network the receiver sat on.
    """
    rows = q.rows(f"""SELECT event_id, timestamp, src_ip, dst_ip, "user", file_path, file_sha256, message,
                             coalesce(json_extract_string(attributes, '$.peer_screen_name'), "user") AS peer,
                             json_extract_string(attributes, '$.protocol') AS proto,
                             json_extract_string(attributes, '$.direction') AS direction,
                             json_extract_string(attributes, '$.receiver_ip') AS receiver,
                             coalesce(TRY_CAST(json_extract(attributes, '$.file_size') AS BIGINT),
                                      TRY_CAST(json_extract(attributes, '$.offered_size') AS BIGINT)) AS size,
                             TRY_CAST(json_extract(attributes, '$.bytes_seen') AS BIGINT) AS seen
                      FROM events WHERE data_type LIKE '%:im%' AND {TIMED} ORDER BY timestamp, event_id LIMIT 100000""")
    if not rows:
        return None, []
    convs: dict[tuple[str, str], dict] = {}
    for r in rows:
        # the internal end is the client; an incoming message names it as the destination
        client = r["src_ip"] if r["src_ip"] and is_private(ip_key(r["src_ip"]) or "") else r["dst_ip"]
        key = (client or "?", (r["peer"] or "?"))
        c = convs.setdefault(key, {"host": _name(st, h) if (h := _host_of(st, None, client)) and h.startswith("host:") else client,
                                   "client_ip": client, "account": r["peer"], "protocol": set(), "start": r["timestamp"],
                                   "end": r["timestamp"], "messages": 0, "files_sent": [], "ids": []})
        c["end"] = max(c["end"], r["timestamp"])
        c["messages"] += 1
        c["ids"].append(r["event_id"])
        if r["proto"]:
            c["protocol"].add(r["proto"].split("/")[0])
        if r["file_path"] and r["direction"] != "incoming":
            name = r["file_path"].replace("\\", "/").rsplit("/", 1)[-1]
            known = next((f for f in c["files_sent"] if f["name"] == name and f["size"] == r["size"]), None)
            if known is None:
                known = {"name": name, "size": r["size"], "sha256": None, "time": iso_utc(r["timestamp"]),
                         "receiver_ip": None, "complete": False, "ids": []}
                c["files_sent"].append(known)
            known["ids"].append(r["event_id"])
            if r["file_sha256"]:  # the transfer itself, not only the offer
                known.update(sha256=r["file_sha256"], receiver_ip=r["receiver"] or r["dst_ip"], time=iso_utc(r["timestamp"]),
                             complete=bool(r["seen"] is not None and r["size"] is not None and r["seen"] >= r["size"]))
    value, leaks, cited = [], [], []
    for c in sorted(convs.values(), key=lambda c: (c["start"], c["account"] or "")):
        files = [{k: v for k, v in f.items() if k != "ids"} for f in c["files_sent"]]
        value.append({"host": c["host"], "client_ip": c["client_ip"], "account": c["account"],
                      "protocol": "/".join(sorted(c["protocol"])) or None, "start": iso_utc(c["start"]),
                      "end": iso_utc(c["end"]), "events": c["messages"], "files_sent": files})
        cited += c["ids"][:5]
        for f in c["files_sent"]:
            if f["size"]:
                leaks.append(Exfiltration(destination=f"{c['account']} ({'/'.join(sorted(c['protocol'])) or 'IM'})"
                                          + (f" at {f['receiver_ip']}" if f["receiver_ip"] else ""),
                                          bytes=int(f["size"]), source_hosts=[c["host"]], first_seen=f["time"], last_seen=f["time"],
                                          cited_event_ids=f["ids"][:MAX_CITES]))
    return _fact("im_conversations", value, 0.9, cited, "instant-messaging conversations per internal client and peer account, "
                 "with the files the internal side sent"), leaks


def _insider(story: Storyline, im: Fact, leaks: list[Exfiltration]) -> None:
    """Files sent out by an insider with no intrusion behind it: the leak dates the story.

    Without attack indicators, an internal host handing files to an outside
    account is an insider's act; whether it was dishonest is for the adjuster
    (the chat may say so), hence a suspicion at review confidence.
    """
    convs = [c for c in im.value if c["files_sent"]]
    first = min(convs, key=lambda c: c["start"])
    cited = [i for x in leaks for i in x.cited_event_ids]
    story.t0 = _fact("t0", first["start"], 0.6, im.cited_event_ids[:5], "start of the conversation in which the insider sent the first file")
    story.initial_access = _fact("initial_access", {"vector": "insider (files sent over instant messaging)", "time": first["start"],
                                                    "host": first["host"], "account": first["account"]}, 0.6, cited)
    story.facts.append(_fact("insider_dishonesty", {"suspected": True, "hosts": sorted({c["host"] for c in convs}),
                                                     "accounts": sorted({c["account"] for c in convs}),
                                                     "files": sorted({f["name"] for c in convs for f in c["files_sent"]})},
                             0.5, cited, "no intrusion indicators: an internal host sent files to an outside account; "
                                         "intent is for the adjuster to weigh (read the cited conversation)"))


def _extortion(q: _Q, st: _State) -> Fact | None:
    notes = q.rows(f"""SELECT event_id, timestamp, host, file_path FROM events
                       WHERE file_path IS NOT NULL AND regexp_matches(regexp_extract(file_path, '[^\\\\/]+$'), '{_RANSOM_NOTE}')
                       ORDER BY timestamp, event_id LIMIT 200""")
    yara = q.rows("""SELECT event_id, timestamp, message, attributes FROM events
                     WHERE data_type = 'yara:match' AND (attributes ILIKE '%ransom%' OR attributes ILIKE '%wallet%' OR attributes ILIKE '%bitcoin%')
                     ORDER BY timestamp, event_id LIMIT 50""")
    text = q.rows(f"""SELECT event_id, regexp_extract(message || ' ' || attributes, '{_WALLET}', 1) AS wallet
                      FROM story_text WHERE (message ILIKE '%btc%' OR message ILIKE '%bitcoin%' OR message ILIKE '%wallet%' OR message ILIKE '%ransom%'
                                         OR attributes ILIKE '%bitcoin%' OR attributes ILIKE '%btc%' OR attributes ILIKE '%ransom%')
                        AND regexp_matches(message || ' ' || attributes, '{_WALLET}')
                      ORDER BY timestamp, event_id LIMIT 50""")
    # The amount asked for is often not on the event that names the wallet (a note's text, a second
    # YARA string, a mail): look in every event with ransom or payment wording, preferring the
    # wallet's own events, then ransom-note/YARA evidence, then anything else in that context.
    wallet_ids = _sql_list(r["event_id"] for r in text)
    demand = q.rows(f"""SELECT event_id, regexp_extract(message || ' ' || attributes, '{_DEMAND}', 1) AS amount,
                               regexp_extract(message || ' ' || attributes, '{_DEMAND}', 2) AS cur
                        FROM story_text WHERE regexp_matches(message || ' ' || attributes, '{_DEMAND}')
                          AND (list_contains({wallet_ids}, event_id) OR data_type = 'yara:match'
                               OR regexp_matches(message || ' ' || attributes, '(?i)(ransom|decrypt|wallet|pay(ment)?\\b|赎金|解密|支付)'))
                        ORDER BY NOT list_contains({wallet_ids}, event_id), data_type <> 'yara:match', timestamp, event_id LIMIT 50""")
    if not (notes or yara or text):  # an amount alone (a price list, an exchange log) is no extortion
        return None
    value: dict[str, Any] = {"ransom_note_files": sorted({r["file_path"] for r in notes})[:20],
                             "hosts": sorted({_name(st, h) for r in notes if (h := host_id(r["host"]))})}
    for r in text:
        if r["wallet"]:
            value["wallet"] = r["wallet"]
            break
    for r in demand:
        try:
            value["demand"] = float(r["amount"].replace(",", "."))
        except ValueError:
            continue
        cur = r["cur"].upper()
        value["currency"] = {"BITCOIN": "BTC", "MONERO": "XMR"}.get(cur, cur)
        break
    if value.get("wallet") or value.get("currency") in ("BTC", "XMR", "ETH", "USDT"):
        value["payment_method"] = "monero" if value.get("currency") == "XMR" else "bitcoin" if (value.get("wallet", "").startswith(("bc1", "1", "3")) or value.get("currency") == "BTC") else "virtual currency"
    conf = 0.5 + 0.15 * bool(notes) + 0.15 * bool(yara) + 0.15 * bool(text)
    return _fact("extortion", value, conf, [r["event_id"] for r in notes[:8] + yara[:6] + text[:6] + demand[:3]],
                 "ransom note files, YARA ransom-note/wallet matches, wallet addresses in recovered text")


def _social_engineering(q: _Q, st: _State) -> Fact | None:
    mail_login = q.rows("""SELECT event_id, timestamp, "user", src_ip, host FROM events
        WHERE list_contains(tags, 'login') AND NOT list_contains(tags, 'login_failed') AND src_ip IS NOT NULL AND NOT cc_private(src_ip)
          AND (data_type ILIKE '%mail%' OR data_type ILIKE '%o365%' OR data_type ILIKE '%m365%' OR data_type ILIKE '%exchange%'
               OR host ILIKE '%mail%' OR host ILIKE '%outlook%' OR host ILIKE '%exchange%' OR attributes ILIKE '%"workload":"exchange"%')
        ORDER BY timestamp, event_id LIMIT 100""")
    rules = q.rows("""SELECT event_id, timestamp, "user", message FROM story_text
        WHERE message ILIKE '%inboxrule%' OR message ILIKE '%inbox rule%' OR attributes ILIKE '%New-InboxRule%'
           OR attributes ILIKE '%Set-InboxRule%' OR list_contains(attack, 'T1564.008') OR list_contains(attack, 'T1114.003')
           OR message ILIKE '%forwarding rule%' OR message ILIKE '%收件箱规则%'
        ORDER BY timestamp, event_id LIMIT 100""")
    transfer = q.rows("""SELECT event_id, timestamp, "user", message FROM story_text
        WHERE (message ILIKE '%wire transfer%' OR message ILIKE '%bank account%' OR message ILIKE '%IBAN%' OR message ILIKE '%SWIFT%'
               OR message ILIKE '%new account details%' OR message ILIKE '%汇款%' OR message ILIKE '%付款%' OR message ILIKE '%收款账户%'
               OR message ILIKE '%银行账户%')
          AND (data_type ILIKE '%mail%' OR data_type ILIKE '%smtp%' OR message ILIKE '%subject%' OR message ILIKE '%mail%')
        ORDER BY timestamp, event_id LIMIT 100""")
    if not (rules or transfer or (mail_login and (rules or transfer))):
        return None
    value = {"mailbox_logins_from_external": [{"user": r["user"], "ip": r["src_ip"], "time": iso_utc(r["timestamp"])} for r in mail_login[:20]],
             "inbox_rules": [{"user": r["user"], "time": iso_utc(r["timestamp"]), "what": r["message"][:200]} for r in rules[:20]],
             "transfer_instructions": [{"time": iso_utc(r["timestamp"]), "what": r["message"][:200]} for r in transfer[:20]],
             "fraudulent_transfers": []}
    conf = 0.4 + 0.2 * bool(mail_login) + 0.2 * bool(rules) + 0.15 * bool(transfer)
    return _fact("social_engineering", value, conf, [r["event_id"] for r in mail_login[:6] + rules[:6] + transfer[:6]],
                 "fraudulent transfers themselves are in the case's financial documents (fraud.yaml), not in the evidence")


def _attribution(q: _Q, st: _State, case_docs: list[Path]) -> Fact | None:
    rows = q.rows(f"""SELECT event_id, coalesce(json_extract_string(attributes, '$.actor'), json_extract_string(attributes, '$.threat_actor'),
                                    json_extract_string(attributes, '$.meta.actor'), json_extract_string(attributes, '$.meta.threat_actor'),
                                    regexp_extract(message || ' ' || attributes, '{_STATE}', 1)) AS actor,
                             regexp_matches(message || ' ' || attributes, '{_STATE}') AS state
                      FROM events WHERE ({STRONG}) AND (attributes ILIKE '%actor%' OR regexp_matches(message || ' ' || attributes, '{_STATE}'))
                      ORDER BY timestamp, event_id LIMIT 50""")
    doc_hits, gov, major, linked = [], [], False, False
    for p in case_docs:
        text = _doc_text(p)
        m = re.search(_STATE, text)
        if not m:
            continue
        doc_hits.append((_doc_name(p), m.group(1)))
        g = re.search(_GOV_ATTRIBUTION, text)
        if g:
            gov.append((_doc_name(p), g.group(1)))
        major = major or bool(re.search(_MAJOR_IMPACT, text))
        # the statement is about *this* incident when it names infrastructure the evidence shows
        linked = linked or bool(_doc_indicators(text) & (st.infra_ips | st.infra_domains))
    if not rows and not doc_hits:
        return None
    actor = next((r["actor"] for r in rows if r["actor"]), None) or (doc_hits[0][1] if doc_hits else None)
    state = any(r["state"] for r in rows) or bool(doc_hits)
    basis = ([f"rule/intel metadata on {len(rows)} event(s)"] if rows else []) + [f"case document {n}: {w!r}" for n, w in doc_hits]
    if gov:
        basis.insert(0, f"official attribution by government ({gov[0][1]}, in {gov[0][0]})")
    conf = 0.4 + 0.2 * bool(rows) + 0.2 * bool(gov) + 0.15 * linked
    value = {"state_actor": state, "actor": actor, "basis": "; ".join(basis), "major_detrimental_impact": major,
             "government_attribution": bool(gov), "indicators_match_evidence": linked}
    return _fact("attribution", value, conf, [r["event_id"] for r in rows],
                 "state attribution from rule/intel metadata and case documents; a government statement naming "
                 "this incident's infrastructure weighs most")


def _doc_text(p: Path) -> str:
    try:
        with open(p, "rb") as f:
            return f.read(1_000_000).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _doc_indicators(text: str) -> set[str]:
    """IP addresses and domain names a document lists (lower-case)."""
    out = {ip for ip in re.findall(_DOC_IP, text) if _ip(ip)}
    out |= {d.lower().rstrip(".") for d in re.findall(_DOC_DOMAIN, text, flags=re.I)
            if not re.fullmatch(r"[\d.]+", d) and "." in d and not d.lower().endswith((".txt", ".md", ".yaml", ".json", ".exe", ".dll"))}
    return out


def _intel_infrastructure(q: _Q, st: _State, case_docs: list[Path]) -> list[str]:
    """Indicators a threat-intel or attribution document lists that the evidence itself shows: attacker infrastructure."""
    found: list[str] = []
    for p in case_docs:
        text = _doc_text(p)
        if not (re.search(_INTEL_DOC, text) or re.search(_STATE, text)):
            continue
        cand = sorted(_doc_indicators(text) - st.infra_ips - st.infra_domains)
        if not cand:
            continue
        lst = _sql_list(cand)
        for r in q.rows(f"""SELECT DISTINCT x FROM (
                              SELECT unnest([src_ip, dst_ip, lower(domain)]) AS x FROM events WHERE {TIMED}
                              UNION ALL SELECT unnest(regexp_extract_all(message, '{_DOC_IP}')) FROM events WHERE {TIMED})
                            WHERE list_contains({lst}, x)"""):
            k = r["x"]
            if _ip(k):
                if not is_private(_ip(k)):
                    st.infra_ips.add(_ip(k))
                    found.append(k)
            else:
                st.infra_domains.add(k)
                found.append(k)
    return found


def _operator_error(q: _Q, st: _State, malicious: bool) -> Fact | None:
    if malicious:
        return _fact("operator_error", False, 0.7, [], "attack indicators present")
    rows = q.rows(f"""SELECT event_id, timestamp, host, "user", coalesce(process_cmdline, message) AS cmd FROM events
                      WHERE regexp_matches(coalesce(process_cmdline, '') || ' ' || message, '{_DESTRUCTIVE}')
                      ORDER BY NOT {TIMED}, timestamp, event_id LIMIT 50""")
    if not rows:
        return None
    r = rows[0]
    return _fact("operator_error", True, 0.7,
                 [x["event_id"] for x in rows],
                 f"no attack indicators; destructive command by {r['user'] or 'an operator'} on {r['host']}: {r['cmd'][:160]}")


def _discovery(q: _Q, st: _State, notes: Fact | None) -> Fact | None:
    """When the insured found out: someone opened the ransom note, or the first alert of their own tooling."""
    if notes and notes.value.get("ransom_note_files"):
        names = [p.replace("\\", "/").rsplit("/", 1)[-1] for p in notes.value["ransom_note_files"]]
        like = " OR ".join(f"process_cmdline ILIKE '%{n.replace(chr(39), '')}%'" for n in sorted(set(names))[:20])
        r = q.rows(f"""SELECT event_id, timestamp, host, "user" FROM events WHERE process_cmdline IS NOT NULL AND ({like}) AND {TIMED}
                       AND NOT regexp_matches(lower(coalesce("user", '')), '(system|local service|network service)$')
                       ORDER BY timestamp, event_id LIMIT 3""")
        if r:
            return _fact("discovery", iso_utc(r[0]["timestamp"]), 0.75, [x["event_id"] for x in r],
                         f"{r[0]['user']} opened the ransom note on {r[0]['host']}")
    r = q.rows(f"""SELECT event_id, timestamp FROM events WHERE (data_type ILIKE '%alert%' OR data_type ILIKE '%defender%' OR data_type ILIKE '%antivirus%')
                  AND severity IN ('high', 'critical') AND timestamp >= ? AND {TIMED} ORDER BY timestamp, event_id LIMIT 3""", [st.t0 or 0])
    if r:
        return _fact("discovery", iso_utc(r[0]["timestamp"]), 0.5, [x["event_id"] for x in r], "first high-severity alert of the insured's own tooling")
    return None


def _containment(q: _Q, st: _State) -> Fact | None:
    if st.t_access is None and st.t0 is None:
        return None
    after = st.t_access or st.t0
    infra = _sql_list(st.infra_ips)
    r = q.rows(f"""SELECT event_id, timestamp FROM events
        WHERE timestamp >= ? AND {TIMED} AND (
              (lower(json_extract_string(attributes, '$.action')) IN ('block', 'drop', 'deny', 'reject', 'quarantine', 'isolate')
               AND (list_contains({infra}, dst_ip) OR list_contains({infra}, src_ip)) AND cc_private(src_ip))
           OR list_contains(tags, 'containment')
           OR (json_extract_string(attributes, '$.event_id') IN ('4725') AND list_contains({_sql_list(st.accounts)}, lower(json_extract_string(attributes, '$.target_user')))))
        ORDER BY timestamp, event_id LIMIT 5""", [after])
    if r:
        return _fact("containment", iso_utc(r[0]["timestamp"]), 0.75, [x["event_id"] for x in r],
                     "first block of traffic between a compromised host and attacker infrastructure (or account disabled / host isolated)")
    last = q.rows(f"""SELECT event_id, timestamp FROM events WHERE {TIMED} AND (list_contains({infra}, src_ip) OR list_contains({infra}, dst_ip))
                      ORDER BY timestamp DESC, event_id LIMIT 1""") if st.infra_ips else []
    if last:
        return _fact("containment", iso_utc(last[0]["timestamp"]), 0.35, [last[0]["event_id"]],
                     "no explicit containment action found; last observed contact with attacker infrastructure")
    return None


def _classify(story: Storyline) -> Fact:
    """The GB/T 20986-2023 category of the PRIMARY incident, the other categories it also fits in the note.

    The standard classifies an event by what it is, and a compound incident by its primary event: the
    one that started it and that the rest exploited. So, in order:
    - malicious programs whose effect is the incident: ransomware (MPRANS) only when it asks for a ransom
      (a note or a demand); encryption with no way to pay, or wiping, is destructive malware, a
      sub-category the standard does not name, so "other malicious program" (MPOTH);
    - a denial of service (NADOS), even when another act hid behind it: the flood is what took the
      service down and what the tampering or intrusion used as cover;
    - an intrusion through an exploited vulnerability (web exploit): a network attack (NA; the
      standard's exploitation sub-code is not one we can name from its annex, so the category alone),
      whatever it then reached (a leak is the consequence, named in the note);
    - data security events by what happened to the data: tampering, leak; social engineering (BEC,
      payment fraud by impersonation) is a data security sub-category in the 2023 edition (DS);
    - an operator's mistake without an attacker: improper operation (RO);
    - any other attack: NA; nothing malicious and no operator error: OTH.
    """
    impacts = {f.name.split(":", 1)[1]: f for f in story.impact}
    ext = story.extortion.value if story.extortion else {}
    ransom_asked = bool(ext.get("ransom_note_files") or ext.get("demand") or ext.get("wallet"))
    vector = str(((story.initial_access.value if story.initial_access else None) or {}).get("vector") or "").lower()
    ia_ids = story.initial_access.cited_event_ids[:5] if story.initial_access else []
    leak_ids = story.exfiltration[0].cited_event_ids[:5] if story.exfiltration else []
    rules: list[tuple[str, bool, Any]] = [
        ("MPRANS", "encryption" in impacts and ransom_asked or bool(ext.get("ransom_note_files")),
         lambda: (impacts["encryption"].cited_event_ids if "encryption" in impacts else story.extortion.cited_event_ids)[:5]),
        ("MPOTH", "wiping" in impacts or "encryption" in impacts,
         lambda: (impacts.get("wiping") or impacts["encryption"]).cited_event_ids[:5]),
        ("NADOS", "denial_of_service" in impacts, lambda: impacts["denial_of_service"].cited_event_ids[:5]),
        ("NA", vector.startswith(("web exploit", "exploit", "vulnerability")), lambda: ia_ids),
        ("DSDATATAMPER", "data_tampering" in impacts, lambda: impacts["data_tampering"].cited_event_ids[:5]),
        ("DSDATALEAK", bool(story.exfiltration), lambda: leak_ids),
        ("DS", bool(story.social_engineering), lambda: story.social_engineering.cited_event_ids[:5]),
        ("RO", bool(story.operator_error and story.operator_error.value is True),
         lambda: story.operator_error.cited_event_ids[:5]),
        ("NA", bool(story.malicious and story.malicious.value), lambda: story.malicious.cited_event_ids[:5]),
    ]
    fits = [(code, cite) for code, present, cite in rules if present]
    code, cited = (fits[0][0], fits[0][1]()) if fits else ("OTH", [])
    secondary = list(dict.fromkeys(c for c, _ in fits[1:] if c != code and not (c == "NA" and code.startswith("NA"))))
    return _fact("gbt_category", code, 0.8 if cited else 0.3, cited,
                 GBT_NAMES.get(code, "") + (f"; also {', '.join(secondary)}" if secondary else ""))


def read_inventory(data_inventory: Any) -> list[dict]:
    """data_inventory.csv rows as dicts (system, host, record_type, count); accepts a path, rows or models."""
    if data_inventory is None:
        return []
    if isinstance(data_inventory, (str, Path)):
        p = Path(data_inventory)
        if p.is_dir():
            p = p / "data_inventory.csv"
        if not p.is_file():
            return []
        with open(p, newline="", encoding="utf-8-sig") as f:
            return [r for r in csv.DictReader(f) if r.get("system")]
    rows = []
    for r in data_inventory:
        d = r if isinstance(r, dict) else (r.model_dump() if hasattr(r, "model_dump") else vars(r))
        rows.append(d)
    return rows


def build_storyline(case_id: str, data_inventory=None, files: list[str] | None = None,
                    offsets: dict[str, int] | None = None, case_docs: list[Path] | None = None) -> Storyline:
    """The storyline of a case (see module doc). `files`/`offsets` bypass the case database (tests, bench)."""
    from forensics.timecorrect import case_connection

    if data_inventory is None or case_docs is None:
        fin_dir = None
        try:
            from case_store import cases
            c = cases.get_case(case_id)
            fin_dir = Path(c.financials_path) if c.financials_path else None
        except Exception:
            fin_dir = None
        if data_inventory is None and fin_dir:
            data_inventory = fin_dir / "data_inventory.csv"
        if case_docs is None:
            case_docs = sorted(p for p in fin_dir.rglob("*") if p.suffix.lower() in (".txt", ".md", ".yaml", ".yml", ".json")) if fin_dir else []
            case_docs += _evidence_documents(case_id)
    inventory = read_inventory(data_inventory)
    con = case_connection(case_id if files is None else None, files, offsets)
    try:
        return _build(case_id, _Q(con), inventory, case_docs or [])
    finally:
        con.close()


class _EvidenceDoc(type(Path())):
    """A vault file read as a document, named as the evidence it is."""
    display = ""


def _doc_name(p: Path) -> str:
    return getattr(p, "display", "") or p.name


def _evidence_documents(case_id: str) -> list[Path]:
    """Statements registered as evidence (an attribution statement, an intel report): read from the vault."""
    try:
        from case_store import cases, vault
        out = []
        for e in cases.list_evidence(case_id):
            if e.parent_sha256 is None and Path(e.original_name).suffix.lower() in (".txt", ".md"):
                p = _EvidenceDoc(vault.vault_path(e.sha256))
                p.display = f"{e.original_name} (evidence sha256 {e.sha256})"
                out.append(p)
        return out
    except Exception:
        return []


def _build(case_id: str, q: _Q, inventory: list[dict], case_docs: list[Path]) -> Storyline:
    st = _State()
    story = Storyline(case_id=case_id)
    _story_text(q)
    _host_maps(q, st)
    strong = q.rows(f"SELECT event_id, evidence_sha256 FROM events WHERE {STRONG} ORDER BY timestamp, event_id LIMIT 50")
    n_sources = q.one(f"SELECT count(DISTINCT evidence_sha256) FROM events WHERE {STRONG}") or 0
    malicious = bool(strong)
    story.malicious = _fact("malicious", malicious, min(0.95, 0.5 + 0.15 * n_sources) if malicious else 0.5,
                            [r["event_id"] for r in strong[:10]],
                            f"attack indicators in {n_sources} evidence item(s)" if malicious else "no attack indicators in the evidence")
    story.attacker_infrastructure = _infrastructure(q, st) if malicious else None
    intel = _intel_infrastructure(q, st, case_docs) if malicious else []
    if intel:
        if story.attacker_infrastructure is None:
            story.attacker_infrastructure = _fact("attacker_infrastructure", [], 0.6, [])
        story.attacker_infrastructure.value = _infra_value(st)
        story.attacker_infrastructure.note += "; indicators a threat-intel/attribution document lists and the evidence shows"
    story.t0, story.initial_access = _initial_access(q, st) if malicious else (None, None)
    if story.attacker_infrastructure is not None:  # initial access may have named more of it (phishing, VPN)
        story.attacker_infrastructure.value = _infra_value(st)
    _compromised(q, st, story.attacker_infrastructure)
    story.lateral_movement = _lateral(q, st)
    corr = _access_correlation(q, st, story.initial_access)
    if corr:
        story.facts.append(corr)
    story.privilege_escalation = _tactic_fact(q, st, "privilege_escalation", ("privilege-escalation",),
                                              ("privilege_escalation", "privileged_logon"), "privileges gained on compromised hosts after T0")
    story.persistence = _tactic_fact(q, st, "persistence", ("persistence",), ("service_installation", "task_scheduled", "account_created"),
                                     "services, tasks, accounts and autoruns created on compromised hosts after T0")
    attacker_discovery = _tactic_fact(q, st, "attacker_discovery", ("discovery",), (), "the attacker's own reconnaissance (ATT&CK discovery tactic)")
    if attacker_discovery:
        story.facts.append(attacker_discovery)
    story.impact = _impact(q, st) if malicious else []
    tamper = _tampering(q, st, inventory) if malicious else None
    if tamper:
        story.impact = [f for f in story.impact if f.name != "impact:data_tampering"] + [tamper]
        for k, v in tamper.value["records"].items():
            story.records_affected[k] = max(story.records_affected.get(k, 0), v)
    for f in story.impact:
        for h in f.value["hosts"]:
            hid = host_id(h)
            if hid and hid.startswith("host:") and f.name in ("impact:encryption", "impact:wiping"):
                st.compromised.setdefault(hid, h)
    if st.compromised:
        story.compromised_hosts = _fact("compromised_hosts", sorted(st.compromised.values(), key=str.lower), 0.75,
                                        (story.lateral_movement.cited_event_ids if story.lateral_movement else [])
                                        + (story.initial_access.cited_event_ids if story.initial_access else []))
    story.outages = _outages(q, st)
    story.exfiltration = _exfiltration(q, st, inventory)
    im, im_leaks = _instant_messaging(q, st)
    if im:
        story.facts.append(im)
        story.exfiltration += im_leaks
    # a named system whose data an attacker pulled out (a database behind an injected web app) is compromised too
    grown = False
    for x in story.exfiltration:
        if x in im_leaks:
            continue
        for h in x.source_hosts:
            hid = host_id(h)
            if hid and hid.startswith("host:") and hid not in st.compromised:
                st.compromised[hid] = h
                grown = True
    if grown:
        story.compromised_hosts = _fact("compromised_hosts", sorted(st.compromised.values(), key=str.lower), 0.7,
                                        (story.compromised_hosts.cited_event_ids if story.compromised_hosts else [])
                                        + [i for x in story.exfiltration for i in x.cited_event_ids[:3]])
    story.exfiltrated_bytes = sum(x.bytes for x in story.exfiltration)
    if story.exfiltration and story.attacker_infrastructure:
        _infra_names(q, st)
        story.attacker_infrastructure.value = _infra_value(st)
        story.attacker_infrastructure.cited_event_ids = (story.attacker_infrastructure.cited_event_ids
                                                         + [i for x in story.exfiltration for i in x.cited_event_ids[:2]])[:MAX_CITES]
    for x in story.exfiltration:
        for k, v in x.records_by_type.items():
            story.records_affected[k] = max(story.records_affected.get(k, 0), v)
    story.extortion = _extortion(q, st) if malicious else None
    story.discovery = _discovery(q, st, story.extortion)
    story.containment = _containment(q, st) if malicious else None
    story.social_engineering = _social_engineering(q, st)
    story.attribution = _attribution(q, st, case_docs)
    story.operator_error = _operator_error(q, st, malicious)
    if story.operator_error and story.operator_error.value is True:
        first = q.rows("SELECT timestamp FROM events WHERE event_id = ?", [story.operator_error.cited_event_ids[0]])
        story.t0 = _fact("t0", iso_utc(first[0]["timestamp"]), 0.6, story.operator_error.cited_event_ids[:1], "first faulty (operator) action")
        story.initial_access = _fact("initial_access", {"vector": "operator error"}, 0.6, story.operator_error.cited_event_ids[:3])
    if im_leaks and not malicious and not (story.operator_error and story.operator_error.value is True):
        _insider(story, im, im_leaks)
    techs = q.rows(f"""SELECT DISTINCT unnest(attack) AS t FROM events WHERE {STRONG} OR
                       (timestamp >= ? AND host IS NOT NULL AND {_on_hosts(st) if st.compromised else 'false'})""", [st.t0 or 0])
    tech_ids = sorted({r["t"] for r in techs})
    if tech_ids:
        story.attack_tactics = _fact("attack_tactics", {"tactics": ordered_tactics(tech_ids), "techniques": tech_ids},
                                     0.7, [r["event_id"] for r in strong[:10]])
    story.gbt_category = _classify(story)
    return story
