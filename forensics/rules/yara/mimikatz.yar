/* cyberclaim default pack: mimikatz credential dumper strings (ATT&CK T1003.001). */
rule CC_Mimikatz_Strings : hacktool credential_access
{
    meta:
        description = "mimikatz module / command strings (binary, memory or script)"
        author = "cyberclaim"
        category = "credential_theft"
        gbt = "MPTRO"
        attack = "T1003.001"
        severity = "high"
    strings:
        $m1 = "sekurlsa::logonpasswords" ascii wide nocase
        $m2 = "lsadump::sam" ascii wide nocase
        $m3 = "lsadump::dcsync" ascii wide nocase
        $m4 = "privilege::debug" ascii wide nocase
        $m5 = "gentilkiwi" ascii wide
        $m6 = "mimikatz" ascii wide nocase
        $m7 = "kiwi_passwords" ascii wide
        $m8 = "sekurlsa::pth" ascii wide nocase
        $m9 = "mimilib" ascii wide
        $m10 = "Benjamin DELPY" ascii wide
    condition:
        2 of them
}
