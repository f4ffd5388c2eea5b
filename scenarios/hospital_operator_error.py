"""Another sector (hospital): an operator error, not an attack, takes a system down
(内部人员操作不当).

Mercy Valley Regional Hospital. During late-evening maintenance a database
administrator stops PostgreSQL on the HIS database server and, meaning to
delete an old copy, removes the live data directory. The hospital information
system is down until the database is restored from the night's backup and WAL.
Nothing malicious happens: the only logins are the administrator's own."""
from __future__ import annotations

from scenarios.background import http_json_response, polling, syslog_activity, web_hits
from scenarios.kit import Builder
from scenarios.writers import logs, pcap, policy as pol
from scenarios.writers.clock import MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.revenue import RevenueModel

TITLE = "Hospital: operator error takes the HIS down (内部人员操作不当)"

DB, APP, ADMIN_WS = "10.70.2.10", "10.70.2.11", "10.70.9.14"
T_LOGIN = at("2026-05-12T14:05:40Z")
T_STOP = at("2026-05-12T14:21:10Z")
T_RM = at("2026-05-12T14:21:55Z")
T_OUTAGE = at("2026-05-12T14:22:00Z")
T_DISCOVERY = at("2026-05-12T14:31:00Z")
T_RESTORED = at("2026-05-13T02:40:00Z")
CAPTURE = (at("2026-05-12T12:00:00Z"), at("2026-05-13T05:00:00Z"))


def build(b: Builder) -> dict:
    rng, ff, filler = b.rng, b.ff, b.filler
    pg_query = b"Q\x00\x00\x00\x0eSELECT 1;\x00"
    pg_reply = (b"T\x00\x00\x00\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00"
                b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x011C\x00\x00\x00\x0dSELECT 1\x00Z\x00\x00\x00\x05I")
    pool = polling(ff, filler, [APP, "10.70.2.12"], DB, 5432, CAPTURE[0], CAPTURE[1], 15, [(T_OUTAGE, T_RESTORED)],
                   pg_query, pg_reply, retry_s=120)
    clinics = [f"10.70.{20 + i // 50}.{10 + i % 50}" for i in range(6)]
    his = polling(ff, filler, clinics, APP, 8080, CAPTURE[0], CAPTURE[1], 60, [(T_OUTAGE, T_RESTORED)],
                  b"GET /his/api/worklist HTTP/1.1\r\nHost: his\r\n\r\n", http_json_response({"patients": 42, "ward": "ED"}))
    ssh = [pcap.Exchange("s", b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"), pcap.Exchange("c", b"SSH-2.0-PuTTY_Release_0.80\r\n")] + [
        pcap.Exchange(("c", "s")[j % 2], 100 if j % 2 == 0 else 600, 9 * US) for j in range(200)]
    admin = iter([(T_LOGIN, pcap.tcp_session(ff, filler, T_LOGIN, ADMIN_WS, 52110, DB, 22, ssh, rtt_us=700, isn=21))])
    b.capture("his_core.pcap", "Capture of the HIS server VLAN", admin, pool, his)

    auth = [logs.syslog_line(T_LOGIN + 2 * US, "his-db01", "sshd", 44120, f"Accepted publickey for jmorales from {ADMIN_WS} port 52110 ssh2: RSA SHA256:Yx0k3R2pBf0d1mQ9s8t7u6v5w4x3y2z1a0b9c8d7e6f"),
            logs.syslog_line(T_LOGIN + 2 * US, "his-db01", "sshd", 44120, "pam_unix(sshd:session): session opened for user jmorales(uid=1001) by (uid=0)"),
            logs.syslog_line(T_STOP - 40 * US, "his-db01", "sudo", None, "jmorales : TTY=pts/0 ; PWD=/home/jmorales ; USER=root ; COMMAND=/usr/bin/du -sh /var/lib/postgresql/14/main /var/lib/postgresql/14/main_old"),
            logs.syslog_line(T_STOP, "his-db01", "sudo", None, "jmorales : TTY=pts/0 ; PWD=/home/jmorales ; USER=root ; COMMAND=/usr/bin/systemctl stop postgresql@14-main"),
            logs.syslog_line(T_RM, "his-db01", "sudo", None, "jmorales : TTY=pts/0 ; PWD=/var/lib/postgresql/14 ; USER=root ; COMMAND=/usr/bin/rm -rf /var/lib/postgresql/14/main"),
            logs.syslog_line(T_RESTORED - 20 * MINUTE, "his-db01", "sudo", None, "jmorales : TTY=pts/0 ; PWD=/var/lib/postgresql/14 ; USER=root ; COMMAND=/usr/bin/pgbackrest --stanza=his restore"),
            logs.syslog_line(T_RESTORED - 1 * US, "his-db01", "sudo", None, "jmorales : TTY=pts/0 ; PWD=/var/lib/postgresql/14 ; USER=root ; COMMAND=/usr/bin/systemctl start postgresql@14-main")]
    b.text_log("his-db01_auth.log", "auth_log", "his-db01 /var/log/auth.log (RFC 3164, host clock UTC)", logs.sorted_lines(auth),
               syslog_activity(rng, "his-db01", "backup", "10.70.2.30", CAPTURE[0], CAPTURE[1], 1, b.scale), timezone="UTC")
    sysl = [logs.syslog_line(T_STOP + 1 * US, "his-db01", "systemd", 1, "Stopping PostgreSQL Cluster 14-main..."),
            logs.syslog_line(T_STOP + 3 * US, "his-db01", "systemd", 1, "postgresql@14-main.service: Deactivated successfully."),
            logs.syslog_line(T_STOP + 3 * US, "his-db01", "systemd", 1, "Stopped PostgreSQL Cluster 14-main."),
            logs.syslog_line(T_OUTAGE, "his-app01", "his-app", 2231, "ERROR connection to server at \"10.70.2.10\", port 5432 failed: Connection refused"),
            logs.syslog_line(T_DISCOVERY, "his-app01", "his-app", 2231, "CRITICAL database unavailable for 9 minutes; paging on-call DBA"),
            logs.syslog_line(T_RESTORED, "his-db01", "systemd", 1, "Started PostgreSQL Cluster 14-main."),
            logs.syslog_line(T_RESTORED + 30 * US, "his-app01", "his-app", 2231, "INFO database connection pool re-established (16/16)")]
    b.text_log("his_syslog.log", "syslog", "his-db01 and his-app01 syslog (RFC 3164, host clock UTC)", logs.sorted_lines(sysl), timezone="UTC")
    b.text_log("his_portal_access.log", "web_access_log", "HIS clinician portal access log (combined, -0400)",
               web_hits(rng, "10.70.20", CAPTURE[0], CAPTURE[1], 60, b.scale, -4, [(T_OUTAGE, T_RESTORED)]), timezone="-04:00")

    policy = {
        "policy_number": "MVH-CY-2026-0071", "insurer": "Example Specialty Insurance Company",
        "insured": "Mercy Valley Regional Hospital", "product": "enterprise", "product_type": "other_sector",
        "line": "Cyber and Network Interruption", "jurisdiction": "US", "currency": "USD", "timezone": "America/New_York",
        "period": {"start": "2026-01-01T00:00:00-05:00", "end": "2027-01-01T00:00:00-05:00"},
        "retroactive_date": "2024-01-01", "trigger_basis": "occurrence", "aggregate_limit": 5_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("business_interruption", ["security_failure", "system_failure"], 2_000_000,
                        waiting_period={"hours": 8, "mode": "franchise"}, period_of_restoration_hours=2160,
                        bi_basis="net_income", retention={"amount": 25_000.0}, retention_group="first_party"),
            pol.section("data_restoration", ["security_failure", "system_failure"], 500_000,
                        retention={"amount": 25_000.0}, retention_group="first_party"),
            pol.section("incident_response", ["security_failure"], 500_000),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("insider_dishonesty"), pol.exclusion("bodily_injury"), pol.exclusion("infrastructure_outage")],
        "hardware_improvement_covered": False,
    }
    cur = "USD"
    fin = Financials(
        currency=cur,
        profile={"gross_profit_rate": 0.35, "net_profit_rate": 0.04, "continuing_expenses_per_hour": 6_200.0, "savings_rate": 0.0},
        ledger=[invoice(1, "PostgreSQL consultancy", "data_restoration", 38_400, cur, "2026-05-14", "Emergency restore and WAL replay, data validation"),
                invoice(2, "Records reconciliation temps", "data_restoration", 21_750, cur, "2026-05-20", "Re-keying paper orders from the downtime"),
                invoice(3, "DFIR firm", "incident_response", 18_000, cur, "2026-05-15", "Confirm no malicious activity")],
        inventory=[{"system": "HIS database", "host": "his-db01", "record_type": "patient_records", "count": 412_000, "personal": True}],
        claim={"business_interruption": 160_000.0, "data_restoration": 60_150.0, "incident_response": 18_000.0},
    )
    truth = {
        "title": TITLE, "t0": iso(T_STOP),
        "initial_access": {"vector": "operator error", "time": iso(T_STOP), "host": "his-db01", "account": "jmorales",
                           "source_ip": ADMIN_WS},
        "discovery": iso(T_DISCOVERY), "compromised_hosts": [],
        "outages": [{"service": "Hospital information system (HIS)", "host": "his-db01", "start": iso(T_OUTAGE), "end": iso(T_RESTORED)}],
        "exfiltrated_bytes": 0, "records_affected": {}, "attacker_infrastructure": [],
        "malicious": False, "operator_error": True, "gbt_category": "RO",
    }
    coverage = {"business_interruption": "triggered", "data_restoration": "triggered", "incident_response": "not_triggered"}
    model = RevenueModel(mean_per_hour=58_000.0, utc_offset_hours=-4, residual_during_outage=0.35)
    return b.finish(policy=policy, fin=fin, revenue_model=model, bi_outage=(T_OUTAGE, T_RESTORED), coverage=coverage,
                    personal_records=0, truth=truth)
