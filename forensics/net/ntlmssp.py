"""NTLMSSP AUTHENTICATE and Kerberos hints inside SMB session-setup security blobs.

The AUTHENTICATE message (type 3) names the account, its domain and the
client's workstation in clear, whatever the SPNEGO wrapping: finding the
"NTLMSSP\\0" signature in the blob is enough. Passwords and responses are never
kept. For Kerberos only the mechanism is named: the client principal travels
encrypted.
"""
from __future__ import annotations

import struct

SIGNATURE = b"NTLMSSP\x00"
# Kerberos 5 OIDs as DER: 1.2.840.113554.1.2.2 and Microsoft's 1.2.840.48018.1.2.2
_KRB5_OIDS = (b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", b"\x06\x09\x2a\x86\x48\x82\xf7\x12\x01\x02\x02")
NEGOTIATE_UNICODE = 0x00000001


def _field(msg: bytes, at: int, unicode: bool) -> str:
    ln, _max, off = struct.unpack_from("<HHI", msg, at)
    raw = msg[off:off + ln] if off + ln <= len(msg) else b""
    return raw.decode("utf-16-le" if unicode else "latin-1", "replace")


def authenticate(blob: bytes) -> dict | None:
    """Account, domain and workstation from an NTLMSSP AUTHENTICATE in `blob`, else None."""
    i = blob.find(SIGNATURE)
    if i < 0 or len(blob) < i + 64:
        return None
    msg = bytes(blob[i:])
    if struct.unpack_from("<I", msg, 8)[0] != 3:
        return None
    flags = struct.unpack_from("<I", msg, 60)[0]
    uni = bool(flags & NEGOTIATE_UNICODE)
    user, domain, host = _field(msg, 36, uni), _field(msg, 28, uni), _field(msg, 44, uni)
    nt_len = struct.unpack_from("<H", msg, 20)[0]
    return {"mechanism": "NTLMSSP", "user": user, "domain": domain, "workstation": host,
            # an empty user with an empty NT response is an anonymous (null) session
            "anonymous": not user and nt_len == 0,
            "ntlm_version": "NTLMv2" if nt_len > 24 else ("NTLMv1" if nt_len == 24 else None)}


def mechanism(blob: bytes) -> str | None:
    if SIGNATURE in blob:
        return "NTLMSSP"
    if any(o in blob for o in _KRB5_OIDS):
        return "Kerberos"
    return None


def _tlv(b: bytes, p: int) -> tuple[int, int, int]:
    """DER tag at `p`: (tag, value start, value end); raises IndexError/ValueError when cut."""
    tag, n = b[p], b[p + 1]
    p += 2
    if n & 0x80:
        k = n & 0x7F
        if not 0 < k <= 4:
            raise ValueError("bad DER length")
        n = int.from_bytes(b[p:p + k], "big")
        p += k
    if p + n > len(b):
        raise ValueError("DER value runs past the blob")
    return tag, p, p + n


def kerberos_ticket(blob: bytes) -> dict | None:
    """Realm and service principal of the Kerberos ticket in an AP-REQ (both travel in clear).

    Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0] 5, realm [1] GeneralString,
    sname [2] PrincipalName { name-type [0], name-string [1] SEQUENCE OF GeneralString }, enc-part [3] }"""
    start = 0
    for _ in range(16):
        i = blob.find(b"\xa0\x03\x02\x01\x05\xa1", start)  # tkt-vno 5 then realm (the AP-REQ's pvno also matches)
        if i < 0:
            return None
        start = i + 1
        try:
            _, rs, re_ = _tlv(blob, i + 5)
            tag, s, e = _tlv(blob, rs)
            if tag != 0x1B:
                continue
            realm = blob[s:e].decode("latin-1")
            tag, ss, _se = _tlv(blob, re_)  # [2] sname
            _, ps, _pe = _tlv(blob, ss)  # SEQUENCE
            _, ts, te = _tlv(blob, ps)  # [0] name-type
            _, ns, _ne = _tlv(blob, te)  # [1] name-string
            _, qs, qe = _tlv(blob, ns)  # SEQUENCE OF
            names, p = [], qs
            while p < qe and len(names) < 8:
                tag, s, e = _tlv(blob, p)
                names.append(blob[s:e].decode("latin-1"))
                p = e
            return {"realm": realm, "service_principal": "/".join(names)}
        except (IndexError, ValueError):
            continue
    return None
