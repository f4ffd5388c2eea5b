"""SMB2/3 messages (MS-SMB2 2.2) decoded into plain operation records.

`decode(msg)` turns one NetBIOS-framed SMB2 message (possibly a compound chain)
into dicts the session (forensics.net.smb) reads the same way for SMB1 and
SMB2: `resp`, `key` (pairs a response with its request), `cmd`, `status`,
`sid`, `tid` and the command's own fields. Only the commands an investigator
asks about are decoded; every other command is still paired and counted.
"""
from __future__ import annotations

import struct

MAGIC = b"\xfeSMB"
TRANSFORM = b"\xfdSMB"  # encrypted (SMB3): nothing inside can be read
COMMANDS = {0: "negotiate", 1: "session_setup", 2: "logoff", 3: "tree_connect", 4: "tree_disconnect",
            5: "create", 6: "close", 7: "flush", 8: "read", 9: "write", 10: "lock", 11: "ioctl",
            12: "cancel", 13: "echo", 14: "query_directory", 15: "change_notify", 16: "query_info",
            17: "set_info", 18: "oplock_break"}
DIALECTS = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1", 0x02FF: "2.???"}
STATUS_PENDING = 0x00000103
FSCTL_PIPE_WAIT = 0x00110018
FSCTL_PIPE_TRANSCEIVE = 0x0011C017
MAX_COMPOUND = 64

_hdr = struct.Struct("<4sHHIHHIIQ").unpack_from  # magic .. MessageId


def _utf16(b: bytes, off: int, ln: int) -> str:
    return b[off:off + ln].decode("utf-16-le", "replace") if off + ln <= len(b) else ""


def decode(msg: bytes) -> list[dict]:
    out: list[dict] = []
    base = 0
    for _ in range(MAX_COMPOUND):
        if len(msg) - base < 64 or msg[base:base + 4] != MAGIC:
            break
        m = msg[base:]
        _magic, _size, _credit, status, cmd, _cr, flags, nxt, mid = _hdr(m, 0)
        resp = bool(flags & 1)
        tid = None if flags & 2 else struct.unpack_from("<I", m, 36)[0]
        sid = struct.unpack_from("<Q", m, 40)[0]
        end = nxt if nxt else len(m)
        rec = {"dialect": 2, "resp": resp, "key": (2, mid), "cmd": COMMANDS.get(cmd, f"command_{cmd}"),
               "status": status, "sid": sid, "tid": tid, "related": bool(flags & 4), "interim":
               resp and status == STATUS_PENDING}
        try:
            _body(rec, cmd, resp, m[:end], status)
        except struct.error:
            rec["truncated"] = True
        out.append(rec)
        if not nxt or nxt < 64:
            break
        base += nxt
    return out


def _body(r: dict, cmd: int, resp: bool, m: bytes, status: int) -> None:
    b = 64  # body starts after the fixed header
    if cmd == 0 and resp:
        r["dialect_revision"] = DIALECTS.get(struct.unpack_from("<H", m, b + 4)[0])
    elif cmd == 1 and not resp:
        off, ln = struct.unpack_from("<HH", m, b + 12)
        r["blob"] = m[off:off + ln]
    elif cmd == 3:
        if resp:
            r["share_type"] = {1: "disk", 2: "pipe", 3: "print"}.get(m[b + 2])
        else:
            off, ln = struct.unpack_from("<HH", m, b + 4)
            r["path"] = _utf16(m, off, ln)
    elif cmd == 5:
        if resp:
            if status == 0:
                r["action"], = struct.unpack_from("<I", m, b + 4)
                r["eof"], = struct.unpack_from("<Q", m, b + 48)
                r["fid"] = m[b + 64:b + 80]
        else:
            access, _attrs, _share, disp, opts, noff, nlen = struct.unpack_from("<IIIIIHH", m, b + 24)
            r.update(access=access, disposition=disp, options=opts, name=_utf16(m, noff, nlen))
    elif cmd == 6 and not resp:
        r["fid"] = m[b + 8:b + 24]
    elif cmd == 8:
        if resp:
            if status == 0:
                doff = m[b + 2]
                dlen, = struct.unpack_from("<I", m, b + 4)
                r["data"] = m[doff:doff + dlen]
        else:
            r["length"], r["offset"] = struct.unpack_from("<IQ", m, b + 4)
            r["fid"] = m[b + 16:b + 32]
    elif cmd == 9:
        if resp:
            if status == 0:
                r["count"], = struct.unpack_from("<I", m, b + 4)
        else:
            doff, dlen, offset = struct.unpack_from("<HIQ", m, b + 2)
            r.update(offset=offset, fid=m[b + 16:b + 32], data=m[doff:doff + dlen])
    elif cmd == 17 and not resp and m[b + 2] == 1:  # SET_INFO on a file: deletion and rename
        cls = m[b + 3]
        blen, boff = struct.unpack_from("<IH", m, b + 4)
        buf = m[boff:boff + blen]
        r["fid"] = m[b + 16:b + 32]
        if cls in (13, 64) and buf:  # FileDispositionInformation(Ex): DeletePending / FILE_DISPOSITION_DELETE
            r["delete"] = bool(buf[0] & 1)
        elif cls == 10 and len(buf) >= 20:  # FileRenameInformation
            nlen, = struct.unpack_from("<I", buf, 16)
            r["rename_to"] = _utf16(buf, 20, nlen)
    elif cmd == 11 and not resp:
        code, = struct.unpack_from("<I", m, b + 4)
        ioff, ilen = struct.unpack_from("<II", m, b + 24)
        r.update(ctl_code=code, fid=m[b + 8:b + 24])
        data = m[ioff:ioff + ilen]
        if code == FSCTL_PIPE_TRANSCEIVE:
            r["data"] = data
        elif code == FSCTL_PIPE_WAIT and len(data) >= 14:
            nlen, = struct.unpack_from("<I", data, 8)
            r["pipe_name"] = _utf16(data, 14, nlen)
