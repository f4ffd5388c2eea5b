"""DNS messages (UDP, and TCP with its 2-byte length prefix) via dpkt."""
from __future__ import annotations

import dpkt

QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
          255: "ANY", 65: "HTTPS", 64: "SVCB", 10: "NULL"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
MAX_ANSWERS = 32


def parse(payload: bytes) -> dict | None:
    """-> {"id", "response", "qname", "qtype", "rcode", "answers": [...]} or None if not DNS."""
    if len(payload) < 12:
        return None
    try:
        m = dpkt.dns.DNS(payload)
    except Exception:  # dpkt raises several types on malformed names; not DNS for us
        return None
    if not m.qd:
        return None
    q = m.qd[0]
    answers = []
    for rr in m.an[:MAX_ANSWERS]:
        t = QTYPES.get(rr.type, str(rr.type))
        if rr.type == 1 and len(rr.rdata) == 4:
            val = ".".join(str(x) for x in rr.rdata)
        elif rr.type == 28 and len(rr.rdata) == 16:
            import ipaddress
            val = str(ipaddress.IPv6Address(rr.rdata))
        elif rr.type in (5, 2, 12):
            val = getattr(rr, "cname", None) or getattr(rr, "nsname", None) or getattr(rr, "ptrname", "")
        elif rr.type == 16:
            val = " ".join(x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in getattr(rr, "text", []))
        elif rr.type == 15:
            val = getattr(rr, "mxname", "")
        else:
            val = rr.rdata.hex()[:64]
        answers.append({"name": rr.name, "type": t, "value": val, "ttl": rr.ttl})
    return {
        "id": m.id, "response": bool(m.qr), "qname": q.name, "qtype": QTYPES.get(q.type, str(q.type)),
        "rcode": RCODES.get(m.rcode, str(m.rcode)), "answers": answers,
    }
