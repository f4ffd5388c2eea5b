"""A destructive wiper attack attributed to a state: the war exclusion applies.

Northbridge Logistics Ltd (UK). A wiper disguised as ransomware is pushed from a
compromised management server to the warehouse-management (WMS) servers: it
overwrites the boot record and files, clears logs and stops services. The UK
government publicly attributes the campaign to a named state's military
intelligence and describes a major detrimental impact on UK logistics. Under an
LMA5567A-style war and cyber-operation exclusion, with attribution by the
government of the state where the systems are, every section is excluded."""
from __future__ import annotations

from scenarios.background import http_json_response, polling, web_browsing
from scenarios.kit import Builder, WinLog
from scenarios.writers import logs, memory, pcap, policy as pol, winevents
from scenarios.writers.clock import DAY, MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.pe import build_pe32
from scenarios.writers.revenue import RevenueModel

TITLE = "State-attributed destructive wiper: war exclusion (excluded)"

MGMT, WMS1, WMS2, DC, RESOLVER = "172.16.1.40", "172.16.2.10", "172.16.2.11", "172.16.1.10", "172.16.1.10"
C2, C2_DOMAIN, VPN_EXPLOIT_SRC = "192.0.2.77", "cdn-telemetry-eu.net", "192.0.2.150"
T_EXPLOIT = at("2026-09-14T23:02:00Z")
T_C2 = at("2026-09-14T23:10:00Z")
T_PUSH = at("2026-09-15T01:30:00Z")
T_WIPE = at("2026-09-15T01:34:00Z")
T_OUTAGE = at("2026-09-15T01:36:00Z")
T_DISCOVERY = at("2026-09-15T05:10:00Z")
T_RESTORED = at("2026-09-18T07:00:00Z")
CAPTURE = (at("2026-09-14T22:00:00Z"), T_RESTORED + 2 * 3600 * US)
ATTRIBUTION = {
    "state_actor": True, "actor": "a named state's military intelligence service (GRU-style unit)",
    "basis": "government_of_affected_state",
    "statement": "UK Foreign, Commonwealth & Development Office and NCSC joint attribution statement, 2026-10-02",
    "major_detrimental_impact": True,
}


def build(b: Builder) -> dict:
    rng, ff, filler = b.rng, b.ff, b.filler
    w = WinLog(b, "northbridge.local")
    w.ev(T_EXPLOIT + 5 * MINUTE, "MGMT01", winevents.SECURITY, 4624, {
        "TargetUserName": "svc_mgmt", "TargetDomainName": "NORTHBRIDGE", "LogonType": 3, "IpAddress": "172.16.0.9",
        "WorkstationName": "VPN-GW", "AuthenticationPackageName": "NTLM"})
    w.proc(T_C2 - 30 * US, "MGMT01", "C:\\ProgramData\\Microsoft\\Crypto\\msupd.exe", "msupd.exe /svc",
           parent="C:\\Windows\\System32\\cmd.exe")
    for k, host in enumerate(("WMS01", "WMS02")):
        ip = (WMS1, WMS2)[k]
        t = T_PUSH + k * 40 * US
        w.ev(t, host, winevents.SECURITY, 4624, {"TargetUserName": "svc_mgmt", "TargetDomainName": "NORTHBRIDGE", "LogonType": 3,
                                                  "IpAddress": MGMT, "WorkstationName": "MGMT01", "AuthenticationPackageName": "NTLM"})
        w.ev(t + 3 * US, host, winevents.SECURITY, 4698, {"TaskName": "\\Microsoft\\Windows\\Maintenance\\WinSAT2",
                                                         "SubjectUserName": "svc_mgmt", "TaskContent": "C:\\Windows\\Temp\\wmsupd.exe -w"})
        pid = w.proc(T_WIPE + k * 30 * US, host, "C:\\Windows\\Temp\\wmsupd.exe", "wmsupd.exe -w -r 3",
                     parent="C:\\Windows\\System32\\taskeng.exe")
        for j in range(20):
            w.ev(T_WIPE + k * 30 * US + (j + 1) * 300_000, host, winevents.SYSMON, 11, {
                "Image": "C:\\Windows\\Temp\\wmsupd.exe", "ProcessId": pid,
                "TargetFilename": f"D:\\WMS\\data\\slot_{j:03d}.dat.encrypted"})
        w.ev(T_WIPE + k * 30 * US + 8 * US, host, winevents.SYSMON, 9, {"Image": "C:\\Windows\\Temp\\wmsupd.exe", "Device": "\\Device\\Harddisk0\\DR0"})
        w.ev(T_OUTAGE - 30 * US + k * US, host, winevents.SCM, 7036, {"param1": "Northbridge WMS Server", "param2": "stopped"})
        w.ev(T_OUTAGE - 10 * US + k * US, host, winevents.EVENTLOG, 1102, {"SubjectUserName": "SYSTEM"})
        w.ev(T_RESTORED + k * US, host, winevents.SCM, 7036, {"param1": "Northbridge WMS Server", "param2": "running"})
    w.write(CAPTURE[0], CAPTURE[1], "svc_backup", "172.16.1.30")

    attack = [(T_EXPLOIT, pcap.tcp_session(ff, filler, T_EXPLOIT, VPN_EXPLOIT_SRC, 41800, "172.16.0.9", 443,
                                           pcap.https_exchanges("vpn.northbridge-logistics.co.uk", filler.take(3, 32), 9_000, 2_000),
                                           rtt_us=60_000, ttl_c=52, isn=41)),
              (T_C2 - 1 * US, pcap.dns_exchange(ff, T_C2 - 1 * US, MGMT, 50010, RESOLVER, C2_DOMAIN, [C2], 0x2C))]
    t, k = T_C2, 0
    while t < T_WIPE + 10 * MINUTE:
        attack.append((t, pcap.tcp_session(ff, filler, t, MGMT, 50100 + k, C2, 443,
                                           pcap.https_exchanges(C2_DOMAIN, filler.take(k, 32), 500, 300, 70_000),
                                           rtt_us=40_000, ttl_s=50, isn=4100 + k)))
        t += 300 * US + int(rng.integers(-20 * US, 20 * US))
        k += 1
    for k, ip in enumerate((WMS1, WMS2)):
        t = T_PUSH + k * 40 * US - 5 * US
        attack.append((t, pcap.tcp_session(ff, filler, t, MGMT, 50900 + k, ip, 445,
                                           [pcap.Exchange("c", bytes.fromhex("000000a4fe534d4240000000") + b"\x00" * 160),
                                            pcap.Exchange("s", 300), pcap.Exchange("c", 260_000), pcap.Exchange("s", 200)],
                                           rtt_us=500, isn=4900 + k)))
    attack.sort(key=lambda s: s[0])
    scanners = [f"172.16.{10 + i // 20}.{20 + i % 20}" for i in range(4)]
    wms = polling(ff, filler, scanners, WMS1, 8080, CAPTURE[0], CAPTURE[1], 60, [(T_OUTAGE, T_RESTORED)],
                  b"GET /wms/api/picklist HTTP/1.1\r\nHost: wms01\r\n\r\n", http_json_response({"picks": 18, "dock": 4}), retry_s=900)
    b.capture("dc_core.pcap", "Data-centre core capture (management, WMS and Internet edge)", iter(attack), wms,
              web_browsing(ff, filler, rng, [f"172.16.20.{i}" for i in range(10, 30)], RESOLVER, CAPTURE[0], CAPTURE[1], 2, b.scale))
    vpn = [logs.syslog_line(T_EXPLOIT + 30 * US, "vpn-gw", "sslvpn", 771, f"WARNING unexpected request to /remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession from {VPN_EXPLOIT_SRC}"),
           logs.syslog_line(T_EXPLOIT + 3 * MINUTE, "vpn-gw", "sslvpn", 771, f"tunnel established user=svc_mgmt remote_ip={VPN_EXPLOIT_SRC} assigned_ip=172.16.0.9")]
    b.text_log("vpn-gw_syslog.log", "syslog", "SSL VPN gateway syslog (RFC 3164, host clock UTC)", logs.sorted_lines(vpn), timezone="UTC")

    wiper = build_pe32({"KERNEL32.dll": ["CreateFileW", "WriteFile", "DeviceIoControl", "FindFirstFileW", "FindNextFileW"],
                        "ADVAPI32.dll": ["OpenSCManagerW", "ControlService", "ClearEventLogW"]},
                       ["\\\\.\\PhysicalDrive0", ".encrypted", "Your files have been encrypted. Send 1 BTC.", "wevtutil cl Security"],
                       at("2026-08-30T03:12:44Z") // US)
    arts = [memory.Artifact("pe", "wmsupd.exe (wiper)", wiper),
            *memory.strings("raw disk target", "\\\\.\\PhysicalDrive0"),
            *memory.strings("C2 domain", f"https://{C2_DOMAIN}/v1/task"),
            *memory.strings("log clearing", "wevtutil cl Security")]
    b.memory_image("WMS01.mem", "Raw memory image of WMS01 taken before reboot", arts)
    b.document("attribution_statement.txt", "Government attribution statement (public)", (
        "JOINT STATEMENT — Foreign, Commonwealth & Development Office and National Cyber Security Centre\n"
        "2 October 2026\n\n"
        "The UK Government assesses that the destructive cyber operation which struck UK logistics operators on "
        "15 September 2026, including Northbridge Logistics Ltd, was carried out by a military intelligence unit "
        "of a foreign state. The malware, presented as ransomware, had no means of decryption and overwrote "
        "disks. The operation had a major detrimental impact on the functioning of UK freight and logistics.\n\n"
        f"Indicators: {C2_DOMAIN}, {C2}, {VPN_EXPLOIT_SRC}; SHA-256 of the wiper is published by NCSC.\n"))

    policy = {
        "policy_number": "NBL-CYB-2026-LM-1187", "insurer": "Example Syndicate 9999 at Lloyd's",
        "insured": "Northbridge Logistics Ltd", "product": "enterprise", "product_type": "other_sector",
        "line": "Cyber", "jurisdiction": "UK", "currency": "GBP", "timezone": "Europe/London",
        "period": {"start": "2026-04-01T00:00:00+01:00", "end": "2027-04-01T00:00:00+01:00"},
        "retroactive_date": "2025-04-01", "trigger_basis": "discovery", "aggregate_limit": 10_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("business_interruption", ["security_failure", "system_failure"], 5_000_000,
                        waiting_period={"hours": 12, "mode": "time_deductible"}, period_of_restoration_hours=2160,
                        bi_basis="gross_profit", retention={"amount": 250_000.0}),
            pol.section("data_restoration", ["security_failure"], 1_500_000),
            pol.section("incident_response", ["security_failure"], 1_000_000),
            pol.section("hardware_replacement", ["security_failure"], 750_000),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("infrastructure_outage"), pol.exclusion("betterment")],
        "hardware_improvement_covered": False,
    }
    cur = "GBP"
    fin = Financials(
        currency=cur,
        profile={"gross_profit_rate": 0.27, "net_profit_rate": 0.07, "continuing_expenses_per_hour": 8_000.0, "savings_rate": 0.1},
        ledger=[invoice(1, "DFIR LLP", "incident_response", 420_000, cur, "2026-09-30", "Incident response and recovery coordination"),
                invoice(2, "WMS vendor", "data_restoration", 310_000, cur, "2026-09-25", "Rebuild WMS servers and restore data"),
                invoice(3, "Server reseller", "hardware_replacement", 96_000, cur, "2026-09-17", "Replacement servers", betterment=14_000)],
        inventory=[{"system": "WMS", "host": "WMS01", "record_type": "inventory_positions", "count": 2_300_000, "personal": False}],
        claim={"business_interruption": 1_900_000.0, "data_restoration": 310_000.0, "incident_response": 420_000.0,
               "hardware_replacement": 96_000.0},
    )
    truth = {
        "title": TITLE, "t0": iso(T_EXPLOIT),
        "initial_access": {"vector": "VPN appliance exploit", "time": iso(T_EXPLOIT), "host": "vpn-gw", "source_ip": VPN_EXPLOIT_SRC},
        "discovery": iso(T_DISCOVERY), "compromised_hosts": ["MGMT01", "WMS01", "WMS02"], "wiped_hosts": ["WMS01", "WMS02"],
        "outages": [{"service": "Warehouse management system (WMS)", "host": "WMS01", "start": iso(T_OUTAGE), "end": iso(T_RESTORED)}],
        "exfiltrated_bytes": 0, "records_affected": {}, "attacker_infrastructure": [VPN_EXPLOIT_SRC, C2, C2_DOMAIN],
        "attribution": ATTRIBUTION, "malicious": True, "operator_error": False, "gbt_category": "MPOTH",
    }
    coverage = {s["name"]: "excluded" for s in policy["sections"]}
    return b.finish(policy=policy, fin=fin, revenue_model=RevenueModel(mean_per_hour=52_000.0, utc_offset_hours=1),
                    bi_outage=(T_OUTAGE, T_RESTORED), coverage=coverage, personal_records=0, truth=truth)
