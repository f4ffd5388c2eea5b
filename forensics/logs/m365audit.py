"""Microsoft 365 unified audit log exports (CSV: CreationDate, UserIds, Operations, AuditData).

The row's AuditData is the JSON record itself: ClientIP, Operation, Workload,
ResultStatus and operation-specific fields. What an analyst reads in it for a
business e-mail compromise: sign-ins (from where), mailbox access, inbox rules
that hide payment mail, mail sent from the account.
"""
from __future__ import annotations

import json
import re
from typing import Any

from forensics.events import Event
from forensics.logs.common import clean_ip

COLUMNS = {"creationdate", "userids", "operations", "auditdata"}
_LOGIN_OK = {"userloggedin", "mailboxlogin"}
_LOGIN_FAIL = {"userloginfailed"}
_RULES = {"new-inboxrule", "set-inboxrule", "updateinboxrules", "set-mailbox"}
# inbox rules BEC actors use: hide replies about payments (Microsoft's "suspicious inbox manipulation rule")
_HIDING_FOLDERS = re.compile(r"(?i)^(rss( feeds| subscriptions)?|archive|conversation history|deleted items|junk e-?mail)$")
_PAYMENT_WORDS = re.compile(r"(?i)(payment|invoice|bank|wire|transfer|remittance|付款|汇款|发票|银行|账户)")


def is_m365(header: list[str]) -> bool:
    return COLUMNS <= {h.strip().lower() for h in header}


def _params(audit: dict) -> dict[str, str]:
    out = {}
    for p in audit.get("Parameters") or []:
        if isinstance(p, dict) and "Name" in p:
            out[str(p["Name"])] = str(p.get("Value", ""))
    return out


def event(row: dict[str, Any], ts: int, locator: str) -> Event | str:
    """One event for one audit row, or the reason it cannot be read."""
    lower = {k.strip().lower(): v for k, v in row.items()}
    try:
        audit = json.loads(lower.get("auditdata") or "{}")
    except ValueError as e:
        return f"AuditData is not JSON: {e}"
    if not isinstance(audit, dict):
        return "AuditData is not a JSON object"
    op = str(audit.get("Operation") or lower.get("operations") or "")
    user = str(audit.get("UserId") or lower.get("userids") or "") or None
    ip = clean_ip(str(audit.get("ClientIP") or audit.get("ClientIPAddress") or "")) or None
    workload = str(audit.get("Workload") or "")
    status = str(audit.get("ResultStatus") or "")
    ev = Event(timestamp=ts, data_type="m365:audit", message="", locator=locator, user=user, src_ip=ip,
               attributes=dict(audit))  # a cloud mailbox is an account, not an insured host
    ev.attributes["workload"] = workload
    key = op.lower()
    where = f" from {ip}" + (f" ({audit['Country']})" if audit.get("Country") else "") if ip else ""
    if key in _LOGIN_OK or (key in _LOGIN_FAIL):
        failed = key in _LOGIN_FAIL or status.lower() in ("failed", "failure")
        ev.tags = ["authentication", "login_failed" if failed else "login"]
        ev.attack = ["T1078.004"] if not failed else ["T1110"]
        ev.message = f"M365 sign-in {'failed' if failed else 'succeeded'} for {user}{where}" + (
            f" with {audit['UserAgent']}" if audit.get("UserAgent") else "")
    elif key in _RULES:
        p = _params(audit)
        folder = p.get("MoveToFolder") or ""
        words = p.get("SubjectOrBodyContainsWords") or p.get("SubjectContainsWords") or p.get("BodyContainsWords") or ""
        ev.tags = ["inbox_rule"]
        ev.attack = ["T1564.008"]
        hides = bool(_HIDING_FOLDERS.match(folder.strip())) or p.get("DeleteMessage", "").lower() == "true"
        if hides and _PAYMENT_WORDS.search(words):
            ev.severity, ev.tags = "high", ev.tags + ["bec"]
        ev.message = (f"M365 {op} by {user}{where}: rule {p.get('Name', '')!r} moves mail containing {words!r} "
                      f"to {folder!r}" if folder else f"M365 {op} by {user}{where}: {json.dumps(p, ensure_ascii=False)[:300]}")
    elif key == "mailitemsaccessed":
        ev.tags = ["email", "collection"]
        ev.attack = ["T1114.002"]
        ev.message = f"M365 mailbox items accessed by {user}{where}: {audit.get('ItemCount', '?')} items in {audit.get('FolderPath', '?')}"
    elif key in ("send", "sendas", "sendonbehalf"):
        ev.tags = ["email"]
        ev.message = f"M365 mail sent by {user}{where} to {audit.get('Recipients', '?')}, subject: {audit.get('Subject', '')}"
    else:
        ev.message = f"M365 {op} by {user}{where}" + (f" ({workload})" if workload else "")
    return ev
