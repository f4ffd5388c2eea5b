"""ReportData: everything a loss adjustment report states, assembled without I/O.

`build_report_data` takes what `issue.py` gathered (case, evidence with custody
summaries, storyline, the cited events, adjustment result, policy, revenue
history, versions) and returns a language-independent, JSON-able record. Every
renderer (HTML/PDF, DOCX, XLSX, JSON) works from this one record, so the formats
never disagree. Missing inputs are listed in `missing`, never papered over with
figures.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from forensics.events import canonical_json

SCHEMA_VERSION = 1
CHART_MARGIN_HOURS = 48  # revenue shown either side of the outage


@dataclass
class ReportData:
    schema: int
    case: dict
    summary: dict
    background: list[dict]
    outages: list[dict]
    exfiltration: list[dict]
    chronology: list[dict]
    coverage: list[dict]
    losses: list[dict]
    totals: dict | None
    policy_terms: dict | None
    exhibits: list[dict]
    custody_chain: dict
    revenue_chart: dict | None
    versions: dict
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def canonical(self) -> str:
        """Canonical JSON: the bytes two issues of the same case state share."""
        return canonical_json(_plain(self.to_dict()))


def _plain(o: Any) -> Any:
    """JSON-safe copy: floats rounded (6 places) so float noise never changes the bytes, numpy scalars
    and enums unwrapped, NaN/inf as null."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        if f != f or f in (float("inf"), float("-inf")):
            return None
        return round(f, 6)
    if isinstance(o, Enum):
        return o.value
    return o


def parse_iso(s: str | None) -> pd.Timestamp | None:
    if not s:
        return None
    t = pd.Timestamp(s)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


# ---------------------------------------------------------------------------
# pieces


def _exhibits(evidence: list[dict]) -> tuple[list[dict], dict[str, str]]:
    rows, by_sha = [], {}
    for i, ev in enumerate(evidence, start=1):
        no = f"E{i}"
        by_sha[ev["sha256"]] = no
        rows.append({
            "no": no,
            "name": ev.get("original_name"),
            "sha256": ev["sha256"],
            "size": ev.get("size"),
            "type": ev.get("evidence_type"),
            "source": ev.get("source"),
            "acquired_by": ev.get("acquired_by"),
            "added_at": ev.get("added_at"),
            "added_by": ev.get("added_by"),
            "parent_sha256": ev.get("parent_sha256"),
            "derivation": ev.get("derivation"),
            "clock_offset_s": ev.get("clock_offset_s"),
            "timezone": ev.get("timezone"),
            "custody": ev.get("custody") or {},
        })
    for r in rows:  # derived items name their parent exhibit, which a lawyer can follow
        r["parent_exhibit"] = by_sha.get(r["parent_sha256"]) if r["parent_sha256"] else None
    return rows, by_sha


def _fact_value(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) or v is None else json.loads(canonical_json(v))


FACT_ORDER = ("t0", "initial_access", "discovery", "containment", "compromised_hosts", "lateral_movement",
              "privilege_escalation", "persistence", "attacker_infrastructure", "malicious", "operator_error",
              "extortion", "social_engineering", "attribution", "dependent_provider", "gbt_category", "attack_tactics")


def _background(storyline) -> list[dict]:
    out = []
    if storyline is None:
        return out
    for name in FACT_ORDER:
        f = getattr(storyline, name, None)
        if f is not None:
            out.append({"name": name, "value": _fact_value(f.value), "confidence": f.confidence,
                        "cited_event_ids": list(f.cited_event_ids), "note": f.note})
    for kind, facts in (("impact", storyline.impact), ("fact", storyline.facts)):
        for f in facts:
            out.append({"name": f"{kind}:{f.name}" if kind == "impact" else f.name, "value": _fact_value(f.value),
                        "confidence": f.confidence, "cited_event_ids": list(f.cited_event_ids), "note": f.note})
    return out


def _citing_facts(storyline) -> dict[str, list[str]]:
    """event id -> names of the storyline facts that cite it (the chronology's "why it matters")."""
    out: dict[str, list[str]] = {}
    if storyline is None:
        return out
    for b in _background(storyline):
        for eid in b["cited_event_ids"]:
            out.setdefault(eid, []).append(b["name"])
    for o in storyline.outages:
        for eid in o.cited_event_ids:
            out.setdefault(eid, []).append(f"outage:{o.service}")
    for x in storyline.exfiltration:
        for eid in x.cited_event_ids:
            out.setdefault(eid, []).append(f"exfiltration:{x.destination}")
    return out


def _chronology(events: list[dict], storyline, exhibit_by_sha: dict[str, str], tz) -> list[dict]:
    citing = _citing_facts(storyline)
    rows = []
    # timestamp 0 is how ingestors mark a finding with no time of its own (e.g. a YARA hit in a memory
    # image): such lines go last, undated, rather than appearing to happen on 1970-01-01
    for e in sorted(events, key=lambda e: (int(e["timestamp"] or 0) == 0, int(e["timestamp"] or 0), e["event_id"])):
        ts = int(e["timestamp"] or 0)
        utc = pd.Timestamp(ts, unit="us", tz="UTC")
        rows.append({
            "event_id": e["event_id"],
            "timestamp_us": ts,
            "utc": utc.strftime("%Y-%m-%d %H:%M:%S") if ts else None,
            "local": utc.tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %z") if (tz and ts) else None,
            "message": e.get("message") or "",
            "host": e.get("host"),
            "data_type": e.get("data_type"),
            "evidence_sha256": e.get("evidence_sha256"),
            "exhibit": exhibit_by_sha.get(e.get("evidence_sha256") or ""),
            "locator": e.get("locator"),
            "parser": e.get("parser"),
            "facts": sorted(set(citing.get(e["event_id"], []))),
        })
    return rows


def _exhibits_for(event_ids, events_by_id: dict[str, dict], exhibit_by_sha: dict[str, str]) -> list[str]:
    nos = {exhibit_by_sha.get(events_by_id[i].get("evidence_sha256") or "") for i in event_ids if i in events_by_id}
    nos.discard(None)
    return sorted(nos, key=lambda n: int(n[1:]))


def _section_terms(policy, head: str) -> dict:
    s = policy.section(head) if policy is not None else None
    if s is None:
        return {}
    return {
        "limit": s.limit,
        "sublimit": s.sublimit,
        "retention": s.retention.amount if s.retention is not None else None,
        "retention_hours": s.retention.hours if s.retention is not None else None,
        "retention_group": s.retention_group,
        "coinsurance": s.coinsurance,
        "waiting_period": ({"hours": s.waiting_period.hours, "mode": s.waiting_period.mode.value}
                           if s.waiting_period is not None else None),
        "period_of_restoration_hours": s.period_of_restoration_hours,
        "bi_basis": s.bi_basis.value if s.bi_basis is not None else None,
    }


def _policy_block(policy) -> dict | None:
    if policy is None:
        return None
    return {
        "aggregate_limit": policy.aggregate_limit,
        "application_order": [str(getattr(s, "value", s)) for s in policy.application_order],
        "hardware_improvement_covered": policy.hardware_improvement_covered,
        "exclusions": [{"code": e.code.value, "wording": e.wording} for e in policy.exclusions],
        "sections": [{"name": s.name.value, **_section_terms(policy, s.name.value),
                      "triggers": [t.value for t in s.triggers], "conditions": list(s.conditions)}
                     for s in policy.sections],
    }


def _retentions(policy) -> list[dict]:
    """One line per retention: a group's shared retention is stated once, with its sections."""
    if policy is None:
        return []
    out: list[dict] = []
    groups: dict[str, dict] = {}
    for s in policy.sections:
        if s.retention is None:
            continue
        amount, hours = s.retention.amount, s.retention.hours
        if s.retention_group:
            g = groups.get(s.retention_group)
            if g is None:
                g = groups[s.retention_group] = {"group": s.retention_group, "sections": [], "amount": amount, "hours": hours}
                out.append(g)
            g["sections"].append(s.name.value)
            if g["amount"] is None:
                g["amount"] = amount
        else:
            out.append({"group": None, "sections": [s.name.value], "amount": amount, "hours": hours})
    for s in policy.sections:  # a BI waiting period is a time retention too
        if s.waiting_period is not None:
            out.append({"group": None, "sections": [s.name.value], "amount": None,
                        "hours": s.waiting_period.hours, "mode": s.waiting_period.mode.value})
    return out


def _main_outage(storyline, revenue_service: str | None = None):
    """The outage of the revenue-earning service (as the financials name it), else the longest."""
    if storyline is None or not storyline.outages:
        return None
    if revenue_service:
        named = [o for o in storyline.outages if o.service == revenue_service]
        if named:
            return sorted(named, key=lambda o: o.start)[0]

    def length(o):
        s, e = parse_iso(o.start), parse_iso(o.end)
        return (e - s).total_seconds() if (s is not None and e is not None) else float("inf")
    return sorted(storyline.outages, key=lambda o: (-length(o), o.start, o.service))[0]


def revenue_window(revenue: pd.DataFrame | None, outage, policy) -> dict | None:
    """Actual hourly revenue and the standard turnover around the outage, with the outage and the
    waiting period to shade. The standard turnover is the adjusters' own (adjusters.baseline), so
    the chart shows exactly the baseline the loss rests on."""
    from adjusters.baseline import standard_turnover
    from adjusters.heads import Head

    if revenue is None or outage is None or len(revenue) == 0:
        return None
    t = pd.to_datetime(revenue["timestamp"], utc=True, format="ISO8601")
    s = pd.Series(pd.to_numeric(revenue["revenue"], errors="coerce").to_numpy(dtype=float), index=t).sort_index()
    s = s[~s.index.duplicated(keep="last")]
    full = s.resample("h").sum(min_count=1)  # regular hourly grid; hour index i ↔ i-th hour
    start = parse_iso(outage.start)
    end = parse_iso(outage.end) if outage.end else full.index.max() + pd.Timedelta(hours=1)
    if start is None or end is None:
        return None
    start_f, end_c = start.floor("h"), end.ceil("h")
    margin = pd.Timedelta(hours=CHART_MARGIN_HOURS)
    win = np.flatnonzero((full.index >= start_f - margin) & (full.index < end_c + margin))
    if len(win) == 0:
        return None
    baseline, _ = standard_turnover(full.to_numpy(dtype=float), win)
    wp = None
    sec = policy.section(Head.business_interruption) if policy is not None else None
    if sec is not None and sec.waiting_period is not None:
        wp = {"start": start_f.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "end": (start_f + pd.Timedelta(hours=sec.waiting_period.hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "hours": sec.waiting_period.hours, "mode": sec.waiting_period.mode.value}

    def nums(values):
        return [None if v != v else round(float(v), 2) for v in values]

    return {
        "service": outage.service,
        "freq": "h",
        "times": [i.strftime("%Y-%m-%dT%H:%M:%SZ") for i in full.index[win]],
        "actual": nums(full.to_numpy(dtype=float)[win]),
        "baseline": nums(baseline),
        "outage": {"start": start_f.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": end_c.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "waiting_period": wp,
    }


def _summary(case, policy, storyline, adjustment, evidence_rows) -> dict:
    s: dict[str, Any] = {"insured": (policy.insured if policy is not None else None) or case.get("insured")}
    if policy is not None:
        s.update({
            "insurer": policy.insurer, "policy_number": policy.policy_number, "line": policy.line or policy.product_type,
            "product_type": policy.product_type, "jurisdiction": policy.jurisdiction.value, "currency": policy.currency,
            "timezone": policy.timezone, "period_start": policy.period.start.isoformat(),
            "period_end": policy.period.end.isoformat(), "retroactive_date": policy.retroactive_date.isoformat(),
            "trigger_basis": policy.trigger_basis.value, "aggregate_limit": policy.aggregate_limit,
        })
    s["retentions"] = _retentions(policy)
    place: list[str] = []
    cause: dict[str, Any] = {}
    if storyline is not None:
        hosts = storyline.compromised_hosts.value if storyline.compromised_hosts is not None else None
        if isinstance(hosts, list):
            place += [str(h) for h in hosts]
        place += [o.host or o.service for o in storyline.outages if (o.host or o.service) not in place]
        for k in ("initial_access", "gbt_category", "malicious", "operator_error", "dependent_provider"):
            f = getattr(storyline, k)
            if f is not None:
                cause[k] = _fact_value(f.value)
        cause["impact"] = [f.name for f in storyline.impact]
        if storyline.extortion is not None:
            cause["extortion"] = True
        if storyline.exfiltration:
            cause["exfiltration_bytes"] = storyline.exfiltrated_bytes or sum(x.bytes for x in storyline.exfiltration)
    s["place_of_loss"] = place
    s["cause"] = cause
    s["liability"] = [{"section": c["section"], "decision": c["decision"]} for c in (adjustment or {}).get("coverage", [])]
    s["totals"] = (adjustment or {}).get("totals")
    s["evidence_items"] = len(evidence_rows)
    return s


# ---------------------------------------------------------------------------


def build_report_data(
    case: dict,
    evidence: list[dict],
    custody_chain: dict,
    storyline=None,
    events: list[dict] | None = None,
    adjustment: dict | None = None,
    policy=None,
    revenue: pd.DataFrame | None = None,
    versions: dict | None = None,
    missing: list[str] | None = None,
    problems: list[str] | None = None,
    revenue_service: str | None = None,
    financials=None,
) -> ReportData:
    """Assemble the report. `evidence` items are dicts of the Evidence columns plus `custody` (a summary);
    `events` are the storyline's and adjustment's cited events as dicts of the event columns.
    `financials` (adjusters.financials.Financials) supplies the revenue history and the revenue-earning
    service when `revenue` is not given separately."""
    if financials is not None:
        if revenue is None and len(financials.revenue):
            revenue = pd.DataFrame({"timestamp": pd.to_datetime(financials.revenue_ts, unit="us", utc=True),
                                    "revenue": financials.revenue})
        if revenue_service is None and financials.profile is not None:
            revenue_service = financials.profile.revenue_service
    missing = list(missing or [])
    if not evidence and "evidence" not in missing:
        missing.append("evidence")
    if policy is None and "policy" not in missing:
        missing.append("policy")
    if adjustment is None and "adjustment" not in missing:
        missing.append("adjustment")
    order = ["evidence", "policy", "financials", "storyline", "adjustment"]
    missing = sorted(set(missing), key=lambda m: (order.index(m) if m in order else 99, m))

    exhibits, exhibit_by_sha = _exhibits(evidence)
    events = events or []
    events_by_id = {e["event_id"]: e for e in events}
    tz = policy.timezone if policy is not None else "UTC"

    coverage = []
    for c in (adjustment or {}).get("coverage", []):
        coverage.append({
            "section": c["section"], "decision": c["decision"], "reasons": list(c.get("reasons") or []),
            "cited_event_ids": list(c.get("cited_event_ids") or []),
            "cited_exhibits": _exhibits_for(c.get("cited_event_ids") or [], events_by_id, exhibit_by_sha),
            "cited_documents": list(c.get("cited_documents") or []),
        })
    decisions = {c["section"]: c["decision"] for c in coverage}
    losses = []
    for lo in (adjustment or {}).get("losses", []):
        losses.append({
            "head": lo["head"],
            "currency": lo.get("currency") or (policy.currency if policy is not None else None),
            "claimed": lo.get("claimed"), "adjusted": lo.get("adjusted"), "payable": lo.get("payable"),
            "formula": lo.get("formula") or "", "inputs": _plain(lo.get("inputs") or {}),
            "p10": lo.get("p10"), "p50": lo.get("p50"), "p90": lo.get("p90"),
            "decision": decisions.get(lo["head"]),
            "terms": _section_terms(policy, lo["head"]),
            "cited_event_ids": list(lo.get("cited_event_ids") or []),
            "cited_exhibits": _exhibits_for(lo.get("cited_event_ids") or [], events_by_id, exhibit_by_sha),
            "cited_documents": list(lo.get("cited_documents") or []),
            "notes": list(lo.get("notes") or []),
        })

    outages = []
    if storyline is not None:
        for o in storyline.outages:
            outages.append({"service": o.service, "host": o.host, "start": o.start, "end": o.end,
                            "duration_hours": o.duration_hours, "basis": o.basis, "confidence": o.confidence,
                            "cited_exhibits": _exhibits_for(o.cited_event_ids, events_by_id, exhibit_by_sha)})
    exfil = []
    if storyline is not None:
        for x in storyline.exfiltration:
            exfil.append({"destination": x.destination, "bytes": x.bytes, "source_hosts": list(x.source_hosts),
                          "source_systems": list(x.source_systems), "records_by_type": dict(x.records_by_type),
                          "first_seen": x.first_seen, "last_seen": x.last_seen,
                          "cited_exhibits": _exhibits_for(x.cited_event_ids, events_by_id, exhibit_by_sha)})
    background = _background(storyline)
    for b in background:
        b["cited_exhibits"] = _exhibits_for(b["cited_event_ids"], events_by_id, exhibit_by_sha)

    data = ReportData(
        schema=SCHEMA_VERSION,
        case={"id": case.get("id"), "title": case.get("title"), "insured": case.get("insured")},
        summary=_summary(case, policy, storyline, adjustment, exhibits),
        background=background,
        outages=outages,
        exfiltration=exfil,
        chronology=_chronology(events, storyline, exhibit_by_sha, tz),
        coverage=coverage,
        losses=losses,
        totals=(adjustment or {}).get("totals"),
        policy_terms=_policy_block(policy),
        exhibits=exhibits,
        custody_chain=custody_chain,
        revenue_chart=revenue_window(revenue, _main_outage(storyline, revenue_service), policy) if "financials" not in missing else None,
        versions=versions or {},
        missing=missing,
        problems=list(problems or []),
        warnings=list((adjustment or {}).get("warnings") or []),
    )
    # one normalisation pass so the in-memory record equals its JSON (floats, enums)
    return ReportData(**_plain(data.to_dict()))
