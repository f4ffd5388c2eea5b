"""In-order delivery of one direction of a TCP connection, bounded.

Application parsers (HTTP, SMB, SMTP, OFT...) need the byte stream, not
segments. Out-of-order segments wait in a small buffer; retransmitted bytes are
trimmed; a hole that never fills is skipped once the buffer is full, and the
skip is counted so a parser can tell the stream has a gap.
"""
from __future__ import annotations

MAX_PENDING_SEGMENTS = 256
MAX_PENDING_BYTES = 1 << 20


class Stream:
    __slots__ = ("next_seq", "pending", "pending_bytes", "gaps")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.gaps = 0

    def syn(self, seq: int) -> None:
        self.next_seq = (seq + 1) & 0xFFFFFFFF

    def add(self, seq: int, data: bytes) -> list[bytes]:
        """Accept a segment; return the bytes that are now in order (possibly none)."""
        if self.next_seq is None:  # joined mid-stream: start here
            self.next_seq = seq
        d = ((seq - self.next_seq + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        out: list[bytes] = []
        if d <= 0:
            if -d >= len(data):
                return out  # pure retransmission
            data = data[-d:]
            out.append(data)
            self.next_seq = (self.next_seq + len(data)) & 0xFFFFFFFF
            self._drain(out)
            return out
        if seq not in self.pending:
            self.pending[seq] = data
            self.pending_bytes += len(data)
        if len(self.pending) > MAX_PENDING_SEGMENTS or self.pending_bytes > MAX_PENDING_BYTES:
            self._skip_hole(out)
        return out

    def _drain(self, out: list[bytes]) -> None:
        while self.pending:
            progressed = False
            for s in list(self.pending):
                d = ((s - self.next_seq + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                if d <= 0:
                    data = self.pending.pop(s)
                    self.pending_bytes -= len(data)
                    if -d < len(data):
                        data = data[-d:]
                        out.append(data)
                        self.next_seq = (self.next_seq + len(data)) & 0xFFFFFFFF
                    progressed = True
            if not progressed:
                return

    def _skip_hole(self, out: list[bytes]) -> None:
        nearest = min(self.pending, key=lambda s: (s - self.next_seq) & 0xFFFFFFFF)
        self.gaps += 1
        self.next_seq = nearest
        self._drain(out)

    def flush(self) -> list[bytes]:
        """At close: deliver what is left past any holes (parsers see the gap count)."""
        out: list[bytes] = []
        n = 0
        while self.pending and n < MAX_PENDING_SEGMENTS + 1:
            self._skip_hole(out)
            n += 1
        return out
