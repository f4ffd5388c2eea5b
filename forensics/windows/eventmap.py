"""What each Windows EventID means: a declarative table, one row per (log, EventID).

A row names, for each normalized entity, the EventData fields to read it from
(the first present, non-empty, non-"-" value wins), the Plaso-style tags, and
ATT&CK / GB/T 20986-2023 classification when the event on its own is telling
(a cleared audit log is, a successful logon is not). The message template is
filled from the normalized entities and the raw EventData.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Logs (the "family" of a channel/provider); EventIDs are only unique within one.
SECURITY, SYSTEM, SYSMON, POWERSHELL, DEFENDER = "security", "system", "sysmon", "powershell", "defender"
TS_LSM, TS_RCM, BITLOCKER, VSS = "ts_lsm", "ts_rcm", "bitlocker", "vss"


@dataclass(frozen=True, slots=True)
class Spec:
    message: str  # str.format template over entities and EventData names
    user: tuple[str, ...] = ()
    pid: tuple[str, ...] = ()
    image: tuple[str, ...] = ()  # process image path (process_name is its base name)
    cmdline: tuple[str, ...] = ()
    src_ip: tuple[str, ...] = ()
    src_port: tuple[str, ...] = ()
    dst_ip: tuple[str, ...] = ()
    dst_port: tuple[str, ...] = ()
    proto: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    file_path: tuple[str, ...] = ()
    # normalized extras that go to attributes: name -> candidate EventData fields
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    attack: tuple[str, ...] = ()
    gbt: str | None = None
    severity: str = "info"


_SUBJ = {"subject_user": ("SubjectUserName",), "subject_domain": ("SubjectDomainName",), "logon_id": ("SubjectLogonId",)}
_TGT = {"target_user": ("TargetUserName",), "target_domain": ("TargetDomainName",)}
_LOGON = {
    "logon_type": ("LogonType",), "logon_process": ("LogonProcessName",), "auth_package": ("AuthenticationPackageName",),
    "workstation": ("WorkstationName",), "logon_id": ("TargetLogonId",), "target_domain": ("TargetDomainName",),
    "subject_user": ("SubjectUserName",),
}
_SYSMON_PROC = {"process_guid": ("ProcessGuid",), "parent_process": ("ParentImage",), "parent_cmdline": ("ParentCommandLine",),
                "parent_pid": ("ParentProcessId",), "hashes": ("Hashes",), "integrity_level": ("IntegrityLevel",)}

TABLE: dict[tuple[str, int], Spec] = {
    # ---- Security ----
    (SECURITY, 4624): Spec("Logon success: {user} (type {logon_type}) from {src_ip} on {host}",
                           user=("TargetUserName",), src_ip=("IpAddress",), src_port=("IpPort",),
                           image=("ProcessName",), pid=("ProcessId",),
                           extra={**_LOGON, "elevated_token": ("ElevatedToken",)}, tags=("login",)),
    (SECURITY, 4625): Spec("Logon failure: {user} (type {logon_type}) from {src_ip} on {host}, status {Status}/{SubStatus}",
                           user=("TargetUserName",), src_ip=("IpAddress",), src_port=("IpPort",),
                           image=("ProcessName",), pid=("ProcessId",),
                           extra={**_LOGON, "status": ("Status",), "sub_status": ("SubStatus",)}, tags=("login_failed",)),
    (SECURITY, 4634): Spec("Logoff: {user} (type {logon_type}) on {host}", user=("TargetUserName",),
                           extra={"logon_type": ("LogonType",), "logon_id": ("TargetLogonId",)}, tags=("logoff",)),
    (SECURITY, 4647): Spec("User-initiated logoff: {user} on {host}", user=("TargetUserName",),
                           extra={"logon_id": ("TargetLogonId",)}, tags=("logoff",)),
    (SECURITY, 4648): Spec("Logon with explicit credentials: {subject_user} as {user} to {target_server} from {src_ip} on {host}",
                           user=("TargetUserName",), src_ip=("IpAddress",), src_port=("IpPort",), image=("ProcessName",),
                           pid=("ProcessId",), extra={**_SUBJ, "target_server": ("TargetServerName",),
                                                       "target_domain": ("TargetDomainName",)}, tags=("login",)),
    (SECURITY, 4662): Spec("Directory object operation by {user} on {target_object}: {Properties}",
                           user=("SubjectUserName",), extra={**_SUBJ, "target_object": ("ObjectName",),
                                                              "object_type": ("ObjectType",), "access_mask": ("AccessMask",)}),
    (SECURITY, 4672): Spec("Special privileges assigned to new logon: {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, "privileges": ("PrivilegeList",)}, tags=("login", "privileged_logon")),
    (SECURITY, 4688): Spec("Process created: {process_name} by {user} on {host}: {process_cmdline}",
                           user=("SubjectUserName",), image=("NewProcessName",), pid=("NewProcessId",),
                           cmdline=("CommandLine",),
                           extra={**_SUBJ, "parent_process": ("ParentProcessName",), "parent_pid": ("ProcessId",),
                                  "token_elevation": ("TokenElevationType",), "target_user": ("TargetUserName",)},
                           tags=("application_execution",)),
    (SECURITY, 4697): Spec("Service installed: {service_name} ({file_path}) by {user} on {host}",
                           user=("SubjectUserName",), file_path=("ServiceFileName",),
                           extra={**_SUBJ, "service_name": ("ServiceName",), "service_account": ("ServiceAccount",),
                                  "start_type": ("ServiceStartType",)},
                           tags=("service_installation",), attack=("T1543.003",)),
    (SECURITY, 4698): Spec("Scheduled task created: {task_name} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, "task_name": ("TaskName",), "task_content": ("TaskContent",)},
                           tags=("task_scheduled",), attack=("T1053.005",)),
    (SECURITY, 4702): Spec("Scheduled task updated: {task_name} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, "task_name": ("TaskName",), "task_content": ("TaskContentNew",)},
                           tags=("task_scheduled",), attack=("T1053.005",)),
    (SECURITY, 4720): Spec("User account created: {target_user} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, **_TGT, "target_sid": ("TargetSid",)},
                           tags=("account_created",), attack=("T1136",)),
    (SECURITY, 4722): Spec("User account enabled: {target_user} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, **_TGT}, tags=("account_changed",)),
    (SECURITY, 4724): Spec("Password reset attempt for {target_user} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, **_TGT}, tags=("account_changed",)),
    (SECURITY, 4728): Spec("Member {member} added to global group {group_name} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, "group_name": ("TargetUserName",), "member": ("MemberName", "MemberSid"),
                                  "member_sid": ("MemberSid",)}, tags=("group_membership_change",)),
    (SECURITY, 4732): Spec("Member {member} added to local group {group_name} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, "group_name": ("TargetUserName",), "member": ("MemberName", "MemberSid"),
                                  "member_sid": ("MemberSid",)}, tags=("group_membership_change",)),
    (SECURITY, 4738): Spec("User account changed: {target_user} by {user} on {host}", user=("SubjectUserName",),
                           extra={**_SUBJ, **_TGT}, tags=("account_changed",)),
    (SECURITY, 4740): Spec("User account locked out: {target_user} (caller {caller}) on {host}", user=("TargetUserName",),
                           extra={**_TGT, "caller": ("TargetDomainName",)}, tags=("account_locked",)),
    (SECURITY, 4768): Spec("Kerberos TGT requested for {user} from {src_ip}, status {Status}", user=("TargetUserName",),
                           src_ip=("IpAddress",), src_port=("IpPort",),
                           extra={"target_domain": ("TargetDomainName",), "service_name": ("ServiceName",),
                                  "status": ("Status",), "ticket_encryption": ("TicketEncryptionType",)},
                           tags=("kerberos",)),
    (SECURITY, 4769): Spec("Kerberos service ticket requested by {user} for {service_name} from {src_ip}, status {Status}",
                           user=("TargetUserName",), src_ip=("IpAddress",), src_port=("IpPort",),
                           extra={"target_domain": ("TargetDomainName",), "service_name": ("ServiceName",),
                                  "status": ("Status",), "ticket_encryption": ("TicketEncryptionType",)},
                           tags=("kerberos",)),
    (SECURITY, 4771): Spec("Kerberos pre-authentication failed for {user} from {src_ip}, status {Status}",
                           user=("TargetUserName",), src_ip=("IpAddress",), src_port=("IpPort",),
                           extra={"service_name": ("ServiceName",), "status": ("Status",)},
                           tags=("kerberos", "login_failed")),
    (SECURITY, 4776): Spec("NTLM credential validation for {user} from workstation {workstation}, status {Status}",
                           user=("TargetUserName",), extra={"workstation": ("Workstation",), "status": ("Status",)},
                           tags=("ntlm",)),
    (SECURITY, 1102): Spec("Security audit log cleared by {user} on {host}", user=("SubjectUserName",), extra=_SUBJ,
                           tags=("log_cleared",), attack=("T1070.001",), gbt="NA", severity="high"),
    # ---- System ----
    (SYSTEM, 7045): Spec("Service installed: {service_name} ({file_path}) as {service_account} on {host}",
                         file_path=("ImagePath",),
                         extra={"service_name": ("ServiceName",), "service_account": ("AccountName",),
                                "service_type": ("ServiceType",), "start_type": ("StartType",)},
                         tags=("service_installation",), attack=("T1543.003",)),
    (SYSTEM, 7036): Spec("Service {service_name} entered the {service_state} state on {host}",
                         extra={"service_name": ("param1",), "service_state": ("param2",)}, tags=("service_state",)),
    (SYSTEM, 104): Spec("Event log {log_name} cleared by {user} on {host}", user=("SubjectUserName",),
                        extra={"log_name": ("Channel",), "subject_domain": ("SubjectDomainName",)},
                        tags=("log_cleared",), attack=("T1070.001",), gbt="NA", severity="high"),
    (SYSTEM, 6005): Spec("Event log service started (system start) on {host}", tags=("system_start",)),
    (SYSTEM, 6006): Spec("Event log service stopped (clean shutdown) on {host}", tags=("system_shutdown",)),
    # ---- PowerShell ----
    (POWERSHELL, 4103): Spec("PowerShell pipeline execution on {host}: {Payload}", cmdline=("ContextInfo",),
                             tags=("powershell",)),
    (POWERSHELL, 4104): Spec("PowerShell script block {script_block_id} ({MessageNumber}/{MessageTotal}) on {host}",
                             file_path=("Path",), extra={"script_block_id": ("ScriptBlockId",)},
                             tags=("powershell", "script_block")),
    # ---- Sysmon ----
    (SYSMON, 1): Spec("Process created: {process_name} by {user} on {host}: {process_cmdline}",
                      user=("User",), image=("Image",), pid=("ProcessId",), cmdline=("CommandLine",),
                      extra=_SYSMON_PROC, tags=("application_execution",)),
    (SYSMON, 3): Spec("Network connection: {process_name} {src_ip}:{src_port} -> {dst_ip}:{dst_port} ({proto}) on {host}",
                      user=("User",), image=("Image",), pid=("ProcessId",), src_ip=("SourceIp",),
                      src_port=("SourcePort",), dst_ip=("DestinationIp",), dst_port=("DestinationPort",),
                      proto=("Protocol",), domain=("DestinationHostname",),
                      extra={"process_guid": ("ProcessGuid",), "initiated": ("Initiated",)},
                      tags=("network_connection",)),
    (SYSMON, 7): Spec("Image loaded into {process_name}: {file_path} on {host}", image=("Image",), pid=("ProcessId",),
                      file_path=("ImageLoaded",), extra={"hashes": ("Hashes",), "signed": ("Signed",)},
                      tags=("image_load",)),
    (SYSMON, 8): Spec("Remote thread created by {process_name} in {target_process} on {host}", image=("SourceImage",),
                      pid=("SourceProcessId",), extra={"target_process": ("TargetImage",), "target_pid": ("TargetProcessId",),
                                                       "start_function": ("StartFunction",)},
                      tags=("process_injection",), attack=("T1055",), severity="medium"),
    (SYSMON, 10): Spec("Process access: {process_name} opened {target_process} (access {GrantedAccess}) on {host}",
                       image=("SourceImage",), pid=("SourceProcessId",),
                       extra={"target_process": ("TargetImage",), "target_pid": ("TargetProcessId",),
                              "granted_access": ("GrantedAccess",)}, tags=("process_access",)),
    (SYSMON, 11): Spec("File created by {process_name}: {file_path} on {host}", image=("Image",), pid=("ProcessId",),
                       file_path=("TargetFilename",), tags=("file_created",)),
    (SYSMON, 12): Spec("Registry object {EventType} by {process_name}: {target_object} on {host}", image=("Image",),
                       pid=("ProcessId",), extra={"target_object": ("TargetObject",)}, tags=("registry",)),
    (SYSMON, 13): Spec("Registry value set by {process_name}: {target_object} = {Details} on {host}", image=("Image",),
                       pid=("ProcessId",), extra={"target_object": ("TargetObject",)}, tags=("registry",)),
    (SYSMON, 22): Spec("DNS query by {process_name}: {domain} -> {QueryResults} on {host}", image=("Image",),
                       pid=("ProcessId",), domain=("QueryName",), tags=("dns_query",)),
    # ---- Defender ----
    (DEFENDER, 1116): Spec("Defender detected {threat_name} in {file_path} on {host}", user=("Detection User",),
                           image=("Process Name",), file_path=("Path",),
                           extra={"threat_name": ("Threat Name",), "threat_severity": ("Severity Name",)},
                           tags=("malware_detected",), gbt="MP", severity="high"),
    (DEFENDER, 1117): Spec("Defender acted on {threat_name} ({Action Name}) in {file_path} on {host}",
                           user=("Detection User",), image=("Process Name",), file_path=("Path",),
                           extra={"threat_name": ("Threat Name",), "threat_severity": ("Severity Name",)},
                           tags=("malware_detected",), gbt="MP", severity="high"),
    # ---- Terminal Services ----
    (TS_LSM, 21): Spec("RDP session logon: {user} from {src_ip} (session {session_id}) on {host}", user=("User",),
                       src_ip=("Address",), extra={"session_id": ("SessionID",)}, tags=("login", "remote_access")),
    (TS_LSM, 24): Spec("RDP session disconnected: {user} from {src_ip} (session {session_id}) on {host}", user=("User",),
                       src_ip=("Address",), extra={"session_id": ("SessionID",)}, tags=("remote_access",)),
    (TS_LSM, 25): Spec("RDP session reconnected: {user} from {src_ip} (session {session_id}) on {host}", user=("User",),
                       src_ip=("Address",), extra={"session_id": ("SessionID",)}, tags=("login", "remote_access")),
    (TS_RCM, 1149): Spec("RDP network authentication succeeded: {user} from {src_ip} on {host}", user=("Param1",),
                         src_ip=("Param3",), extra={"user_domain": ("Param2",)}, tags=("login", "remote_access")),
    # ---- BitLocker and volume shadow copies ----
    (BITLOCKER, 768): Spec("BitLocker encryption started on {host}", tags=("bitlocker",)),
    (BITLOCKER, 775): Spec("BitLocker key protector created on {host}", tags=("bitlocker",)),
    (BITLOCKER, 24577): Spec("BitLocker volume encryption started on {host}", tags=("bitlocker",)),
    (BITLOCKER, 24588): Spec("BitLocker volume encryption stopped/completed on {host}", tags=("bitlocker",)),
    (VSS, 8193): Spec("Volume Shadow Copy service error on {host}", tags=("shadow_copy",)),
    (VSS, 8224): Spec("Volume Shadow Copy service stopped (idle) on {host}", tags=("shadow_copy",)),
    (VSS, 25): Spec("Shadow copies deleted (storage could not grow) on {host}", tags=("shadow_copy",)),
    (VSS, 33): Spec("Oldest shadow copy deleted to free storage on {host}", tags=("shadow_copy",)),
    (VSS, 36): Spec("Shadow copies aborted (storage limit) on {host}", tags=("shadow_copy",)),
}


def family(channel: str | None, provider: str | None) -> str:
    """Which log an event belongs to, from its channel (or provider for renamed exports)."""
    c = (channel or "").lower()
    p = (provider or "").lower()
    if c == "security":
        return SECURITY
    if "sysmon" in c or "sysmon" in p:
        return SYSMON
    if "powershell" in c or p == "microsoft-windows-powershell":
        return POWERSHELL
    if "windows defender" in c or "windows defender" in p:
        return DEFENDER
    if "localsessionmanager" in c or "localsessionmanager" in p:
        return TS_LSM
    if "remoteconnectionmanager" in c or "remoteconnectionmanager" in p:
        return TS_RCM
    if "bitlocker" in c or "bitlocker" in p:
        return BITLOCKER
    if p in ("vss", "volsnap", "microsoft-windows-volsnap"):
        return VSS
    if c == "system":
        return SYSTEM
    return c or p
