"""TLS 1.2 record framing for synthetic HTTPS: a real ClientHello with SNI (what
ingestors and tshark read), a real ServerHello, then application-data records
whose bodies are opaque bytes. Only the framing is real; nothing is encrypted."""
from __future__ import annotations

import struct

MAX_RECORD = 16384


def _record(content_type: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return struct.pack("!B", msg_type) + len(body).to_bytes(3, "big") + body


def client_hello(sni: str, random32: bytes) -> bytes:
    name = sni.encode("ascii")
    sni_ext = struct.pack("!HHHBH", 0x0000, len(name) + 5, len(name) + 3, 0, len(name)) + name
    groups = struct.pack("!HHH", 0x000A, 4, 2) + b"\x00\x17"
    sig = struct.pack("!HHH", 0x000D, 6, 4) + b"\x04\x01\x04\x03"
    exts = sni_ext + groups + sig
    ciphers = b"\xc0\x2f\xc0\x2b\xc0\x30\x00\x9c"
    body = (b"\x03\x03" + random32[:32] + b"\x00" + struct.pack("!H", len(ciphers)) + ciphers + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    return struct.pack("!BHH", 22, 0x0301, len(body) + 4) + _handshake(1, body)


def server_hello(random32: bytes) -> bytes:
    body = b"\x03\x03" + random32[:32] + b"\x00" + b"\xc0\x2f" + b"\x00" + b"\x00\x00"
    return _record(22, _handshake(2, body)) + _record(20, b"\x01")


def app_data(opaque: bytes) -> bytes:
    """Opaque bytes as a run of application-data records."""
    out = bytearray()
    for i in range(0, len(opaque), MAX_RECORD):
        out += _record(23, opaque[i:i + MAX_RECORD])
    return bytes(out)


def app_data_len(total: int) -> int:
    """Payload bytes that yield `total` bytes on the wire once framed (for exact byte budgets)."""
    n_records = -(-total // (MAX_RECORD + 5))
    return max(0, total - 5 * n_records)
