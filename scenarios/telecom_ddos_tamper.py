"""Telecom / internet platform: DDoS followed by data tampering, platform outage.

Dongfang Yunlian (东方云联网络科技有限公司) runs a B2B ordering platform. A SYN flood
from a botnet saturates the front end (health checks fail, the site answers
503); under cover of it an attacker exploits SQL injection in the admin API and
rewrites wholesale prices. The platform is taken offline to restore the
database, so the outage runs from the flood until the restore completes."""
from __future__ import annotations

from scenarios.background import http_json_response, polling, syslog_activity, web_hits
from scenarios.kit import Builder
from scenarios.writers import logs, pcap, policy as pol
from scenarios.writers.clock import MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.revenue import RevenueModel

TITLE = "Telecom / internet platform: DDoS then data tampering, platform outage"

WEB, DB, LB = "10.50.1.10", "10.50.2.20", "10.50.0.2"
TAMPER = "203.0.113.80"
T_DDOS = at("2026-04-10T12:00:00Z")
T_DDOS_END = at("2026-04-10T12:40:00Z")
T_OUTAGE = at("2026-04-10T12:03:00Z")
T_SQLI = at("2026-04-10T12:15:00Z")
T_TAMPER = at("2026-04-10T12:22:00Z")
T_DISCOVERY = at("2026-04-10T13:10:00Z")
T_RESTORED = at("2026-04-10T21:45:00Z")
CAPTURE = (at("2026-04-10T11:00:00Z"), at("2026-04-10T23:00:00Z"))
BOTS = [f"198.51.100.{i}" for i in range(2, 202)]


def build(b: Builder) -> dict:
    rng, ff, filler = b.rng, b.ff, b.filler
    attack: list[pcap.Session] = []
    n_flood = 9000
    for i in range(n_flood):  # a sampled view of the flood: spoofed-looking SYNs from the botnet
        t = T_DDOS + i * (T_DDOS_END - T_DDOS) // n_flood
        attack.append((t, pcap.syn_flood_packet(ff, t, BOTS[i % len(BOTS)], 1024 + (i * 7919) % 64000, WEB, 443, i * 2654435761)))
    sqli = ["/admin/api/orders?id=1%27%20AND%201=1--", "/admin/api/orders?id=1%27%20UNION%20SELECT%20user,pass%20FROM%20admins--",
            "/admin/api/orders?id=1%27;UPDATE%20price_list%20SET%20unit_price=unit_price*0.1%20WHERE%20sku%20LIKE%20%27B2B-%25%27--"]
    for k, path in enumerate(sqli):
        t = T_SQLI + k * 3 * MINUTE
        req = f"GET {path} HTTP/1.1\r\nHost: admin.yunlian.example\r\nUser-Agent: sqlmap/1.8\r\n\r\n".encode()
        attack.append((t, pcap.tcp_session(ff, filler, t, TAMPER, 40100 + k, WEB, 8081,
                                           [pcap.Exchange("c", req), pcap.Exchange("s", http_json_response({"ok": True, "rows": k}))],
                                           rtt_us=120_000, ttl_c=51, isn=300 + k)))
    for k in range(40):  # the tampering itself: price updates through the admin API
        t = T_TAMPER + k * 5 * US
        body = f'{{"sku": "B2B-{1000 + k}", "unit_price": {round(0.1 * (50 + k), 2)}}}'.encode()
        req = (f"POST /admin/api/price/update HTTP/1.1\r\nHost: admin.yunlian.example\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        attack.append((t, pcap.tcp_session(ff, filler, t, TAMPER, 41000 + k, WEB, 8081,
                                           [pcap.Exchange("c", req), pcap.Exchange("s", http_json_response({"updated": 1}))],
                                           rtt_us=120_000, ttl_c=51, isn=400 + k)))
    attack.sort(key=lambda s: s[0])
    health = polling(ff, filler, [LB, "10.50.0.3"], WEB, 8080, CAPTURE[0], CAPTURE[1], 20, [(T_OUTAGE, T_RESTORED)],
                     b"GET /healthz HTTP/1.1\r\nHost: web01\r\n\r\n", http_json_response({"status": "ok"}))
    dbpoll = polling(ff, filler, [WEB], DB, 6379, CAPTURE[0], CAPTURE[1], 30, [], b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n")
    b.capture("edge.pcapng", "Capture at the platform edge (pcapng)", iter(attack), health, dbpoll, fmt="pcapng")

    access = [logs.access_line(T_SQLI + k * 3 * MINUTE, TAMPER, "GET", p, 200, 512, agent="sqlmap/1.8") for k, p in enumerate(sqli)]
    access += [logs.access_line(T_TAMPER + k * 5 * US, TAMPER, "POST", "/admin/api/price/update", 200, 64, agent="sqlmap/1.8")
               for k in range(40)]
    b.text_log("web01_admin_access.log", "web_access_log", "Admin API access log on web01 (combined, +0800)",
               logs.sorted_lines(access), timezone="+08:00")
    b.text_log("web01_access.log", "web_access_log", "Public site access log on web01 (combined, +0800)",
               web_hits(rng, "58.33.12", CAPTURE[0], CAPTURE[1], 120, b.scale, 8, [(T_OUTAGE, T_RESTORED)]), timezone="+08:00")
    fw = [logs.firewall_line(T_DDOS + i * 2 * US, "edge-fw", 1200000.0 + i * 2, "BLOCK", BOTS[i % len(BOTS)], WEB, "TCP",
                             2000 + i, 443) for i in range(1200)]
    b.text_log("edge-fw_firewall.log", "firewall_log", "Edge firewall rate-limit drops (UFW kernel log, host clock UTC)",
               logs.sorted_lines(fw), timezone="UTC")
    sys_lines = [logs.syslog_line(T_OUTAGE, "web01", "kernel", None, "[1234567.000001] TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.  Check SNMP counters."),
                 logs.syslog_line(T_DISCOVERY, "db01", "mysqld", 1021, "[Warning] Price audit job: 40 rows in price_list changed outside release window"),
                 logs.syslog_line(T_DISCOVERY + 10 * MINUTE, "web01", "systemd", 1, "Stopped platform-web.service - Yunlian ordering platform (maintenance: database restore)."),
                 logs.syslog_line(T_RESTORED, "web01", "systemd", 1, "Started platform-web.service - Yunlian ordering platform.")]
    b.text_log("platform_syslog.log", "syslog", "web01 and db01 syslog (RFC 3164, host clock UTC)", logs.sorted_lines(sys_lines),
               syslog_activity(rng, "db01", "dba", "10.50.9.4", CAPTURE[0], CAPTURE[1], 1, b.scale), timezone="UTC")

    policy = {
        "policy_number": "CPIC-CYB-2026-BJ-000318", "insurer": "示例财产保险股份有限公司北京分公司",
        "insured": "东方云联网络科技有限公司", "product": "enterprise", "product_type": "telecom_internet",
        "line": "网络安全保险", "jurisdiction": "CN", "currency": "CNY", "timezone": "Asia/Shanghai",
        "period": {"start": "2026-01-01T00:00:00+08:00", "end": "2026-12-31T23:59:59+08:00"},
        "retroactive_date": "2025-01-01", "trigger_basis": "occurrence", "aggregate_limit": 8_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("business_interruption", ["security_failure", "system_failure"], 3_000_000,
                        waiting_period={"hours": 6, "mode": "franchise"}, period_of_restoration_hours=240,
                        bi_basis="gross_profit", retention={"amount": 100_000.0}),
            pol.section("data_restoration", ["security_failure"], 600_000, retention={"amount": 30_000.0}),
            pol.section("incident_response", ["security_failure"], 500_000),
            pol.section("public_relations", ["security_failure"], 150_000, coinsurance=0.2),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("infrastructure_outage"), pol.exclusion("betterment")],
        "hardware_improvement_covered": False,
    }
    cur = "CNY"
    fin = Financials(
        currency=cur,
        profile={"gross_profit_rate": 0.41, "net_profit_rate": 0.12, "continuing_expenses_per_hour": 9_500.0, "savings_rate": 0.0},
        ledger=[invoice(1, "绿盟科技 DDoS scrubbing", "incident_response", 168_000, cur, "2026-04-11", "Emergency scrubbing and attack analysis"),
                invoice(2, "绿盟科技", "incident_response", 72_000, cur, "2026-04-15", "SQL injection forensics"),
                invoice(3, "DBA contractor", "data_restoration", 96_500, cur, "2026-04-11", "Point-in-time restore and price reconciliation"),
                invoice(4, "公关顾问", "public_relations", 60_000, cur, "2026-04-13", "Customer notice on price errors")],
        inventory=[{"system": "platform database", "host": "db01", "record_type": "price_list_rows", "count": 182_000, "personal": False},
                   {"system": "platform database", "host": "db01", "record_type": "customer_accounts", "count": 26_400, "personal": True}],
        claim={"business_interruption": 600_000.0, "data_restoration": 96_500.0, "incident_response": 240_000.0,
               "public_relations": 60_000.0},
    )
    truth = {
        "title": TITLE, "t0": iso(T_DDOS),
        "initial_access": {"vector": "web exploit", "time": iso(T_SQLI), "host": "web01", "source_ip": TAMPER,
                           "note": "SQL injection in the admin API under cover of a SYN flood"},
        "discovery": iso(T_DISCOVERY), "compromised_hosts": ["web01", "db01"],
        "outages": [{"service": "B2B ordering platform", "host": "web01", "start": iso(T_OUTAGE), "end": iso(T_RESTORED)}],
        "exfiltrated_bytes": 0, "records_affected": {"price_list_rows": 40},
        "attacker_infrastructure": [TAMPER, "198.51.100.0/24"], "ddos_sources": len(BOTS),
        "malicious": True, "operator_error": False, "gbt_category": "NADOS",
    }
    coverage = {s["name"]: "triggered" for s in policy["sections"]}
    return b.finish(policy=policy, fin=fin, revenue_model=RevenueModel(mean_per_hour=120_000.0), bi_outage=(T_OUTAGE, T_RESTORED),
                    coverage=coverage, personal_records=0, truth=truth)
