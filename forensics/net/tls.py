"""TLS ClientHello: SNI, offered version, JA3 (Salesforce's fingerprint)."""
from __future__ import annotations

import hashlib
import struct

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}


def _grease(v: int) -> bool:
    # RFC 8701 GREASE values (0x0a0a, 0x1a1a, ...) are excluded from JA3
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def looks_like_handshake(data: bytes) -> bool:
    return len(data) >= 6 and data[0] == 0x16 and data[1] == 3 and data[5] == 1


def client_hello(data: bytes) -> dict | None:
    """Parse a ClientHello from the start of the client's byte stream; None if incomplete/not TLS."""
    try:
        return _client_hello(data)
    except (struct.error, IndexError, ValueError):
        return None


def _client_hello(data: bytes) -> dict | None:
    if not looks_like_handshake(data):
        return None
    # gather handshake bytes from consecutive records (a hello may span records)
    hs = bytearray()
    pos = 0
    while pos + 5 <= len(data) and data[pos] == 0x16 and len(hs) < 65536:
        rlen = struct.unpack_from("!H", data, pos + 3)[0]
        hs += data[pos + 5:pos + 5 + rlen]
        pos += 5 + rlen
        if len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            break
    if len(hs) < 4 or hs[0] != 1:
        return None
    hlen = int.from_bytes(hs[1:4], "big")
    if len(hs) < 4 + hlen:
        return None
    b = hs[4:4 + hlen]
    version = struct.unpack_from("!H", b, 0)[0]
    p = 2 + 32
    sid = b[p]
    p += 1 + sid
    clen = struct.unpack_from("!H", b, p)[0]
    ciphers = [c for c in struct.unpack_from(f"!{clen // 2}H", b, p + 2) if not _grease(c)]
    p += 2 + clen
    p += 1 + b[p]  # compression methods
    exts, curves, points = [], [], []
    sni = None
    alpn: list[str] = []
    supported_versions: list[int] = []
    if p + 2 <= len(b):
        elen = struct.unpack_from("!H", b, p)[0]
        p += 2
        end = min(len(b), p + elen)
        while p + 4 <= end:
            et, el = struct.unpack_from("!HH", b, p)
            v = b[p + 4:p + 4 + el]
            p += 4 + el
            if _grease(et):
                continue
            exts.append(et)
            if et == 0 and len(v) >= 5:
                n = struct.unpack_from("!H", v, 3)[0]
                sni = v[5:5 + n].decode("idna", "replace") if v[2] == 0 else None
            elif et == 10 and len(v) >= 2:
                n = struct.unpack_from("!H", v, 0)[0]
                curves = [c for c in struct.unpack_from(f"!{n // 2}H", v, 2) if not _grease(c)]
            elif et == 11 and v:
                points = list(v[1:1 + v[0]])
            elif et == 16 and len(v) >= 2:
                q = 2
                while q < len(v):
                    n = v[q]
                    alpn.append(v[q + 1:q + 1 + n].decode("latin-1"))
                    q += 1 + n
            elif et == 43 and v:
                supported_versions = [x for x in struct.unpack_from(f"!{v[0] // 2}H", v, 1) if not _grease(x)]
    ja3_str = ",".join([str(version), "-".join(map(str, ciphers)), "-".join(map(str, exts)),
                        "-".join(map(str, curves)), "-".join(map(str, points))])
    best = max(supported_versions) if supported_versions else version
    return {
        "sni": sni, "version": VERSIONS.get(best, hex(best)), "client_version": VERSIONS.get(version, hex(version)),
        "ja3": ja3_str, "ja3_md5": hashlib.md5(ja3_str.encode()).hexdigest(), "alpn": alpn,
        "cipher_count": len(ciphers),
    }
