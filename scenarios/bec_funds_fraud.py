"""Funds-transfer fraud after business e-mail compromise.

Haichuan International Trading (海川国际贸易有限公司). The finance manager
enters her mailbox password on a phishing page; the mailbox is then used from
a foreign IP, an inbox rule hides replies about payments, and "updated bank
details" for a real supplier are sent to accounts payable, who make two
transfers to the fraudster's account in Hong Kong. The bank recalls part of
the second."""
from __future__ import annotations

import json

from scenarios.background import syslog_activity, web_browsing
from scenarios.kit import Builder
from scenarios.writers import documents, logs, pcap, policy as pol
from scenarios.writers.clock import HOUR, MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.revenue import RevenueModel

TITLE = "Funds-transfer fraud after business e-mail compromise"

VICTIM_WS, RESOLVER, MX = "10.90.3.21", "10.90.1.2", "10.90.1.25"
PHISH_IP, PHISH_DOMAIN, LOGIN_IP = "198.51.100.66", "login-micros0ft-online.top", "203.0.113.99"
MAILBOX, AP_CLERK = "li.na@haichuan.com.cn", "ap@haichuan.com.cn"
T_PHISH = at("2026-02-09T02:14:00Z")
T_CLICK = at("2026-02-09T02:20:30Z")
T_LOGIN = at("2026-02-09T09:47:00Z")
T_RULE = at("2026-02-09T09:52:00Z")
T_SEND = at("2026-02-10T01:30:00Z")
T_DISCOVERY = at("2026-02-20T03:00:00Z")
CAPTURE = (at("2026-02-09T01:00:00Z"), at("2026-02-09T04:00:00Z"))


def build(b: Builder) -> dict:
    rng, ff, filler = b.rng, b.ff, b.filler
    attack = [(T_CLICK, pcap.dns_exchange(ff, T_CLICK, VICTIM_WS, 53001, RESOLVER, PHISH_DOMAIN, [PHISH_IP], 0x1F)),
              (T_CLICK + 20_000, pcap.tcp_session(ff, filler, T_CLICK + 20_000, VICTIM_WS, 53002, PHISH_IP, 443,
                                                  pcap.https_exchanges(PHISH_DOMAIN, filler.take(5, 32), 3_400, 48_000),
                                                  rtt_us=190_000, ttl_s=46, isn=31))]
    office = [f"10.90.3.{i}" for i in range(10, 40)]
    b.capture("office_uplink.pcap", "Office Internet uplink capture (retained by the firewall, 3 hours)", iter(attack),
              web_browsing(ff, filler, rng, office, RESOLVER, CAPTURE[0], CAPTURE[1], 20, b.scale))

    mail = [logs.syslog_line(T_PHISH, "mx01", "postfix/smtpd", 1201, f"connect from unknown[{PHISH_IP}]"),
            logs.syslog_line(T_PHISH + 1 * US, "mx01", "postfix/cleanup", 1203, "4R2xYk1Hq9z: message-id=<20260209021400.77@haichuan-it-support.top>"),
            logs.syslog_line(T_PHISH + 2 * US, "mx01", "postfix/qmgr", 1190, "4R2xYk1Hq9z: from=<it-support@haichuan-it-support.top>, size=18231, nrcpt=1 (queue active)"),
            logs.syslog_line(T_PHISH + 3 * US, "mx01", "postfix/local", 1207, f"4R2xYk1Hq9z: to=<{MAILBOX}>, relay=local, delay=3, status=sent (delivered to mailbox)"),
            logs.syslog_line(T_SEND, "mx01", "postfix/submission/smtpd", 1302, f"4R3Ab7cDe1f: client=unknown[{LOGIN_IP}], sasl_method=LOGIN, sasl_username={MAILBOX}"),
            logs.syslog_line(T_SEND + 2 * US, "mx01", "postfix/local", 1307, f"4R3Ab7cDe1f: to=<{AP_CLERK}>, relay=local, status=sent (subject: 更新供应商收款账户 / updated beneficiary account - Shenzhen Hengtai Components)")]
    b.text_log("mx01_mail.log", "syslog", "Mail server log (postfix, RFC 3164, host clock UTC)", logs.sorted_lines(mail),
               syslog_activity(rng, "mx01", "mailadmin", "10.90.1.5", T_PHISH - 3 * HOUR, T_SEND + 3 * HOUR, 1, b.scale), timezone="UTC")

    def audit(t, op, extra):
        data = {"CreationTime": iso(t).replace("Z", ""), "Operation": op, "UserId": MAILBOX, "ClientIP": LOGIN_IP,
                "Workload": "Exchange" if op != "UserLoggedIn" else "AzureActiveDirectory", **extra}
        return {"CreationDate": iso(t), "UserIds": MAILBOX, "Operations": op, "AuditData": json.dumps(data, ensure_ascii=False, sort_keys=True)}
    rows = [{"CreationDate": iso(T_PHISH - 6 * HOUR + k * 3 * HOUR), "UserIds": MAILBOX, "Operations": "UserLoggedIn",
             "AuditData": json.dumps({"ClientIP": "114.94.22.5", "Operation": "UserLoggedIn", "UserId": MAILBOX,
                                      "Workload": "AzureActiveDirectory", "CreationTime": iso(T_PHISH - 6 * HOUR + k * 3 * HOUR).replace("Z", "")}, sort_keys=True)}
            for k in range(2)]
    rows += [audit(T_LOGIN, "UserLoggedIn", {"UserAgent": "python-requests/2.31", "ResultStatus": "Success", "Country": "NG"}),
             audit(T_LOGIN + 2 * MINUTE, "MailItemsAccessed", {"FolderPath": "\\Inbox\\Suppliers", "ItemCount": 214}),
             audit(T_RULE, "New-InboxRule", {"Parameters": [{"Name": "Name", "Value": "."}, {"Name": "SubjectOrBodyContainsWords", "Value": "付款;payment;invoice;bank"},
                                                             {"Name": "MoveToFolder", "Value": "RSS Feeds"}, {"Name": "MarkAsRead", "Value": "True"}]}),
             audit(T_SEND, "Send", {"Subject": "更新供应商收款账户 / updated beneficiary account", "Recipients": AP_CLERK})]
    documents.write_csv(b.evidence_dir / "o365_unified_audit.csv", ["CreationDate", "UserIds", "Operations", "AuditData"], rows)
    b._record(b.evidence_dir / "o365_unified_audit.csv", "csv", "Microsoft 365 unified audit log export (CSV)")

    transfers = [{"date": "2026-02-10", "amount": 1_860_000.0, "currency": "CNY", "beneficiary": "HENGTAI COMPONENTS TRADING LTD",
                  "beneficiary_account": "HK 012-883-0-774411-9", "recovered_amount": 0.0},
                 {"date": "2026-02-12", "amount": 940_000.0, "currency": "CNY", "beneficiary": "HENGTAI COMPONENTS TRADING LTD",
                  "beneficiary_account": "HK 012-883-0-774411-9", "recovered_amount": 400_000.0}]
    policy = {
        "policy_number": "CCIC-CYB-2026-NB-003310", "insurer": "示例财产保险股份有限公司宁波分公司",
        "insured": "海川国际贸易有限公司", "product": "enterprise", "product_type": "other_sector",
        "line": "网络安全保险", "jurisdiction": "CN", "currency": "CNY", "timezone": "Asia/Shanghai",
        "period": {"start": "2025-10-01T00:00:00+08:00", "end": "2026-09-30T23:59:59+08:00"},
        "retroactive_date": "2025-10-01", "trigger_basis": "discovery", "aggregate_limit": 3_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("funds_transfer_fraud", ["social_engineering_fraud"], 2_000_000, sublimit=1_500_000.0,
                        retention={"amount": 100_000.0}, conditions=["Call-back verification of changed bank details is a condition precedent."]),
            pol.section("incident_response", ["security_failure", "social_engineering_fraud"], 300_000),
            pol.section("legal_costs", ["social_engineering_fraud"], 200_000, coinsurance=0.25),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("insider_dishonesty"), pol.exclusion("virtual_currency_payment")],
        "hardware_improvement_covered": False,
    }
    cur = "CNY"
    fin = Financials(
        currency=cur, profile={"gross_profit_rate": 0.12, "net_profit_rate": 0.03, "continuing_expenses_per_hour": 2_500.0},
        ledger=[invoice(1, "深信服 IR", "incident_response", 68_000, cur, "2026-02-26", "Mailbox compromise investigation, M365 hardening"),
                invoice(2, "国浩律师事务所", "legal_costs", 96_000, cur, "2026-03-15", "Bank recall, police report, HK civil recovery")],
        inventory=[{"system": "Microsoft 365 mailbox", "host": "exchange-online", "record_type": "emails", "count": 214, "personal": False}],
        claim={"funds_transfer_fraud": 2_800_000.0, "incident_response": 68_000.0, "legal_costs": 96_000.0},
        fraud={"transfers": transfers},
    )
    truth = {
        "title": TITLE, "t0": iso(T_PHISH),
        "initial_access": {"vector": "phishing (credential harvesting), mailbox login from a foreign IP", "time": iso(T_LOGIN),
                           "host": "exchange-online", "account": MAILBOX, "source_ip": LOGIN_IP},
        "discovery": iso(T_DISCOVERY), "compromised_hosts": [], "compromised_accounts": [MAILBOX], "outages": [],
        "exfiltrated_bytes": 0, "records_affected": {},
        "attacker_infrastructure": [PHISH_IP, PHISH_DOMAIN, LOGIN_IP, "haichuan-it-support.top"],
        "inbox_rule": {"time": iso(T_RULE), "name": ".", "move_to": "RSS Feeds"},
        "fraudulent_transfers": transfers, "malicious": True, "operator_error": False, "gbt_category": "DS",
        "_anchor_us": T_SEND,
    }
    coverage = {"funds_transfer_fraud": "triggered", "incident_response": "triggered", "legal_costs": "triggered"}
    return b.finish(policy=policy, fin=fin, revenue_model=RevenueModel(mean_per_hour=45_000.0), bi_outage=None,
                    coverage=coverage, personal_records=0, truth=truth)
