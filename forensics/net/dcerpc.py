"""DCE/RPC requests on SMB named pipes, enough to see remote service creation.

PsExec, Impacket's psexec/smbexec and most lateral-movement tools open the
`svcctl` pipe and call the Service Control Manager's RCreateService* to run a
binary: the service name and its binary path are in clear NDR strings. Other
pipes are only named (their purpose is known from the name).
"""
from __future__ import annotations

import struct

MAX_PDU_BUFFER = 1 << 16  # a request larger than this is not a service-creation call

PIPES = {  # pipe name -> the RPC interface analysts know it by
    "svcctl": "Service Control Manager (MS-SCMR)", "samr": "Security Account Manager (MS-SAMR)",
    "lsarpc": "Local Security Authority (MS-LSAD)", "netlogon": "Netlogon (MS-NRPC)",
    "srvsvc": "Server Service (MS-SRVS)", "wkssvc": "Workstation Service (MS-WKST)",
    "winreg": "Remote Registry (MS-RRP)", "atsvc": "Task Scheduler (MS-TSCH)",
    "eventlog": "EventLog (MS-EVEN)", "spoolss": "Print Spooler (MS-RPRN)", "drsuapi": "Directory Replication (MS-DRSR)",
    "epmapper": "Endpoint Mapper", "efsrpc": "Encrypting File System (MS-EFSR)", "ntsvcs": "Plug and Play (MS-PNPR)",
}

SVCCTL_OPS = {0: "CloseServiceHandle", 1: "ControlService", 2: "DeleteService", 11: "ChangeServiceConfigW",
              12: "CreateServiceW", 15: "OpenSCManagerW", 16: "OpenServiceW", 19: "StartServiceW",
              23: "ChangeServiceConfigA", 24: "CreateServiceA", 27: "OpenSCManagerA", 28: "OpenServiceA",
              31: "StartServiceA", 44: "CreateServiceWOW64A", 45: "CreateServiceWOW64W", 60: "CreateWowService"}
CREATE_OPS = {12: 2, 45: 2, 60: 2, 24: 1, 44: 1}  # opnum -> character width of its strings
START_OPS = {19, 31}
START_TYPES = {0: "boot", 1: "system", 2: "auto", 3: "demand", 4: "disabled"}


class Pipe:
    """One pipe handle's client-to-server byte stream, cut into DCE/RPC request PDUs."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.stub = bytearray()  # stub of a multi-fragment request being collected
        self.dead = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Returns the (opnum, stub) of each complete request in `data`."""
        if self.dead:
            return []
        self.buf += data
        out: list[tuple[int, bytes]] = []
        while len(self.buf) >= 16:
            b = self.buf
            if b[0] != 5 or b[1] != 0 or not b[4] & 0x10:  # v5.0, little-endian data only
                self.dead = True
                return out
            frag = struct.unpack_from("<H", b, 8)[0]
            if frag < 16 or frag > MAX_PDU_BUFFER:
                self.dead = True
                return out
            if len(b) < frag:
                return out
            pdu = bytes(b[:frag])
            del b[:frag]
            if pdu[2] != 0 or frag < 24:  # only requests carry an opnum
                continue
            flags, auth_len = pdu[3], struct.unpack_from("<H", pdu, 10)[0]
            opnum = struct.unpack_from("<H", pdu, 22)[0]
            start = 40 if flags & 0x80 else 24  # object UUID present
            end = frag - (auth_len + 8 if auth_len else 0)
            if flags & 0x01:
                self.stub = bytearray()
            self.stub += pdu[start:max(start, end)]
            if len(self.stub) > MAX_PDU_BUFFER:
                self.dead = True
                return out
            if flags & 0x02:
                out.append((opnum, bytes(self.stub)))
                self.stub = bytearray()
        return out


def _string(b: bytes, p: int, width: int) -> tuple[str, int]:
    """An NDR conformant varying string at `p` (aligned to 4): max, offset, count, chars."""
    p = (p + 3) & ~3
    _max, _off, count = struct.unpack_from("<III", b, p)
    p += 12
    raw = b[p:p + count * width]
    if len(raw) != count * width:
        raise ValueError("string runs past the stub")
    text = raw.decode("utf-16-le" if width == 2 else "latin-1", "replace").rstrip("\x00")
    return text, p + count * width


def create_service(opnum: int, stub: bytes) -> dict | None:
    """Service name, display name, start type and binary path of an RCreateService* call."""
    width = CREATE_OPS.get(opnum)
    if width is None:
        return None
    try:
        p = 20  # SC_RPC_HANDLE of the SCM
        name, p = _string(stub, p, width)
        p = (p + 3) & ~3
        display = None
        if struct.unpack_from("<I", stub, p)[0]:  # unique pointer to the display name
            display, p = _string(stub, p + 4, width)
        else:
            p += 4
        p = (p + 3) & ~3
        access, stype, start, _err = struct.unpack_from("<IIII", stub, p)
        binary, p = _string(stub, p + 16, width)
    except (struct.error, ValueError):
        return None
    return {"service_name": name, "display_name": display, "binary_path": binary,
            "service_type": stype, "start_type": START_TYPES.get(start, start), "desired_access": access}
