"""W3C extended log files (IIS, and the header that Windows Firewall shares).

The `#Fields:` directive names the columns of the rows that follow; a file may
restart the header (IIS does on every service restart). IIS writes UTC.
"""
from __future__ import annotations

from urllib.parse import unquote_plus

from forensics.events import Event
from forensics.logs.common import FileState, Where, clean_ip, peer, to_int
from forensics.logs.timeparse import utc_us


def directive(line: str, state: FileState) -> None:
    """Update the header in force from a '#Name: value' line."""
    name, _, value = line[1:].partition(":")
    name, value = name.strip().lower(), value.strip()
    if name == "fields":
        state.w3c_fields = value.split()
    elif name == "software":
        state.w3c_software = value
    elif name == "time format":
        state.w3c_local_time = value.lower().startswith("local")


def split_row(line: str, state: FileState) -> dict[str, str] | None:
    fields = state.w3c_fields or []
    values = line.split(" ")
    if len(values) != len(fields):
        values = line.split()
        if len(values) != len(fields):
            return None
    return {f.lower(): v for f, v in zip(fields, values) if v != "-"}


def row_time(row: dict[str, str], state: FileState) -> int | None:
    d, t = row.get("date"), row.get("time")
    if not d or not t:
        return None
    try:
        y, mo, dd = int(d[0:4]), int(d[5:7]), int(d[8:10])
        h, mi, s = int(t[0:2]), int(t[3:5]), int(t[6:8])
        us = int((t[9:] + "000000")[:6]) if len(t) > 9 else 0
        return state.clock.local(y, mo, dd, h, mi, s, us) if state.w3c_local_time else utc_us(y, mo, dd, h, mi, s, us)
    except ValueError:
        return None


def parse(line: str, where: Where, state: FileState) -> Event | None:
    row = split_row(line, state)
    if row is None:
        return None
    ts = row_time(row, state)
    if ts is None:
        return None
    stem, query = row.get("cs-uri-stem", ""), row.get("cs-uri-query")
    url = stem + ("?" + query if query else "")
    ua = row.get("cs(user-agent)")
    ua = ua.replace("+", " ") if ua else None
    status = to_int(row.get("sc-status"))
    method = row.get("cs-method")
    src_ip, src_name = peer(row.get("c-ip"))
    attrs = {"method": method, "status": status, "substatus": to_int(row.get("sc-substatus")),
             "win32_status": to_int(row.get("sc-win32-status")), "user_agent": ua,
             "referer": row.get("cs(referer)"), "time_taken_ms": to_int(row.get("time-taken")),
             "site": row.get("s-sitename"), "server_name": row.get("s-computername"),
             "decoded_url": unquote_plus(url) if "%" in url or "+" in url else None,
             "time_text": f"{row.get('date')} {row.get('time')}", "software": state.w3c_software or None}
    return Event(
        timestamp=ts, data_type="web:iis", locator=where.locator, timestamp_desc="Request Time",
        message=f"{row.get('c-ip', '?')} {method} {url} -> {status}",
        src_ip=src_ip, domain=row.get("cs-host") or src_name, dst_ip=clean_ip(row.get("s-ip")),
        dst_port=to_int(row.get("s-port")), user=row.get("cs-username"), url=url or None, proto="http",
        bytes_out=to_int(row.get("sc-bytes")), bytes_in=to_int(row.get("cs-bytes")),
        tags=["web_request"], attributes={k: v for k, v in attrs.items() if v is not None},
    )
