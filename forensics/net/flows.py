"""Flow records: one per TCP connection or UDP/ICMP/other conversation.

Counting follows Wireshark's conversation table so figures can be checked
against `tshark -z conv,...`: bytes are frame (wire) lengths, a TCP 5-tuple
starts a new flow when a new SYN carries a different initial sequence number,
and headers quoted inside ICMP errors do not count. The initiator is the
sender of the first SYN (or of the first packet when no SYN was seen), so
`bytes_out` is what the initiator sent. Connection states use Zeek's
conn_state names (S0, REJ, S1, SF, RSTO, RSTR, SH, OTH), which analysts know.
"""
from __future__ import annotations

from forensics.events import Event
from forensics.net.decode import ip_str

PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 47: "gre", 50: "esp", 132: "sctp"}
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def flag_str(f: int) -> str:
    return "".join(c for bit, c in ((SYN, "S"), (ACK, "A"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"))
                   if f & bit)


class Flow:
    __slots__ = ("proto", "ver", "a", "ap", "b", "bp", "first", "last", "frame", "off",
                 "pa", "pb", "ba", "bb", "la", "lb", "fa", "fb", "seq_a", "seq_b", "keys",
                 "app", "sa", "sb", "served_at", "continued")

    def __init__(self, proto, ver, a, ap, b, bp, ts, frame, off):
        self.proto = proto
        self.ver = ver
        self.a, self.ap, self.b, self.bp = a, ap, b, bp  # a = initiator
        self.first = self.last = ts
        self.frame, self.off = frame, off
        self.pa = self.pb = 0  # packets a->b, b->a
        self.ba = self.bb = 0  # wire bytes
        self.la = self.lb = 0  # transport payload bytes
        self.fa = self.fb = 0  # OR of TCP flags
        self.seq_a = self.seq_b = None  # Wireshark's base sequence per direction
        self.keys = ()
        self.app = None  # application-layer session, or False when none applies
        self.sa = self.sb = None  # tcp streams
        self.served_at = None  # first time b sent payload (for outage reasoning)
        self.continued = False

    @property
    def locator(self) -> str:
        return f"pkt={self.frame};off={self.off}"

    def state(self) -> str:
        if self.proto != 6:
            return "answered" if self.pb else "unanswered"
        fa, fb = self.fa, self.fb
        if not (fa & SYN) and not (fb & SYN):
            return "OTH"
        if fa & SYN and not (fb & SYN):
            if fb & RST:
                return "REJ"
            if fa & FIN:
                return "SH"
            return "S0"
        if fa & RST:
            return "RSTO"
        if fb & RST:
            return "RSTR"
        if fa & FIN and fb & FIN:
            return "SF"
        return "S1"

    def answered(self) -> bool:
        """Did the responder take part (SYN-ACK or any reply that is not a reset)?"""
        if self.proto == 6:
            return bool(self.fb & SYN) or (self.pb > 0 and not (self.fb & RST))
        return self.pb > 0

    def event(self) -> Event:
        proto = PROTO_NAMES.get(self.proto, str(self.proto))
        src, dst = ip_str(self.a), ip_str(self.b)
        dur = self.last - self.first
        state = self.state()
        ports = self.proto in (6, 17)
        attrs = {
            "packets_out": self.pa, "packets_in": self.pb,
            "payload_out": self.la, "payload_in": self.lb,
            "first_seen_us": self.first, "last_seen_us": self.last,
            "duration_us": dur, "state": state, "ip_version": self.ver,
        }
        if self.proto == 6:
            attrs["flags_out"] = flag_str(self.fa)
            attrs["flags_in"] = flag_str(self.fb)
        if self.continued:
            attrs["continued"] = True  # evicted while idle and seen again
        where = f"{src}:{self.ap} -> {dst}:{self.bp}" if ports else f"{src} -> {dst}"
        return Event(
            timestamp=self.first, data_type="network:flow", timestamp_desc="First Packet",
            message=(f"{proto.upper()} {where} {state}, {self.pa + self.pb} packets, "
                     f"{self.ba} bytes out / {self.bb} bytes in over {dur / 1e6:.3f} s"),
            locator=self.locator, src_ip=src, dst_ip=dst,
            src_port=self.ap if ports else None, dst_port=self.bp if ports else None,
            proto=proto, bytes_out=self.ba, bytes_in=self.bb, attributes=attrs, discriminator="flow",
        )
