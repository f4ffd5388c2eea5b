"""volatility3 rows -> events. One small mapper per plugin, keyed by the plugin's
dotted name; column names are volatility's own. Locators give the physical and
virtual address of the kernel object where volatility reports one
("phys=0x..;virt=0x.."), so the raw and the ELF form of one memory agree.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterator

from forensics.events import Event, to_us
from forensics.memory.volrunner import VolSession

Mapper = Callable[["RowContext", dict, int], Iterator[Event]]


class RowContext:
    """What mappers share: the session (address translation) and per-pid facts from earlier plugins."""

    def __init__(self, session: VolSession | None):
        self.session = session
        self.procs: dict[int, dict] = {}  # pid -> {name, start_us, locator, cmdline}
        self.kernel_layer: str | None = None
        self.cmdlines: dict[int, str] = {}  # pid -> argv, from psaux/cmdline, put on process events too

    def loc(self, virt: int | None, layer: str | None = None, extra: str = "") -> str:
        phys = self.session.translate(layer or self.kernel_layer, virt) if self.session and virt is not None else None
        parts = []
        if phys is not None:
            parts.append(f"phys=0x{phys:x}")
        if virt is not None:
            if (1 << 47) <= virt < (1 << 48):  # volatility drops the 0xffff of kernel pointers; put it back
                virt |= 0xFFFF << 48
            parts.append(f"virt=0x{virt:x}")
        if extra:
            parts.append(extra)
        return ";".join(parts) or "image"

    def owner_time(self, pid: int | None) -> tuple[int, str]:
        p = self.procs.get(pid or -1)
        if p and p.get("start_us"):
            return p["start_us"], "Process Creation Time (owner)"
        return 0, "Not a time"


def _us(v) -> int | None:
    return to_us(v) if isinstance(v, dt.datetime) else None


# ---- Linux -------------------------------------------------------------------------------------------------------

def linux_pslist(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid, virt = r.get("PID"), r.get("OFFSET (V)")
    start = _us(r.get("CREATION TIME"))
    loc = rc.loc(virt)
    rc.procs[pid] = {"name": r.get("COMM"), "start_us": start, "locator": loc, "ppid": r.get("PPID")}
    yield Event(timestamp=start or 0, timestamp_desc="Process Creation Time" if start else "Not a time",
                data_type="memory:process", locator=loc, process_pid=pid, process_name=r.get("COMM"),
                process_cmdline=rc.cmdlines.get(pid),
                message=f"Process {r.get('COMM')} (pid {pid}, ppid {r.get('PPID')}, uid {r.get('UID')}) running in memory",
                attributes={"ppid": r.get("PPID"), "tid": r.get("TID"), "uid": r.get("UID"), "gid": r.get("GID"),
                            "euid": r.get("EUID"), "plugin": "linux.pslist"}, tags=["memory"])


def linux_psaux(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid = r.get("PID")
    p = rc.procs.get(pid, {})
    p["cmdline"] = r.get("ARGS")
    ts, desc = rc.owner_time(pid)
    yield Event(timestamp=ts, timestamp_desc=desc.replace(" (owner)", ""), data_type="memory:cmdline",
                locator=p.get("locator") or f"pid={pid}", process_pid=pid, process_name=r.get("COMM"),
                process_cmdline=r.get("ARGS"), message=f"Command line of {r.get('COMM')} (pid {pid}): {r.get('ARGS')}",
                attributes={"ppid": r.get("PPID"), "plugin": "linux.psaux"}, tags=["memory"], discriminator="cmdline")


def linux_bash(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid = r.get("PID")
    ts = _us(r.get("CommandTime"))
    base = rc.procs.get(pid, {}).get("locator") or f"pid={pid}"
    yield Event(timestamp=ts or 0, timestamp_desc="Bash History Command Time" if ts else "Not a time",
                data_type="memory:bash", locator=f"{base};hist={i}", process_pid=pid, process_name=r.get("Process"),
                process_cmdline=r.get("Command"), message=f"bash (pid {pid}) history: {r.get('Command')}",
                attributes={"command": r.get("Command"), "plugin": "linux.bash"}, tags=["memory", "shell_history"])


def _port(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def linux_sockstat(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid = r.get("PID")
    ts, desc = rc.owner_time(pid)
    fam, proto = r.get("Family"), r.get("Proto")
    src, dst = r.get("Source Addr"), r.get("Destination Addr")
    sp, dp = _port(r.get("Source Port")), _port(r.get("Destination Port"))
    inet = fam in ("AF_INET", "AF_INET6")
    msg = (f"{r.get('Process Name')} (pid {pid}) fd {r.get('FD')}: {fam} {r.get('Type')} {proto or ''} "
           f"{src}:{sp if sp is not None else ''} -> {dst}:{dp if dp is not None else ''} {r.get('State') or ''}").replace("None", "-")
    yield Event(timestamp=ts, timestamp_desc=desc, data_type="memory:connection", locator=rc.loc(r.get("Sock Offset")),
                process_pid=pid, process_name=r.get("Process Name"),
                src_ip=src if inet else None, src_port=sp if inet else None,
                dst_ip=dst if inet else None, dst_port=dp if inet else None, proto=(proto or fam or "").lower() or None,
                file_path=src if fam == "AF_UNIX" else None, message=" ".join(msg.split()),
                attributes={"family": fam, "type": r.get("Type"), "state": r.get("State"), "fd": r.get("FD"),
                            "netns": r.get("NetNS"), "local": src, "remote": dst, "plugin": "linux.sockstat"},
                tags=["memory", "network"], discriminator=f"fd{r.get('FD')}:{pid}")


def linux_malfind(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid, start = r.get("PID"), r.get("Start")
    layer = rc.session.process_layer(pid) if rc.session else None
    ts, desc = rc.owner_time(pid)
    hexdump = r.get("Hexdump") or b""
    yield Event(timestamp=ts, timestamp_desc=desc, data_type="memory:injection", locator=rc.loc(start, layer, f"pid={pid}"),
                process_pid=pid, process_name=r.get("Process"), severity="high", attack=["T1055"], gbt_category="MPTRO",
                message=f"Suspicious {r.get('Protection')} memory region 0x{start:x}-0x{r.get('End'):x} in "
                        f"{r.get('Process')} (pid {pid}), {r.get('Path')}",
                attributes={"start": start, "end": r.get("End"), "protection": r.get("Protection"), "path": r.get("Path"),
                            "hexdump": hexdump.hex() if isinstance(hexdump, bytes) else None,
                            "ascii": bytes(c if 32 <= c < 127 else 46 for c in hexdump).decode() if isinstance(hexdump, bytes) else None,
                            "plugin": "linux.malware.malfind"}, tags=["memory", "injection"])


def linux_lsmod(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    yield Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:kmodule", locator=rc.loc(r.get("Offset")),
                message=f"Kernel module {r.get('Module Name')} loaded (code size {r.get('Code Size')})",
                attributes={"name": r.get("Module Name"), "code_size": r.get("Code Size"), "taints": r.get("Taints"),
                            "args": r.get("Load Arguments"), "plugin": "linux.lsmod"}, tags=["memory"])


# ---- Windows -----------------------------------------------------------------------------------------------------

def win_info(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    yield Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:banner", locator=f"info={i}",
                message=f"Windows kernel {r.get('Variable')}: {r.get('Value')}",
                attributes={"variable": r.get("Variable"), "value": r.get("Value"), "plugin": "windows.info"},
                tags=["memory"], discriminator=str(r.get("Variable")))


def win_pslist(rc: RowContext, r: dict, i: int, plugin: str = "windows.pslist") -> Iterator[Event]:
    pid, virt = r.get("PID"), r.get("Offset(V)")
    start = _us(r.get("CreateTime"))
    loc = rc.loc(virt) if plugin == "windows.pslist" else f"phys=0x{virt:x}" if virt is not None else f"pid={pid}"
    if plugin == "windows.pslist":
        rc.procs[pid] = {"name": r.get("ImageFileName"), "start_us": start, "locator": loc}
    yield Event(timestamp=start or 0, timestamp_desc="Process Creation Time" if start else "Not a time",
                data_type="memory:process", locator=loc, process_pid=pid, process_name=r.get("ImageFileName"),
                process_cmdline=rc.cmdlines.get(pid),
                message=f"Process {r.get('ImageFileName')} (pid {pid}, ppid {r.get('PPID')}) [{plugin}]",
                attributes={"ppid": r.get("PPID"), "threads": r.get("Threads"), "session": r.get("SessionId"),
                            "wow64": r.get("Wow64"), "exit_time": str(r.get("ExitTime") or ""), "plugin": plugin},
                tags=["memory"], discriminator=plugin)


def win_psscan(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    yield from win_pslist(rc, r, i, "windows.psscan")


def win_cmdline(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid = r.get("PID")
    ts, desc = rc.owner_time(pid)
    yield Event(timestamp=ts, timestamp_desc=desc.replace(" (owner)", ""), data_type="memory:cmdline",
                locator=rc.procs.get(pid, {}).get("locator") or f"pid={pid}", process_pid=pid,
                process_name=r.get("Process"), process_cmdline=r.get("Args"),
                message=f"Command line of {r.get('Process')} (pid {pid}): {r.get('Args')}",
                attributes={"plugin": "windows.cmdline"}, tags=["memory"], discriminator="cmdline")


def win_netscan(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    pid = r.get("PID")
    created = _us(r.get("Created"))
    ts, desc = (created, "Connection Creation Time") if created else rc.owner_time(pid)
    yield Event(timestamp=ts, timestamp_desc=desc, data_type="memory:connection",
                locator=f"phys=0x{r.get('Offset'):x}" if r.get("Offset") is not None else f"netscan={i}",
                process_pid=pid, process_name=r.get("Owner"), src_ip=r.get("LocalAddr"), src_port=_port(r.get("LocalPort")),
                dst_ip=r.get("ForeignAddr"), dst_port=_port(r.get("ForeignPort")), proto=(r.get("Proto") or "").lower() or None,
                message=f"{r.get('Owner')} (pid {pid}) {r.get('Proto')} {r.get('LocalAddr')}:{r.get('LocalPort')} -> "
                        f"{r.get('ForeignAddr')}:{r.get('ForeignPort')} {r.get('State') or ''}".strip(),
                attributes={"state": r.get("State"), "plugin": "windows.netscan"}, tags=["memory", "network"])


def win_svcscan(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    yield Event(timestamp=0, timestamp_desc="Not a time", data_type="memory:service",
                locator=f"phys=0x{r.get('Offset'):x}" if r.get("Offset") is not None else f"svc={i}",
                process_pid=r.get("PID"), file_path=r.get("Binary"),
                message=f"Service {r.get('Name')} ({r.get('Display')}) {r.get('State')} {r.get('Start')}: {r.get('Binary')}",
                attributes={k.lower(): r.get(k) for k in ("Name", "Display", "Type", "State", "Start", "Binary", "Order")}
                | {"plugin": "windows.svcscan"}, tags=["memory"])


def win_malfind(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    r = dict(r, Start=r.get("Start VPN"), End=r.get("End VPN"), Path=r.get("Tag") or "VAD")
    for ev in linux_malfind(rc, r, i):
        ev.attributes["plugin"] = "windows.malware.malfind"
        yield ev


_SYSTEM_DIRS = ("\\windows\\system32\\", "\\windows\\syswow64\\", "\\windows\\winsxs\\", "\\program files")


def win_dlllist(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    path = (r.get("Path") or "")
    if not path or any(d in path.lower() for d in _SYSTEM_DIRS):
        return  # only unusual load paths are worth an event
    pid = r.get("PID")
    ts = _us(r.get("LoadTime"))
    yield Event(timestamp=ts or 0, timestamp_desc="DLL Load Time" if ts else "Not a time", data_type="memory:module",
                locator=rc.loc(r.get("Base"), rc.session.process_layer(pid) if rc.session else None, f"pid={pid}"),
                process_pid=pid, process_name=r.get("Process"), file_path=path, severity="medium",
                message=f"{r.get('Process')} (pid {pid}) loaded {r.get('Name')} from an unusual path {path}",
                attributes={"base": r.get("Base"), "size": r.get("Size"), "plugin": "windows.dlllist"}, tags=["memory"])


def win_handles(rc: RowContext, r: dict, i: int) -> Iterator[Event]:
    if r.get("Type") != "Mutant" or not r.get("Name"):
        return
    pid = r.get("PID")
    ts, desc = rc.owner_time(pid)
    yield Event(timestamp=ts, timestamp_desc=desc, data_type="memory:mutex",
                locator=f"virt=0x{r.get('Offset'):x};pid={pid}" if r.get("Offset") is not None else f"handle={i}",
                process_pid=pid, process_name=r.get("Process"), message=f"{r.get('Process')} (pid {pid}) holds mutex {r.get('Name')}",
                attributes={"name": r.get("Name"), "handle": r.get("HandleValue"), "plugin": "windows.handles"}, tags=["memory"])


MAPPERS: dict[str, Mapper] = {
    "linux.pslist.PsList": linux_pslist, "linux.psaux.PsAux": linux_psaux, "linux.bash.Bash": linux_bash,
    "linux.sockstat.Sockstat": linux_sockstat, "linux.malware.malfind.Malfind": linux_malfind,
    "linux.lsmod.Lsmod": linux_lsmod,
    "windows.info.Info": win_info, "windows.pslist.PsList": win_pslist, "windows.psscan.PsScan": win_psscan,
    "windows.cmdline.CmdLine": win_cmdline, "windows.netscan.NetScan": win_netscan,
    "windows.svcscan.SvcScan": win_svcscan, "windows.malware.malfind.Malfind": win_malfind,
    "windows.dlllist.DllList": win_dlllist, "windows.handles.Handles": win_handles,
}
