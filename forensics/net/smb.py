"""SMB1/SMB2 sessions over TCP 445/139: logons, shares, files, named pipes, carving.

The reassembled byte streams are cut into NetBIOS-framed messages, decoded by
forensics.net.smb1 / smb2 into one record shape, and requests are paired with
their responses. What an investigator reads comes out as `network:smb`
events: session setup (account, domain, workstation from NTLMSSP), tree
connect (share), create (file or named pipe, disposition), close (bytes read
and written on the handle, hash when carved), and service-control calls on
the `svcctl` pipe. A file written or read whole (contiguous from offset 0 to
its end of file) is carved. Detections: writes to administrative shares
(T1021.002) and remote service creation over SMB, the PsExec pattern
(T1569.002), tied to the binary dropped on ADMIN$ when the same client did so.
A stream that loses framing (capture starts mid-message, a hole in the TCP
stream) resynchronises on the next SMB header instead of giving up.
"""
from __future__ import annotations

import hashlib
from collections import deque

from forensics.events import CarvedFile
from forensics.net import dcerpc, ntlmssp, smb1, smb2
from forensics.net.detections import _detection
from forensics.net.sessions import Session, base_event

SMB_PORTS = (445, 139)
MAGICS = (smb2.MAGIC, smb1.MAGIC, smb2.TRANSFORM)
NBSS_CONTROL = (0x81, 0x82, 0x83, 0x84, 0x85)  # session request/responses, retarget, keepalive
MAX_PENDING = 4096  # requests awaiting a response per connection
MAX_OPEN = 4096  # open handles per connection
STATUS_MORE_PROCESSING = 0xC0000016
DISPOSITIONS = {0: "supersede", 1: "open", 2: "create", 3: "open_if", 4: "overwrite", 5: "overwrite_if"}
ACTIONS = {0: "superseded", 1: "opened", 2: "created", 3: "overwritten"}
DELETE_ON_CLOSE = 0x00001000
STATUS_NAMES = {0: "STATUS_SUCCESS", 0xC0000022: "STATUS_ACCESS_DENIED", 0xC000006D: "STATUS_LOGON_FAILURE",
                0xC0000034: "STATUS_OBJECT_NAME_NOT_FOUND", 0xC00000CC: "STATUS_BAD_NETWORK_NAME",
                0xC0000035: "STATUS_OBJECT_NAME_COLLISION", 0xC0000043: "STATUS_SHARING_VIOLATION",
                0xC0000072: "STATUS_ACCOUNT_DISABLED", 0xC0000064: "STATUS_NO_SUCH_USER",
                0xC0000071: "STATUS_PASSWORD_EXPIRED", 0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT"}


def status_name(s: int) -> str:
    return STATUS_NAMES.get(s, f"0x{s:08X}")


class Handle:
    """An open file or pipe: where it lives, what was read and written, bytes kept for carving."""

    def __init__(self, path, name, tree, pipe, where, disposition, options, access, eof, user, proto):
        self.path, self.name, self.tree, self.pipe = path, name, tree, pipe
        self.where = where  # (ts, frame, off) of the create
        self.disposition, self.options, self.access, self.eof = disposition, options, access, eof
        self.user, self.proto = user, proto
        self.chunks = {"write": {}, "read": {}}  # offset -> bytes
        self.kept = 0
        self.too_big = False
        self.count = {"write": [0, 0], "read": [0, 0]}  # operations, bytes
        self.rpc = dcerpc.Pipe() if pipe else None
        self.deleted = bool(options & DELETE_ON_CLOSE)

    def add(self, kind: str, offset: int, data: bytes, budget: list) -> None:
        """Count the operation; keep its bytes while this handle and the connection stay within budget."""
        c = self.count[kind]
        c[0] += 1
        c[1] += len(data)
        if self.pipe or not data or self.too_big:
            return
        if len(data) > budget[0]:
            self.too_big = True
            budget[0] += self.kept
            self.kept = 0
            self.chunks = {"write": {}, "read": {}}
            return
        budget[0] -= len(data)
        self.kept += len(data)
        old = self.chunks[kind].get(offset)
        if old is not None:  # rewritten in place: the earlier bytes no longer count
            budget[0] += len(old)
            self.kept -= len(old)
        self.chunks[kind][offset] = data

    def release(self, budget: list) -> None:
        budget[0] += self.kept
        self.kept = 0
        self.chunks = {"write": {}, "read": {}}

    def whole(self, kind: str) -> bytes | None:
        """The file's bytes if `kind` operations cover it from 0 to its end without a hole."""
        chunks = self.chunks[kind]
        if not chunks or self.too_big:
            return None
        end = 0
        for off in sorted(chunks):
            if off > end:
                return None
            end = max(end, off + len(chunks[off]))
        if end < (self.eof or 0):
            return None
        out = bytearray(end)
        for off in sorted(chunks):
            out[off:off + len(chunks[off])] = chunks[off]
        return bytes(out)


class SmbSession(Session):
    def __init__(self, flow, carve_limit: int, shared: dict):
        self.flow = flow
        self.carve_limit = carve_limit
        self.shared = shared
        self.buf = {True: bytearray(), False: bytearray()}
        self.base = {True: 0, False: 0}  # stream offset of buf[0]
        self.marks = {True: deque(), False: deque()}  # (stream offset, ts, frame, off) of each chunk
        self.client_fwd: bool | None = None
        self.pending: dict = {}
        self.trees: dict = {}  # tree id -> (share path, share type)
        self.accounts: dict = {}  # session id -> account dict
        self.handles: dict = {}  # file id -> Handle
        self.last_fid = None  # compound requests refer to the previous create's handle
        self.budget = [carve_limit]  # bytes this connection may still keep for carving, all handles together
        self.dialect = None
        self.n = 0
        self.stats = {"messages": 0, "resyncs": 0, "encrypted": 0, "undecodable": 0}

    # -- framing ----------------------------------------------------------------
    def data(self, fwd, data, ts, frame, off, out):
        buf = self.buf[fwd]
        self.marks[fwd].append((self.base[fwd] + len(buf), ts, frame, off))
        buf += data
        pos, n = 0, len(buf)
        while n - pos >= 4:
            t = buf[pos]
            ln = (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]
            if t == 0:
                if ln < 32 or (n - pos >= 8 and bytes(buf[pos + 4:pos + 8]) not in MAGICS):
                    pos = self._resync(buf, pos)
                    continue
            elif t in NBSS_CONTROL and ln <= 1024:
                if n - pos < 4 + ln:
                    break
                pos += 4 + ln
                continue
            else:
                pos = self._resync(buf, pos)
                continue
            if n - pos < 4 + ln:
                break
            start = self.base[fwd] + pos
            msg = bytes(buf[pos + 4:pos + 4 + ln])
            pos += 4 + ln
            self._message(fwd, msg, self._where(fwd, start), out)
        if pos:
            del buf[:pos]
            self.base[fwd] += pos

    def capacity(self, fwd):
        """Inside a NetBIOS message whose (valid) header is buffered: the bytes short of its end."""
        buf = self.buf[fwd]
        if len(buf) < 8 or buf[0] != 0:
            return 0
        ln = (buf[1] << 16) | (buf[2] << 8) | buf[3]
        if ln < 32 or bytes(buf[4:8]) not in MAGICS:
            return 0
        return max(0, 4 + ln - len(buf) - 1)

    def absorb(self, fwd, pieces):
        buf, marks = self.buf[fwd], self.marks[fwd]
        for data, ts, frame, off in pieces:  # the marks `data` would leave, one per segment
            marks.append((self.base[fwd] + len(buf), ts, frame, off))
            buf += data

    def _resync(self, buf: bytearray, pos: int) -> int:
        """Next position where an SMB header could start; keeps a possible partial header."""
        self.stats["resyncs"] += 1
        best = -1
        for magic in MAGICS:
            i = buf.find(magic, pos + 5)
            if i >= 0 and (best < 0 or i < best):
                best = i
        if best >= 0:
            return best - 4
        return max(pos + 1, len(buf) - 7)

    def _where(self, fwd: bool, start: int) -> tuple[int, int, int]:
        marks = self.marks[fwd]
        while len(marks) > 1 and marks[1][0] <= start:
            marks.popleft()
        _, ts, frame, off = marks[0]
        return ts, frame, off

    # -- messages ---------------------------------------------------------------
    def _message(self, fwd: bool, msg: bytes, where, out: list) -> None:
        self.stats["messages"] += 1
        head = msg[:4]
        if head == smb2.TRANSFORM:
            self.stats["encrypted"] += 1
            return
        try:
            recs = smb2.decode(msg) if head == smb2.MAGIC else smb1.decode(msg)
        except (ValueError, IndexError):
            recs = []
        if not recs:
            self.stats["undecodable"] += 1
            return
        for rec in recs:
            if self.client_fwd is None:
                self.client_fwd = fwd if not rec["resp"] else not fwd
            if rec.get("truncated"):
                self.stats["undecodable"] += 1
            if rec["resp"]:
                if not rec["interim"]:
                    req = self.pending.pop(rec["key"], None)
                    if req is not None:
                        self._response(req[0], req[1], rec, where, out)
            else:
                self._request(rec, where, out)
                if len(self.pending) >= MAX_PENDING:
                    self.pending.pop(next(iter(self.pending)))
                self.pending[rec["key"]] = (rec, where)

    def _fid(self, rec: dict):
        fid = rec.get("fid")
        if fid is not None and fid == b"\xff" * 16:
            return self.last_fid
        return fid

    def _request(self, rec: dict, where, out: list) -> None:
        """Pipe traffic is judged on the request: what the client asked the server to do."""
        data = rec.get("data")
        if data is None or rec["cmd"] == "read":
            return
        if rec["cmd"] == "write":
            del rec["data"]  # taken now: a pending request must not hold file bytes
        h = self.handles.get(self._fid(rec))
        if h is None:
            return
        if rec["cmd"] == "write":  # counted when sent, so the pending request holds no file bytes
            h.add("write", rec.get("offset", 0), data, self.budget)
        if h.rpc is not None:
            for opnum, stub in h.rpc.feed(data):
                self._rpc(h, opnum, stub, where, out)

    def _response(self, req: dict, req_where, resp: dict, where, out: list) -> None:
        cmd, status = req["cmd"], resp["status"]
        if cmd == "negotiate":
            self.dialect = resp.get("dialect_revision") or self.dialect
        elif cmd == "session_setup":
            self._session_setup(req, resp, req_where, out)
        elif cmd == "tree_connect" and "path" in req:
            self._tree_connect(req, resp, req_where, out)
        elif cmd == "create" and "name" in req:
            self._create(req, resp, req_where, out)
        elif cmd == "read" and status == 0:
            h = self.handles.get(self._fid(req))
            if h is not None:
                h.add("read", req.get("offset", 0), resp.get("data") or b"", self.budget)
        elif cmd == "set_info" and status == 0 and (req.get("delete") or req.get("rename_to")):
            h = self.handles.get(self._fid(req))
            if h is not None:
                self._set_info(h, req, req_where, out)
        elif cmd == "delete" and status == 0 and req.get("name") is not None:  # SMB1 delete by name
            tree, _ = self.trees.get(req["tid"], ("", ""))
            name = req["name"].lstrip("\\")
            path = f"{tree}\\{name}" if tree else name
            ev = self._event(req_where, f"SMB1 delete file {path}",
                             {"command": "delete", "share": tree or None, "file_name": name},
                             user=self._user(req["sid"]))
            ev.host, ev.file_path = _server(tree), path
            out.append(ev)
        elif cmd == "close":
            fid = self._fid(req)
            h = self.handles.pop(fid, None)
            if h is not None:
                self._closed(h, req_where, out, closed=True)

    # -- events -----------------------------------------------------------------
    def _event(self, where, message: str, attrs: dict, user=None):
        ts, frame, off = where
        self.n += 1
        ev = base_event(self.flow, True, ts, frame, off, "network:smb", message, f"smb-{self.n}")
        if self.client_fwd is False:  # the flow's initiator is the server (capture began mid-connection)
            ev.src_ip, ev.dst_ip, ev.src_port, ev.dst_port = ev.dst_ip, ev.src_ip, ev.dst_port, ev.src_port
        ev.user = user
        ev.attributes = {"dialect": self.dialect, **attrs}
        return ev

    def _proto(self, rec: dict) -> str:
        return "SMB2" if rec["dialect"] == 2 else "SMB1"

    def _user(self, sid) -> str | None:
        a = self.accounts.get(sid)
        if not a or not a.get("user"):
            return None
        return f"{a['domain']}\\{a['user']}" if a.get("domain") else a["user"]

    def _session_setup(self, req, resp, where, out):
        status = resp["status"]
        blob = req.get("blob", b"")
        acct = req.get("account") or (ntlmssp.authenticate(blob) if blob else None)
        mech = (acct or {}).get("mechanism") or ntlmssp.mechanism(blob)
        if acct is None and (status == STATUS_MORE_PROCESSING or mech is None):
            return  # a negotiation leg: nothing to report yet
        sid = resp["sid"] or req["sid"]
        ok = status == 0
        ticket = ntlmssp.kerberos_ticket(blob) if acct is None and mech == "Kerberos" else None
        if acct is not None and ok:
            self.accounts[sid] = acct
        who = "anonymous (null session)" if acct and acct.get("anonymous") else (
            (f"{acct['domain']}\\{acct['user']}" if acct.get("domain") else acct["user"]) if acct else
            f"with a ticket for {ticket['service_principal']}@{ticket['realm']}" if ticket else "with a Kerberos ticket")
        host = f" from workstation {acct['workstation']}" if acct and acct.get("workstation") else ""
        ev = self._event(where, f"{self._proto(req)} logon {who}{host} via {mech}: "
                                f"{'succeeded' if ok else 'failed ' + status_name(status)}",
                         {"command": "session_setup", "mechanism": mech, "status": status_name(status),
                          "success": ok, "session_id": sid, **({k: v for k, v in acct.items() if k != "mechanism"}
                                                              if acct else {}), **(ticket or {})},
                         user=None if not acct or acct.get("anonymous") else who)
        ev.tags = ["logon"] if ok else ["logon", "failed"]
        out.append(ev)

    def _tree_connect(self, req, resp, where, out):
        status = resp["status"]
        path = req["path"]
        share = path.rstrip("\\").rsplit("\\", 1)[-1]
        stype = resp.get("share_type") or ("pipe" if share.upper() == "IPC$" else "disk")
        if status == 0:
            self.trees[resp["tid"]] = (path, stype)
        ev = self._event(where, f"{self._proto(req)} tree connect {path} ({stype}): "
                                f"{'ok' if status == 0 else status_name(status)}",
                         {"command": "tree_connect", "share": path, "share_type": stype,
                          "admin_share": _admin(share), "status": status_name(status), "tree_id": resp["tid"]},
                         user=self._user(req["sid"]))
        ev.host = _server(path)
        ev.file_path = path
        out.append(ev)

    def _create(self, req, resp, where, out):
        status = resp["status"]
        tree, stype = self.trees.get(req["tid"], ("", "unknown"))
        name = req["name"].lstrip("\\")
        pipe = stype == "pipe"
        path = f"{tree}\\{name}" if tree else name
        disp = DISPOSITIONS.get(req.get("disposition"), req.get("disposition"))
        user = self._user(req["sid"])
        if status == 0 and resp.get("fid") is not None:
            h = Handle(path, name, tree, pipe, where, disp, req.get("options", 0), req.get("access", 0),
                       resp.get("eof"), user, self._proto(req))
            if len(self.handles) >= MAX_OPEN:
                old = next(iter(self.handles))
                self._closed(self.handles.pop(old), where, out, closed=False)
            self.handles[resp["fid"]] = h
            self.last_fid = resp["fid"]
        what = "named pipe" if pipe else "file"
        action = ACTIONS.get(resp.get("action")) if status == 0 else status_name(status)
        attrs = {"command": "create", "share": tree or None, "file_name": name, "named_pipe": pipe,
                 "disposition": disp, "status": status_name(status), "action": action,
                 "delete_on_close": bool(req.get("options", 0) & DELETE_ON_CLOSE),
                 "desired_access": f"0x{req.get('access', 0):08x}", "end_of_file": resp.get("eof")}
        if pipe:
            attrs["rpc_interface"] = dcerpc.PIPES.get(name.lower())
        ev = self._event(where, f"{self._proto(req)} open {what} {path} ({disp}): {action}", attrs, user=user)
        ev.host = _server(tree)
        ev.file_path = path
        out.append(ev)

    def _set_info(self, h: Handle, req, where, out) -> None:
        if req.get("delete"):
            h.deleted = True
            msg, attrs = f"{h.proto} delete {h.path} (delete on close)", {"command": "delete"}
        else:
            msg, attrs = f"{h.proto} rename {h.path} to {req['rename_to']}", {"command": "rename",
                                                                              "new_name": req["rename_to"]}
        ev = self._event(where, msg, {**attrs, "share": h.tree or None, "file_name": h.name,
                                      "named_pipe": h.pipe}, user=h.user)
        ev.host, ev.file_path = _server(h.tree), h.path
        out.append(ev)

    def _closed(self, h: Handle, where, out, closed: bool) -> None:
        (nw, bw), (nr, br) = h.count["write"], h.count["read"]
        data, kind = None, None
        for k in ("write", "read"):
            data = h.whole(k)
            if data is not None:
                kind = k
                break
        h.release(self.budget)
        sha = hashlib.sha256(data).hexdigest() if data is not None else None
        what = "named pipe" if h.pipe else "file"
        msg = (f"{h.proto} {'close' if closed else 'end of capture for'} {what} {h.path}: "
               f"{bw} bytes written in {nw} writes, {br} bytes read in {nr} reads")
        if sha:
            msg += f", carved {len(data)} bytes"
        ev = self._event(h.where if not closed else where, msg,
                         {"command": "close" if closed else "open_at_end", "share": h.tree or None,
                          "file_name": h.name, "named_pipe": h.pipe, "writes": nw, "bytes_written": bw,
                          "reads": nr, "bytes_read": br, "closed": closed, "carved": kind,
                          "carved_size": len(data) if data is not None else None,
                          "too_big_to_carve": h.too_big, "deleted": h.deleted}, user=h.user)
        ev.host = _server(h.tree)
        ev.file_path, ev.file_sha256 = h.path, sha
        ev.bytes_out, ev.bytes_in = bw, br
        out.append(ev)
        if data is not None:
            direction = "uploaded to" if kind == "write" else "downloaded from"
            out.append(CarvedFile(name=h.name.rsplit("\\", 1)[-1] or f"smb-file-{where[1]}.bin", data=data,
                                  locator=ev.locator, note=f"SMB file {direction} {h.path} ({ev.src_ip} -> {ev.dst_ip})"))
        if bw and not h.pipe and _admin(h.tree.rsplit("\\", 1)[-1]):
            self._admin_write(h, ev, sha, out)

    def _admin_write(self, h: Handle, ev, sha, out) -> None:
        client, server = ev.src_ip, ev.dst_ip
        writes = self.shared.setdefault("smb_admin_writes", {}).setdefault((client, server), [])
        if len(writes) < 256:
            writes.append({"path": h.path, "name": h.name, "sha256": sha, "locator": ev.locator})
        det = _detection(
            "smb_admin_share_write", ev.timestamp, ev.locator,
            f"Write to administrative share: {client} wrote {h.count['write'][1]} bytes to {h.path}"
            + (f" as {h.user}" if h.user else ""),
            ["T1021.002", "T1570"], ["lateral_movement", "admin_share"], "high", "NA",
            {"share": h.tree, "file_name": h.name, "bytes_written": h.count["write"][1], "file_sha256": sha,
             "event_locator": ev.locator}, f"{ev.locator}-{h.name}",
            src_ip=client, dst_ip=server, dst_port=ev.dst_port, proto="tcp", user=h.user,
            file_path=h.path, file_sha256=sha, host=_server(h.tree))
        out.append(det)

    def _rpc(self, h: Handle, opnum: int, stub: bytes, where, out) -> None:
        if h.name.lower() != "svcctl":
            return
        op = dcerpc.SVCCTL_OPS.get(opnum, f"opnum {opnum}")
        svc = dcerpc.create_service(opnum, stub)
        if svc is None and opnum not in dcerpc.START_OPS and opnum != 2:
            return
        detail = f" {svc['service_name']} -> {svc['binary_path']}" if svc else ""
        ev = self._event(where, f"{h.proto} svcctl {op} on {h.tree or '?'}{detail}",
                         {"command": "rpc", "pipe": h.name, "interface": "svcctl", "opnum": opnum,
                          "operation": op, **(svc or {})}, user=h.user)
        ev.host = _server(h.tree)
        out.append(ev)
        if svc is not None:
            self._service_created(h, ev, svc, out)

    def _service_created(self, h: Handle, ev, svc: dict, out) -> None:
        client, server = ev.src_ip, ev.dst_ip
        binary = svc["binary_path"]
        exe = binary.strip('"').rsplit("\\", 1)[-1].split(" ", 1)[0].lower()
        dropped = [w for w in self.shared.get("smb_admin_writes", {}).get((client, server), [])
                   if w["name"].rsplit("\\", 1)[-1].lower() == exe]
        psexec = bool(dropped)
        msg = (f"Remote service creation over SMB: {client} created service {svc['service_name']} on "
               f"{_server(h.tree) or server} running {binary}")
        if psexec:
            msg += f" (PsExec pattern: the binary was written to {dropped[-1]['path']} first)"
        attrs = {"service_name": svc["service_name"], "binary_path": binary, "start_type": svc["start_type"],
                 "psexec_pattern": psexec, "dropped_file": dropped[-1] if dropped else None,
                 "event_locator": ev.locator}
        det = _detection("smb_remote_service_creation", ev.timestamp, ev.locator, msg,
                         ["T1569.002", "T1021.002", "T1543.003"], ["lateral_movement", "execution", "service"],
                         "critical", "NA", attrs, f"{ev.locator}-{svc['service_name']}",
                         src_ip=client, dst_ip=server, dst_port=ev.dst_port, proto="tcp", user=h.user,
                         host=_server(h.tree), file_path=dropped[-1]["path"] if dropped else binary,
                         file_sha256=dropped[-1]["sha256"] if dropped else None)
        out.append(det)

    def close(self, out):
        for fid in list(self.handles):
            h = self.handles.pop(fid)
            self._closed(h, h.where, out, closed=False)
        self.pending.clear()
        self.buf = {True: bytearray(), False: bytearray()}


def _admin(share: str) -> bool:
    """ADMIN$, C$, D$...: hidden administrative shares (IPC$ is the pipe share, not a disk)."""
    s = share.upper()
    return s.endswith("$") and s != "IPC$" and s != "PRINT$"


def _server(path: str) -> str | None:
    if not path.startswith("\\\\"):
        return None
    return path[2:].split("\\", 1)[0] or None


def pick(flow, fwd, payload, carve_limit, shared):
    on_port = flow.bp in SMB_PORTS or flow.ap in SMB_PORTS
    if on_port or (len(payload) >= 8 and payload[0] == 0 and payload[4:8] in MAGICS):
        return SmbSession(flow, carve_limit, shared)
    return None
