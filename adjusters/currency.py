"""ISO 4217 currency codes (active list), so a typo like "RMB" or "CYN" is caught.

Kept as data here because the runtime has no network and no locale database.
Crypto-assets are not ISO 4217 currencies; they are named separately because a
ransom is demanded in them (and, for CN policies, is not payable in them).
"""
from __future__ import annotations

ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD
XOF XPF YER ZAR ZMW ZWL XCG ZWG
""".split())

VIRTUAL_CURRENCIES = frozenset({"BTC", "XMR", "ETH", "USDT", "USDC", "LTC", "ZEC", "DASH", "BCH", "TRX"})
VIRTUAL_PAYMENT_METHODS = frozenset(
    {"bitcoin", "monero", "ethereum", "tether", "usdt", "usdc", "litecoin", "zcash", "crypto", "virtual_currency"}
)


def is_iso_currency(code: str) -> bool:
    return code in ISO_4217


def is_virtual_payment(method: str | None, currency: str | None = None) -> bool:
    return (method or "").lower() in VIRTUAL_PAYMENT_METHODS or (currency or "").upper() in VIRTUAL_CURRENCIES
