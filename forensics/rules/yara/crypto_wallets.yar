/*
 * cyberclaim default pack: cryptocurrency wallet addresses next to payment wording.
 * One rule per currency so the adjusters learn the payment method from
 * meta.currency; the matched string holds the wallet, meta.wallet_regex
 * extracts it from the matched data. Each regex starts with a payment word so
 * yara has a literal atom to look for (a bare base58 regex would be checked at
 * every '1' or '3' byte of a memory image). The optional $demand string
 * keeps the amount asked for ("pay 2.5 BTC to <wallet>") in the matched data,
 * so the storyline can read the demand from the same match.
 */
rule CC_Wallet_BTC : ransomware payment
{
    meta:
        description = "Bitcoin address in a payment / ransom context"
        author = "cyberclaim"
        currency = "BTC"
        category = "ransom_payment"
        gbt = "MPRANS"
        attack = "T1486"
        severity = "high"
        wallet_regex = "\\b(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})\\b"
    strings:
        $btc = /(bitcoin|btc|wallet|address)[^\r\n]{0,64}\b(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})\b/ nocase ascii wide
        $demand = /[^0-9.,][0-9]{1,6}([.,][0-9]{1,8})? ?(btc|bitcoins?)\b[^\r\n]{0,64}\b(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})\b/ nocase ascii wide
    condition:
        any of them
}

rule CC_Wallet_XMR : ransomware payment
{
    meta:
        description = "Monero address in a payment / ransom context"
        author = "cyberclaim"
        currency = "XMR"
        category = "ransom_payment"
        gbt = "MPRANS"
        attack = "T1486"
        severity = "high"
        wallet_regex = "\\b(4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}|8[1-9A-HJ-NP-Za-km-z]{94})\\b"
    strings:
        $xmr = /(monero|xmr|wallet|address)[^\r\n]{0,64}\b(4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}|8[1-9A-HJ-NP-Za-km-z]{94})\b/ nocase ascii wide
        $demand = /[^0-9.,][0-9]{1,6}([.,][0-9]{1,8})? ?(xmr|monero)\b[^\r\n]{0,64}\b(4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}|8[1-9A-HJ-NP-Za-km-z]{94})\b/ nocase ascii wide
    condition:
        any of them
}

rule CC_Wallet_ETH : ransomware payment
{
    meta:
        description = "Ethereum address in a payment / ransom context"
        author = "cyberclaim"
        currency = "ETH"
        category = "ransom_payment"
        gbt = "MPRANS"
        attack = "T1486"
        severity = "high"
        wallet_regex = "\\b(0x[0-9a-fA-F]{40})\\b"
    strings:
        $eth = /(ethereum|eth|usdt|wallet|address)[^\r\n]{0,64}\b0x[0-9a-fA-F]{40}\b/ nocase ascii wide
        $demand = /[^0-9.,][0-9]{1,9}([.,][0-9]{1,8})? ?(eth|ether|usdt)\b[^\r\n]{0,64}\b0x[0-9a-fA-F]{40}\b/ nocase ascii wide
    condition:
        any of them
}
