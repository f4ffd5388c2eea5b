/* cyberclaim default pack: Cobalt Strike beacon markers (ATT&CK T1071.001, S0154). */
rule CC_CobaltStrike_Beacon_Strings : c2 cobaltstrike
{
    meta:
        description = "Cobalt Strike beacon strings (DLL names, named pipes, format strings)"
        author = "cyberclaim"
        category = "c2_implant"
        gbt = "MPTRO"
        attack = "T1071.001"
        severity = "critical"
    strings:
        $s1 = "beacon.dll" ascii wide
        $s2 = "beacon.x64.dll" ascii wide
        $s3 = "%s as %s\\%s: %d" ascii
        $s4 = "%02d/%02d/%02d %02d:%02d:%02d" ascii
        $s5 = "could not spawn %s: %d" ascii
        $s6 = "MSSE-%d-server" ascii
        $s7 = "\\\\.\\pipe\\msagent_" ascii wide
        $s8 = "%c%c%c%c%c%c%c%c%cMSSE-%d-server" ascii
        $s9 = "ReflectiveLoader" ascii
    condition:
        2 of them
}

rule CC_CobaltStrike_Beacon_Config : c2 cobaltstrike
{
    meta:
        description = "Cobalt Strike beacon configuration block (plain or single-byte XOR 0x69 / 0x2e)"
        author = "cyberclaim"
        category = "c2_implant"
        gbt = "MPTRO"
        attack = "T1071.001"
        severity = "critical"
    strings:
        $plain = { 00 01 00 01 00 02 ?? ?? 00 02 00 01 00 02 ?? ?? 00 }
        $x69 = { 69 68 69 68 69 6B ?? ?? 69 6B 69 68 69 6B ?? ?? 69 }
        $x2e = { 2E 2F 2E 2F 2E 2C ?? ?? 2E 2C 2E 2F 2E 2C ?? ?? 2E }
    condition:
        any of them
}
