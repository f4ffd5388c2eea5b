"""SMB1 (CIFS, MS-CIFS/MS-SMB) messages decoded into the same operation records as SMB2.

Old clients (Windows XP/2003, smbclient with `client max protocol = NT1`,
EternalBlue-era malware) still speak it. The commands that matter for file
transfer and lateral movement are decoded, following AndX chains; the record
shape is the one forensics.net.smb2 produces.
"""
from __future__ import annotations

import struct

MAGIC = b"\xffSMB"
NEGOTIATE, SESSION_SETUP, TREE_CONNECT, NT_CREATE = 0x72, 0x73, 0x75, 0xA2
WRITE_ANDX, READ_ANDX, CLOSE, TRANS, DELETE = 0x2F, 0x2E, 0x04, 0x25, 0x06
COMMANDS = {0x06: "delete", 0x72: "negotiate", 0x73: "session_setup", 0x74: "logoff", 0x75: "tree_connect",
            0x71: "tree_disconnect", 0xA2: "create", 0x04: "close", 0x2F: "write", 0x2E: "read",
            0x25: "trans", 0x32: "trans2", 0x2B: "echo", 0xA0: "nt_trans", 0x24: "lock", 0x2D: "open"}
ANDX = {0x73, 0x75, 0xA2, 0x2F, 0x2E, 0x74, 0x2D, 0x24}
MAX_CHAIN = 8
TRANSACT_NM_PIPE = 0x26

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from


def _string(m: bytes, p: int, end: int, unicode: bool) -> tuple[str, int]:
    """A NUL-terminated string in the bytes block; Unicode strings align to 2 from the header."""
    if unicode:
        if p % 2:
            p += 1
        q = m.find(b"\x00\x00", p, end)
        while q >= 0 and (q - p) % 2:  # a NUL pair straddling two characters is not the terminator
            q = m.find(b"\x00\x00", q + 1, end)
        q = end if q < 0 else q
        return m[p:q].decode("utf-16-le", "replace"), q + 2
    q = m.find(b"\x00", p, end)
    q = end if q < 0 else q
    return m[p:q].decode("latin-1"), q + 1


def decode(m: bytes) -> list[dict]:
    if len(m) < 33 or m[:4] != MAGIC:
        return []
    cmd = m[4]
    status = _u32(m, 5)[0]
    resp = bool(m[9] & 0x80)
    unicode = bool(_u16(m, 10)[0] & 0x8000)
    tid, pid, uid, mid = struct.unpack_from("<HHHH", m, 24)
    out: list[dict] = []
    p = 32
    for i in range(MAX_CHAIN):
        rec = {"dialect": 1, "resp": resp, "key": (1, mid, pid, i), "cmd": COMMANDS.get(cmd, f"command_0x{cmd:02x}"),
               "status": status, "sid": uid, "tid": tid, "related": i > 0, "interim": False}
        out.append(rec)
        if p >= len(m):
            break
        wc = m[p]
        words = p + 1
        bcount_at = words + 2 * wc
        if bcount_at + 2 > len(m):
            rec["truncated"] = True
            break
        bstart = bcount_at + 2
        bend = min(len(m), bstart + _u16(m, bcount_at)[0])
        try:
            _body(rec, cmd, resp, m, words, wc, bstart, bend, unicode, status)
        except (struct.error, IndexError):
            rec["truncated"] = True
        if cmd not in ANDX or wc < 2 or m[words] == 0xFF:
            break
        nxt, nxt_off = m[words], _u16(m, words + 2)[0]
        if nxt_off <= p or nxt_off >= len(m):
            break
        cmd, p = nxt, nxt_off
    return out


def _body(r: dict, cmd: int, resp: bool, m: bytes, w: int, wc: int, bs: int, be: int, uni: bool,
          status: int) -> None:
    if cmd == NEGOTIATE and resp and wc == 17:
        r["dialect_revision"] = "NT LM 0.12"
    elif cmd == SESSION_SETUP and not resp:
        if wc == 12:  # extended security: an SPNEGO/NTLMSSP blob
            r["blob"] = m[bs:bs + _u16(m, w + 14)[0]]
        elif wc == 13:  # plain: account and domain in clear after the password fields
            p = bs + _u16(m, w + 14)[0] + _u16(m, w + 16)[0]
            user, p = _string(m, p, be, uni)
            domain, p = _string(m, p, be, uni)
            r["account"] = {"mechanism": "plain", "user": user, "domain": domain, "workstation": ""}
    elif cmd == TREE_CONNECT:
        if resp:
            svc = m[bs:be].split(b"\x00", 1)[0]
            r["share_type"] = "pipe" if svc.startswith(b"IPC") else "print" if svc.startswith(b"LPT") else "disk"
        elif wc == 4:
            p = bs + _u16(m, w + 6)[0]
            r["path"], _ = _string(m, p, be, uni)
    elif cmd == NT_CREATE:
        if resp:
            if status == 0 and wc >= 34:
                r["fid"] = m[w + 5:w + 7]
                r["action"] = _u32(m, w + 7)[0]
                r["eof"] = struct.unpack_from("<Q", m, w + 55)[0]
        elif wc == 24:
            r["access"] = _u32(m, w + 15)[0]
            r["disposition"] = _u32(m, w + 35)[0]
            r["options"] = _u32(m, w + 39)[0]
            r["name"], _ = _string(m, bs, be, uni)
    elif cmd == WRITE_ANDX:
        if resp:
            if status == 0 and wc >= 6:
                r["count"] = _u16(m, w + 4)[0] | (_u16(m, w + 8)[0] << 16)
        elif wc in (12, 14):
            off = _u32(m, w + 6)[0] | ((_u32(m, w + 24)[0] << 32) if wc == 14 else 0)
            dlen = _u16(m, w + 20)[0] | (_u16(m, w + 18)[0] << 16)
            doff = _u16(m, w + 22)[0]
            r.update(fid=m[w + 4:w + 6], offset=off, data=m[doff:doff + dlen])
    elif cmd == READ_ANDX:
        if resp:
            if status == 0 and wc >= 12:
                dlen = _u16(m, w + 10)[0] | (_u16(m, w + 14)[0] << 16)
                doff = _u16(m, w + 12)[0]
                r["data"] = m[doff:doff + dlen]
        elif wc in (10, 12):
            off = _u32(m, w + 6)[0] | ((_u32(m, w + 20)[0] << 32) if wc == 12 else 0)
            r.update(fid=m[w + 4:w + 6], offset=off, length=_u16(m, w + 10)[0])
    elif cmd == CLOSE and not resp and wc >= 1:
        r["fid"] = m[w:w + 2]
    elif cmd == DELETE and not resp and bs < be and m[bs] == 0x04:  # BufferFormat 4: an SMB string
        r["name"], _ = _string(m, bs + 1, be, uni)
    elif cmd == TRANS and not resp and wc >= 16:
        setup_count = m[w + 26]
        if setup_count >= 2 and _u16(m, w + 28)[0] == TRANSACT_NM_PIPE:
            dcount, doff = _u16(m, w + 22)[0], _u16(m, w + 24)[0]
            r.update(fid=m[w + 30:w + 32], data=m[doff:doff + dcount], pipe_transact=True)
