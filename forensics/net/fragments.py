"""IPv4/IPv6 fragment reassembly with bounded state.

At most `max_pending` datagrams wait at once and each may grow to 64 KiB;
an incomplete datagram older than `timeout_us` is dropped (counted), so a
capture full of stray fragments cannot grow memory.
"""
from __future__ import annotations

MAX_DATAGRAM = 65535 + 8


class Reassembler:
    def __init__(self, max_pending: int = 4096, timeout_us: int = 60_000_000):
        self.pending: dict[tuple, list] = {}  # key -> [first_ts, total_or_-1, {offset: bytes}]
        self.max_pending = max_pending
        self.timeout_us = timeout_us
        self.dropped = 0

    def add(self, ver: int, src: bytes, dst: bytes, ident: int, proto: int, offset: int, more: bool,
            data: bytes, ts: int) -> bytes | None:
        key = (ver, src, dst, ident, proto)
        st = self.pending.get(key)
        if st is None:
            if len(self.pending) >= self.max_pending:
                self._expire(ts, force=True)
            st = self.pending[key] = [ts, -1, {}]
        if offset + len(data) > MAX_DATAGRAM:
            del self.pending[key]
            self.dropped += 1
            return None
        st[2].setdefault(offset, data)  # first copy wins, as most stacks do
        if not more:
            st[1] = offset + len(data)
        if st[1] < 0:
            return None
        # complete when the pieces cover 0..total without a hole
        pos = 0
        parts = st[2]
        for off in sorted(parts):
            if off > pos:
                return None
            pos = max(pos, off + len(parts[off]))
        if pos < st[1]:
            return None
        del self.pending[key]
        out = bytearray(st[1])
        for off in sorted(parts):
            chunk = parts[off][: st[1] - off]
            out[off:off + len(chunk)] = chunk
        return bytes(out)

    def _expire(self, now: int, force: bool = False) -> None:
        old = [k for k, v in self.pending.items() if now - v[0] > self.timeout_us]
        if force and not old:
            old = [next(iter(self.pending))]
        for k in old:
            del self.pending[k]
            self.dropped += 1
