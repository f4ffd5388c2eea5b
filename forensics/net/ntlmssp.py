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
