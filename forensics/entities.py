"""Entity resolution: one node per real-world thing, however each source spells it.

The same IP appears as `::ffff:10.0.0.5` in a Sysmon event and `10.0.0.5` in a
flow; a host is `WS01`, `ws01.corp.local` or (as a machine account) `WS01$`;
an account is `CORP\\alice`, `alice@corp.local` or `alice`; a process is only
itself on one host, with one pid, from one start time (pids are reused).

The rules are Python functions applied to *distinct spellings*: queries
first reduce millions of events to the few thousand distinct raw values they
mention (DuckDB GROUP BY / DISTINCT), `register_entity_map` resolves those
once, and the queries join back on the resulting table.

Entity ids are `kind:key`, e.g. `host:ws01`, `account:alice`, `ip:10.0.0.5`,
`process:ws01:4242:1700000000000000`.
"""
from __future__ import annotations

import ipaddress
import re

import duckdb
import pandas as pd

KINDS = ("host", "account", "process", "ip", "domain", "url", "file", "service", "rule")

# Values that name nothing: Windows writes "-" for an absent field, and the
# unspecified / loopback addresses are on every host, so they cannot join evidence.
_NOTHING = {"", "-", "n/a", "null", "none", "(null)"}
_NOT_AN_IP = {"0.0.0.0", "::", "127.0.0.1", "::1", "localhost"}
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_IPV6ISH = re.compile(r"^\[?[0-9a-fA-F:.]+(%[^\]]*)?\]?(:\d+)?$")


def ip_key(value: str | None) -> str | None:
    """Canonical text of an address: IPv4-mapped IPv6 unwrapped, brackets, ports and zones dropped."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in _NOTHING:
        return None
    v = re.sub(r"^\[|\](:\d+)?$", "", v)
    v = re.sub(r"%.*$", "", v)
    v = re.sub(r"^::ffff:(\d+\.\d+\.\d+\.\d+)$", r"\1", v)
    if v in _NOT_AN_IP:
        return None
    return v


def looks_like_ip(value: str) -> bool:
    v = value.strip()
    return bool(_IPV4.match(v)) or (":" in v and bool(_IPV6ISH.match(v)))


def host_id(value: str | None) -> str | None:
    """`WS01`, `ws01.corp.local`, `WS01$`, `\\\\WS01` -> `host:ws01`; a host written as an address is that IP."""
    if value is None:
        return None
    v = value.strip()
    if v.lower() in _NOTHING or v.lower() == "localhost":
        return None
    if looks_like_ip(v):
        k = ip_key(v)
        return f"ip:{k}" if k else None
    v = re.sub(r"^\\+|\$$", "", v).lower()
    v = v.split(".", 1)[0].strip().rstrip("$").strip()  # FQDN -> NetBIOS-style first label
    return f"host:{v}" if v and re.fullmatch(r"[\w\-]+", v) and v not in _NOTHING and v != "localhost" else None


def account_id(value: str | None) -> str | None:
    """`CORP\\alice`, `alice@corp.local`, `alice` -> `account:alice`; a machine account `WS01$` is the host."""
    if value is None:
        return None
    v = value.strip()
    if v.lower() in _NOTHING:
        return None
    v = v.split("\\")[-1].split("@", 1)[0].strip().lower()
    if not v or v in _NOTHING or not re.search(r"\w", v):
        return None
    if v.endswith("$"):
        return host_id(v)
    return f"account:{v}"


def process_id(host: str | None, pid: int | None, start_us: int | None) -> str | None:
    h = host_id(host)
    if pid is None or h is None:
        return None
    return f"process:{h.split(':', 1)[1]}:{pid}:{start_us if start_us is not None else '?'}"


def domain_id(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip().lower().rstrip(".")
    return f"domain:{v}" if v and v not in _NOTHING else None


# Inside the insured's network: RFC 1918, loopback, link-local, IPv6 ULA. Not
# Python's `is_private`, which also counts the documentation ranges
# (TEST-NET 192.0.2/24, 198.51.100/24, 203.0.113/24) that exercises and
# write-ups use for *Internet* addresses. Same list as the SQL `cc_private`.
_INTERNAL = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10")]


def is_private(ip: str) -> bool:
    """Inside the insured's network (see _INTERNAL)."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if getattr(a, "ipv4_mapped", None):
        a = a.ipv4_mapped
    return any(a in n for n in _INTERNAL if n.version == a.version)


def service_id(raw: str | None) -> str | None:
    """`<host>\x1f<service name>` -> `service:<host key>/<name>` (a service exists on one host)."""
    if not raw or "\x1f" not in raw:
        return None
    h, _, name = raw.partition("\x1f")
    hid = host_id(h)
    name = name.strip().lower()
    return f"service:{hid.split(':', 1)[1]}/{name}" if hid and name else None


RESOLVERS = {
    "host": host_id,
    "account": account_id,
    "ip": lambda v: f"ip:{k}" if (k := ip_key(v)) else None,
    "domain": domain_id,
    "url": lambda v: f"url:{v.strip()}" if v and v.strip() else None,
    "file": lambda v: f"file:{v.strip().lower()}" if v and v.strip() else None,
    "service": service_id,
    "rule": lambda v: f"rule:{v.strip()}" if v and v.strip() else None,
    "process": lambda v: _process_from_raw(v),
}


def _process_from_raw(raw: str | None) -> str | None:
    """`<host>\x1f<pid>\x1f<start µs or empty>` as the graph query spells a process."""
    if not raw:
        return None
    h, pid, start = (raw.split("\x1f") + ["", ""])[:3]
    try:
        return process_id(h, int(pid), int(start) if start else None)
    except ValueError:
        return None


def register_entity_map(con: duckdb.DuckDBPyConnection, distinct_sql: str, table: str = "entity_map") -> int:
    """Resolve every distinct (kind, raw) pair that `distinct_sql` yields into a temp table (kind, raw, id).

    The resolution rules run once per distinct spelling, not per event: a case
    of 10M events has a few thousand host, account and address spellings.
    """
    pairs = con.execute(f"SELECT DISTINCT kind, raw FROM ({distinct_sql}) WHERE raw IS NOT NULL").fetchall()
    ids = [RESOLVERS[k](r) for k, r in pairs]
    df = pd.DataFrame({"kind": [k for k, _ in pairs], "raw": [r for _, r in pairs], "id": ids},
                      columns=["kind", "raw", "id"]).astype(str).replace("None", None)
    con.register("_entity_df", df)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT kind, raw, id FROM _entity_df")
    con.unregister("_entity_df")
    return len(df)


# `cc_private` as two regular expressions: the reference the prefix-test macro must equal (tests).
CC_PRIVATE_REGEX = r"""x IS NOT NULL AND (
        regexp_matches(x, '^(::ffff:)?(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|127\.|169\.254\.)')
        OR regexp_matches(lower(x), '^(f[cd][0-9a-f]{2}:|fe[89ab][0-9a-f]:|::1$)'))"""

_V4_SECOND = ", ".join(f"'{n}.'" for n in range(16, 32))  # 172.16. - 172.31.


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """SQL helpers for the storyline's set-wise queries.

    `cc_private(x)`: inside the insured's network (entities._INTERNAL). The storyline asks it of
    every event's addresses, so it is spelled as prefix tests (the same answers as CC_PRIVATE_REGEX,
    several times cheaper); the IPv6 forms, which need a colon, keep the regular expression.
    """
    con.execute(f"""CREATE OR REPLACE MACRO cc_private_v4(y) AS
        starts_with(y, '10.') OR starts_with(y, '192.168.') OR starts_with(y, '127.') OR starts_with(y, '169.254.')
        OR (starts_with(y, '172.') AND substr(y, 5, 3) IN ({_V4_SECOND}))""")
    con.execute(r"""CREATE OR REPLACE MACRO cc_private(x) AS x IS NOT NULL AND (
        cc_private_v4(x) OR (starts_with(x, '::ffff:') AND cc_private_v4(substr(x, 8)))
        OR (contains(x, ':') AND regexp_matches(lower(x), '^(f[cd][0-9a-f]{2}:|fe[89ab][0-9a-f]:|::1$)')))""")
