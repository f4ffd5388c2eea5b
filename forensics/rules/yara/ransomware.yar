/*
 * cyberclaim default pack: ransom notes and encrypted-file extensions.
 * Written for this project. meta.gbt / meta.attack let the storyline classify
 * a hit (GB/T 20986-2023 MPRANS, ATT&CK T1486 Data Encrypted for Impact).
 */
rule CC_Ransom_Note_Generic : ransomware note
{
    meta:
        description = "Ransom note wording: files encrypted + pay / decrypt instructions"
        author = "cyberclaim"
        category = "ransom_note"
        gbt = "MPRANS"
        attack = "T1486"
        severity = "high"
    strings:
        $enc1 = "files have been encrypted" ascii wide nocase
        $enc2 = "files are encrypted" ascii wide nocase
        $enc3 = "your network has been penetrated" ascii wide nocase
        $enc4 = "have been locked" ascii wide nocase
        $pay1 = "to decrypt" ascii wide nocase
        $pay2 = "decryption key" ascii wide nocase
        $pay3 = "private key" ascii wide nocase
        $pay4 = "pay the ransom" ascii wide nocase
        $pay5 = "tor browser" ascii wide nocase
        $pay6 = ".onion" ascii wide nocase
        $pay7 = "bitcoin" ascii wide nocase
        $pay8 = "monero" ascii wide nocase
    condition:
        1 of ($enc*) and 2 of ($pay*)
}

rule CC_Ransom_Note_Filename : ransomware note
{
    meta:
        description = "Well-known ransom note file names inside the data (dropped-note lists, memory)"
        author = "cyberclaim"
        category = "ransom_note"
        gbt = "MPRANS"
        attack = "T1486"
        severity = "high"
    strings:
        $n1 = "HOW_TO_DECRYPT" ascii wide nocase
        $n2 = "DECRYPT_INSTRUCTIONS" ascii wide nocase
        $n3 = "README_FOR_DECRYPT" ascii wide nocase
        $n4 = "@Please_Read_Me@.txt" ascii wide
        $n5 = "RESTORE-MY-FILES.TXT" ascii wide nocase
        $n6 = "HOW_TO_RECOVER_FILES" ascii wide nocase
        $n7 = "!!!READ_ME!!!" ascii wide
        $n8 = "_readme.txt" ascii wide
    condition:
        any of them
}

rule CC_Ransom_Encrypted_Extensions : ransomware
{
    meta:
        description = "Many file names carrying ransomware extensions (a directory listing or file table of encrypted files)"
        author = "cyberclaim"
        category = "encrypted_files"
        gbt = "MPRANS"
        attack = "T1486"
        severity = "high"
    strings:
        $e1 = /\.[A-Za-z0-9]{1,12}\.(locked|encrypted|crypted|crypt|enc|WNCRY|wncry|lockbit|ryk|conti|akira|basta|blackcat|royal|hive|phobos|djvu)\b/ ascii wide
    condition:
        #e1 >= 5
}
