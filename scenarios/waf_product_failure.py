"""A cybersecurity product that failed to stop an attack, under a product-service policy.

Dun'an Information Security (盾安信息安全技术有限公司) sells the DA-WAF web
application firewall. At its customer, an online retailer, an attacker sends
SQL injection with a double-URL-encoding bypass that DA-WAF 5.2 lets through
(logged action=pass), dumps the customer table and downloads it. The retailer
claims against the vendor; the vendor settles. The policy is the vendor's
product/technical-service liability cover: third-party network security
liability and defence costs."""
from __future__ import annotations

import json

from scenarios.background import web_hits
from scenarios.kit import Builder
from scenarios.writers import logs, pcap, policy as pol
from scenarios.writers.clock import MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.revenue import RevenueModel

TITLE = "Security product (WAF) failed to stop an attack: vendor's third-party liability"

SHOP, WAF_IP, ATTACKER = "10.80.1.20", "10.80.1.5", "203.0.113.201"
# The retailer's web server as the evidence knows it: the site every request names (Host:) behind the WAF's
# address. Neither the capture (in front of the WAF) nor the access log carries a machine name for it.
SITE = "shop.example.cn"
T_PROBE = at("2026-06-03T18:10:00Z")
T_BYPASS = at("2026-06-03T18:31:00Z")
T_DUMP = at("2026-06-03T18:40:00Z")
T_DISCOVERY = at("2026-06-05T01:00:00Z")
CAPTURE = (at("2026-06-03T17:00:00Z"), at("2026-06-03T20:00:00Z"))
DUMP_BYTES = 6_000_000


def build(b: Builder) -> dict:
    rng, ff, filler = b.rng, b.ff, b.filler
    blocked = ["/product?id=1'%20OR%20'1'='1", "/product?id=1%20UNION%20SELECT%20NULL--", "/search?q=<script>alert(1)</script>"]
    bypass = ["/product?id=1%2527%2520UNION%2520SELECT%2520username,password_hash%2520FROM%2520customers--",
              "/product?id=1%2527%2520UNION%2520SELECT%2520phone,address%2520FROM%2520customers%2520LIMIT%25200,5000--"]
    sessions, access, waf = [], [], []
    to_attacker = 0  # every payload byte the web server sent the attacker (the stolen data leaves in responses)
    for k, path in enumerate(blocked * 4):
        t = T_PROBE + k * 40 * US
        req = f"GET {path} HTTP/1.1\r\nHost: {SITE}\r\nUser-Agent: Mozilla/5.0\r\n\r\n".encode()
        resp = b"HTTP/1.1 403 Forbidden\r\nServer: DA-WAF\r\nContent-Length: 0\r\n\r\n"
        to_attacker += len(resp)
        sessions.append((t, pcap.tcp_session(ff, filler, t, ATTACKER, 45000 + k, WAF_IP, 80, [pcap.Exchange("c", req), pcap.Exchange("s", resp)],
                                             rtt_us=140_000, ttl_c=50, isn=500 + k)))
        waf.append((t, json.dumps({"time": iso(t), "client": ATTACKER, "uri": path, "rule": "SQLI-942100" if "SELECT" in path or "OR" in path else "XSS-941100",
                                   "action": "block", "engine": "DA-WAF 5.2.0"})))
        access.append(logs.access_line(t, ATTACKER, "GET", path, 403, 0))
    for k in range(60):
        path = bypass[k % 2].replace("0,5000", f"{k * 1000},1000")
        t = T_BYPASS + k * 9 * US
        req = f"GET {path} HTTP/1.1\r\nHost: {SITE}\r\nUser-Agent: Mozilla/5.0\r\n\r\n".encode()
        body = 80_000 if k >= 2 else 2_000
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + str(body).encode() + b"\r\n\r\n"
        to_attacker += len(head) + body
        sessions.append((t, pcap.tcp_session(ff, filler, t, ATTACKER, 46000 + k, WAF_IP, 80,
                                             [pcap.Exchange("c", req), pcap.Exchange("s", head), pcap.Exchange("s", body)], rtt_us=140_000, ttl_c=50, isn=600 + k)))
        waf.append((t, json.dumps({"time": iso(t), "client": ATTACKER, "uri": path, "rule": None, "action": "pass", "engine": "DA-WAF 5.2.0"})))
        access.append(logs.access_line(t, ATTACKER, "GET", path, 200, body))
    t = T_DUMP
    req = f"GET /static/upload/c.sql.gz HTTP/1.1\r\nHost: {SITE}\r\n\r\n".encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: " + str(DUMP_BYTES).encode() + b"\r\n\r\n"
    to_attacker += len(head) + DUMP_BYTES
    sessions.append((t, pcap.tcp_session(ff, filler, t, ATTACKER, 47001, WAF_IP, 80,
                                         [pcap.Exchange("c", req), pcap.Exchange("s", head), pcap.Exchange("s", DUMP_BYTES)], rtt_us=140_000, bandwidth_bps=30_000_000, ttl_c=50, isn=700)))
    access.append(logs.access_line(t, ATTACKER, "GET", "/static/upload/c.sql.gz", 200, DUMP_BYTES))
    waf.append((t, json.dumps({"time": iso(t), "client": ATTACKER, "uri": "/static/upload/c.sql.gz", "rule": None, "action": "pass", "engine": "DA-WAF 5.2.0"})))
    sessions.sort(key=lambda s: s[0])
    b.capture("shop_dmz.pcap", "Capture in front of the customer's WAF (DMZ)", iter(sessions))
    b.text_log("shop_access.log", "web_access_log", "Customer web server access log behind the WAF (combined, +0800)",
               logs.sorted_lines(access), web_hits(rng, "116.228.4", CAPTURE[0], CAPTURE[1], 200, b.scale, 8), timezone="+08:00")
    b.text_log("da-waf_events.jsonl", "jsonl", "DA-WAF event log exported as JSON lines", logs.sorted_lines(waf))

    policy = {
        "policy_number": "TPIC-PL-2026-HZ-000552", "insurer": "示例财产保险股份有限公司杭州分公司",
        "insured": "盾安信息安全技术有限公司", "product": "product_service", "product_type": "security_product:waf",
        "line": "网络安全产品/服务责任保险", "jurisdiction": "CN", "currency": "CNY", "timezone": "Asia/Shanghai",
        "period": {"start": "2026-01-01T00:00:00+08:00", "end": "2026-12-31T23:59:59+08:00"},
        "retroactive_date": "2025-01-01", "trigger_basis": "claims_made_and_reported", "aggregate_limit": 5_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("network_security_liability", ["security_failure"], 3_000_000, retention={"amount": 100_000.0},
                        coinsurance=0.2, conditions=["Third-party loss caused by failure of the insured's security product to perform as specified."]),
            pol.section("legal_costs", ["security_failure"], 500_000),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("uninsurable_fines"), pol.exclusion("prior_known_circumstances")],
        "hardware_improvement_covered": False,
    }
    cur = "CNY"
    fin = Financials(
        currency=cur,
        profile={"gross_profit_rate": 0.55, "net_profit_rate": 0.18, "continuing_expenses_per_hour": 4_000.0},
        ledger=[invoice(1, "天元律师事务所", "legal_costs", 188_000, cur, "2026-07-20", "Defence of the retailer's claim, expert on WAF bypass")],
        inventory=[{"system": "retailer shop database (third party)", "host": "shop-db", "record_type": "customer_records", "count": 58_000, "personal": True}],
        claim={"network_security_liability": 1_350_000.0, "legal_costs": 188_000.0},
        liability={"notified_individuals": 0, "notification_cost_per_individual": 0.0, "credit_monitoring_cost_per_individual": 0.0,
                   "settlements": [{"party": "悦购电子商务有限公司 (the retailer)", "amount": 1_200_000.0}], "fines": []},
    )
    truth = {
        "title": TITLE, "t0": iso(T_PROBE),
        "initial_access": {"vector": "web exploit (WAF bypass)", "time": iso(T_BYPASS), "host": SITE, "source_ip": ATTACKER},
        "discovery": iso(T_DISCOVERY), "compromised_hosts": [SITE, "shop-db"], "outages": [],
        "exfiltrated_bytes": to_attacker,
        "exfiltration": [{"source_host": SITE, "src_ip": WAF_IP, "dst_ip": ATTACKER, "src_port": 80,
                          "payload_bytes": to_attacker, "start": iso(T_PROBE), "direction": "server_to_client",
                          "note": "SQL injection results and the database dump, all in HTTP responses to the attacker"}],
        "records_affected": {"customer_records": 58_000}, "attacker_infrastructure": [ATTACKER],
        "malicious": True, "operator_error": False, "waf_bypass_requests": 60, "gbt_category": "NA",
        "_anchor_us": T_DUMP,
    }
    coverage = {"network_security_liability": "triggered", "legal_costs": "triggered"}
    return b.finish(policy=policy, fin=fin, revenue_model=RevenueModel(mean_per_hour=9_000.0), bi_outage=None,
                    coverage=coverage, personal_records=0, truth=truth)
