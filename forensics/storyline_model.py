"""The incident storyline: the facts adjusters need, each with citations.

Produced by forensics (the storyline builder) from the event store, read by
adjusters and reports. `cyberclaim storyline CASE --json` prints
`Storyline.model_dump(mode="json")`. Times are ISO 8601 UTC strings.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Fact(BaseModel):
    name: str
    value: Any = None
    confidence: float = Field(ge=0.0, le=1.0, default=0.0)
    cited_event_ids: list[str] = Field(default_factory=list)
    note: str = ""


class Outage(BaseModel):
    service: str
    host: str | None = None
    start: str
    end: str | None = None  # None: not restored within the evidence
    duration_hours: float | None = None
    basis: str = ""  # traffic gap | service stop | failed health checks | operator error
    confidence: float = 0.0
    cited_event_ids: list[str] = Field(default_factory=list)


class Exfiltration(BaseModel):
    destination: str  # IP or domain
    bytes: int
    source_hosts: list[str] = Field(default_factory=list)
    source_systems: list[str] = Field(default_factory=list)  # data-inventory system names
    records_by_type: dict[str, int] = Field(default_factory=dict)
    first_seen: str | None = None
    last_seen: str | None = None
    cited_event_ids: list[str] = Field(default_factory=list)


class Storyline(BaseModel):
    case_id: str
    t0: Fact | None = None  # first malicious (or, for an error, first faulty) activity
    initial_access: Fact | None = None  # vector, e.g. "phishing", "exposed RDP", "web exploit", "operator error"
    discovery: Fact | None = None
    containment: Fact | None = None
    compromised_hosts: Fact | None = None  # value: list[str]
    lateral_movement: Fact | None = None  # value: list of [from_host, to_host, time]
    privilege_escalation: Fact | None = None
    persistence: Fact | None = None
    impact: list[Fact] = Field(default_factory=list)  # encryption, wiping, service stop, data tampering
    outages: list[Outage] = Field(default_factory=list)
    exfiltration: list[Exfiltration] = Field(default_factory=list)
    exfiltrated_bytes: int = 0
    records_affected: dict[str, int] = Field(default_factory=dict)
    attacker_infrastructure: Fact | None = None  # value: list of IPs/domains
    malicious: Fact | None = None  # value: bool — attack (True) or non-malicious failure (False)
    operator_error: Fact | None = None  # value: bool, 内部人员操作不当
    extortion: Fact | None = None  # value: {"demand": amount, "currency": ..., "payment_method": "bitcoin", "wallet": ...}
    social_engineering: Fact | None = None  # value: {"fraudulent_transfers": [...]} (BEC)
    attribution: Fact | None = None  # value: {"state_actor": bool, "actor": ..., "basis": ...}
    dependent_provider: Fact | None = None  # value: provider name when the outage is at a supplier
    gbt_category: Fact | None = None  # value: e.g. "MPRANS"
    attack_tactics: Fact | None = None  # value: list of ATT&CK tactic names / technique ids
    facts: list[Fact] = Field(default_factory=list)  # anything else worth citing
