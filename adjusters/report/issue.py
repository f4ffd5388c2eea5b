"""Issue a loss adjustment report for a case: gather, verify, version, render, record.

`issue_report(case_id, fmt, lang, out_path)`:
- refuses when `case_store.cases.verify_evidence` finds a changed evidence item;
- gathers the case, evidence (with custody summaries), policy, financials,
  storyline, adjustment and the cited events, noting whatever is missing instead
  of failing;
- versions the report: the report number is per case; the same content re-issued
  keeps its version (and its issue date, so the bytes are the same), changed
  content gets the next version, and every issued file is kept under the case's
  reports/ directory, recorded in the `reports` table and in the custody log.
"""
from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from case_store import CyberclaimError, cases, custody
from case_store.clock import now_iso, tool_version
from case_store.db import session
from case_store.home import case_dir
from case_store.models import Evidence, IngestResult, Report

from adjusters.report.i18n import LANGS
from adjusters.report.model import ReportData, build_report_data

FORMATS = ("pdf", "docx", "xlsx", "json", "html")
RULE_PARSERS = ("sigma", "yara")


def report_number(case_id: str) -> str:
    return f"LA-{case_id}"


# ---------------------------------------------------------------------------
# gathering (all the I/O the pure model needs)


def _evidence_rows(case_id: str) -> tuple[list[dict], dict]:
    with session() as s:
        items = list(s.execute(select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.id)).scalars())
        entries = custody.entries(s, case_id)
        problems = custody.verify_entries(entries)
        by_sha: dict[str, list] = {}
        for e in entries:
            if e.evidence_sha256:
                by_sha.setdefault(e.evidence_sha256, []).append(e)
        rows = []
        for ev in items:
            es = by_sha.get(ev.sha256, [])
            rows.append({
                "sha256": ev.sha256, "size": ev.size, "original_name": ev.original_name,
                "evidence_type": ev.evidence_type, "source": ev.source, "acquired_by": ev.acquired_by,
                "added_at": ev.added_at, "added_by": ev.added_by, "parent_sha256": ev.parent_sha256,
                "derivation": ev.derivation, "clock_offset_s": ev.clock_offset_s, "timezone": ev.timezone,
                # state-changing entries only: verification and report entries would make every issue differ
                "custody": _custody_summary([e for e in es if e.action not in VOLATILE_ACTIONS]),
            })
        # the count leaves out verification and report entries, which every issue adds
        chain = {"ok": not problems, "entries": sum(1 for e in entries if e.action not in VOLATILE_ACTIONS),
                 "problems": [str(p) for p in problems]}
    return rows, chain


VOLATILE_ACTIONS = frozenset({"evidence_verified", "report_issued", "report_refused", "events_viewed", "exported"})


def _custody_summary(es: list) -> dict:
    if not es:
        return {}
    return {"entries": len(es), "first_at": es[0].at, "last_at": es[-1].at,
            "actions": dict(sorted(Counter(e.action for e in es).items())),
            "actors": sorted({e.actor for e in es})}


def _versions(case_id: str, evidence: list[dict], case, fin) -> dict:
    from forensics.pipeline import ingestor_versions

    shas = sorted({e["sha256"] for e in evidence})
    with session() as s:
        used = sorted(set(s.execute(
            select(IngestResult.parser).where(IngestResult.evidence_sha256.in_(shas), IngestResult.status != "failed")
        ).scalars())) if shas else []
    return {
        "tool": tool_version(),
        "ingestors": dict(sorted(ingestor_versions().items())),
        "parsers_used": used,
        "rules": {p.partition("@")[0] + ("#" + p.partition("#")[2] if "#" in p else ""): p.partition("@")[2]
                  for p in used if p.partition("@")[0] in RULE_PARSERS},
        "evidence_sha256": shas,
        "policy_sha256": case.policy_sha256,
        "financials_sha256": _financials_digest(fin),
        "adjustment_method": None,
    }


def _financials_digest(fin) -> str | None:
    if fin is None:
        return None
    h = hashlib.sha256()
    for name, sha in sorted(fin.documents.items()):
        h.update(f"{name}\0{sha}\n".encode())
    return h.hexdigest()


def _cited_ids(storyline, adjustment: dict | None) -> list[str]:
    ids: set[str] = set()
    if storyline is not None:
        def walk(o):
            if isinstance(o, dict):
                for k, v in o.items():
                    if k == "cited_event_ids" and isinstance(v, list):
                        ids.update(map(str, v))
                    else:
                        walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(storyline.model_dump(mode="json"))
    for part in ("coverage", "losses"):
        for x in (adjustment or {}).get(part, []):
            ids.update(x.get("cited_event_ids") or [])
    return sorted(ids)


def _events(case_id: str, ids: list[str]) -> list[dict]:
    from case_store.eventstore import EventQuery, query

    if not ids:
        return []
    cols = ["event_id", "timestamp", "message", "host", "data_type", "evidence_sha256", "locator", "parser"]
    page, _ = query(case_id, EventQuery(event_ids=ids, limit=len(ids) + 1, columns=cols))
    page = page.astype(object).where(pd.notna(page), None)
    return page.to_dict("records")


def gather(case_id: str) -> ReportData:
    """Everything the report states, from the case as it is now; never raises on missing inputs."""
    case = cases.get_case(case_id)
    evidence, chain = _evidence_rows(case_id)
    missing: list[str] = []
    problems: list[str] = []

    policy = None
    if case.policy_path:
        from adjusters.policy import load_policy
        try:
            policy = load_policy(case.policy_path)
        except CyberclaimError as e:
            problems.append(str(e))
    if policy is None:
        missing.append("policy")

    fin = None
    if case.financials_path:
        from adjusters.financials import load_financials
        try:
            fin = load_financials(case.financials_path, policy)
        except CyberclaimError as e:
            problems.append(str(e))
    if fin is None:
        missing.append("financials")

    storyline = None
    if evidence:
        try:
            from forensics.storyline import build_storyline
            storyline = build_storyline(case_id)
        except ImportError:
            problems.append("storyline builder not available in this installation")
        except Exception as e:  # noqa: BLE001 — a builder failure is reported, never a crash of the report
            problems.append(f"storyline: {type(e).__name__}: {e}")
    else:
        missing.append("evidence")
    if storyline is None:
        missing.append("storyline")

    adjustment = None
    if storyline is not None and policy is not None and fin is not None:
        from adjusters.adjust import adjust
        try:
            adjustment = adjust(storyline, policy, fin).model_dump(mode="json")
        except Exception as e:  # noqa: BLE001 — stated in the report instead of inventing figures
            problems.append(f"adjustment: {type(e).__name__}: {e}")

    versions = _versions(case_id, evidence, case, fin)
    if adjustment is not None:
        versions["adjustment_method"] = adjustment.get("method")
    return build_report_data(
        {"id": case.id, "title": case.title, "insured": case.insured}, evidence, chain, storyline=storyline,
        events=_events(case_id, _cited_ids(storyline, adjustment)), adjustment=adjustment, policy=policy,
        financials=fin, versions=versions, missing=missing, problems=problems,
    )


# ---------------------------------------------------------------------------
# rendering


def render(data: ReportData, fmt: str, lang: str, issuance: dict) -> bytes:
    if fmt == "json":
        from forensics.events import canonical_json
        import json

        doc = {"report": {k: issuance[k] for k in ("number", "version", "issued_at")}, "lang": lang,
               **json.loads(data.canonical())}
        return (canonical_json(doc) + "\n").encode()
    if fmt == "html":
        from adjusters.report.html import render_html
        return render_html(data, lang, issuance).encode()
    if fmt == "pdf":
        from adjusters.report.html import render_pdf
        return render_pdf(data, lang, issuance)
    if fmt == "docx":
        from adjusters.report.docx import render_docx
        return render_docx(data, lang, issuance)
    if fmt == "xlsx":
        from adjusters.report.xlsx import render_xlsx
        return render_xlsx(data, lang, issuance)
    raise CyberclaimError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")


def _issuance(case_id: str, content: str) -> dict:
    """Same content as the latest version → that version (and its date); otherwise the next one."""
    number = report_number(case_id)
    archive = case_dir(case_id) / "reports"
    with session() as s:
        rows = list(s.execute(select(Report).where(Report.case_id == case_id).order_by(Report.version, Report.id)).scalars())
    latest = max((r.version for r in rows), default=0)
    if latest:
        prev = archive / f"{number}-v{latest}.data.json"
        if prev.is_file() and prev.read_text(encoding="utf-8") == content:
            first = next(r for r in rows if r.version == latest)
            return {"number": number, "version": latest, "issued_at": first.created_at,
                    "issued": first.created_at[:10], "new": False}
    at = now_iso()
    return {"number": number, "version": latest + 1, "issued_at": at, "issued": at[:10], "new": True}


def issue_report(case_id: str, fmt: str, lang: str, out_path: str | Path) -> Path:
    if fmt not in FORMATS:
        raise CyberclaimError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    if lang not in LANGS:
        raise CyberclaimError(f"unknown report language {lang!r}; one of {', '.join(LANGS)}")
    cases.get_case(case_id)
    bad = cases.verify_evidence(case_id)
    if bad:
        custody.log(case_id, "report_refused", failed=[e.sha256 for e, _ in bad])
        raise CyberclaimError(
            "refusing to issue the report: evidence verification failed: "
            + "; ".join(f"{e.original_name} ({e.sha256[:12]}…): {p}" for e, p in bad)
        )
    data = gather(case_id)
    content = data.canonical()
    iss = _issuance(case_id, content)
    body = render(data, fmt, lang, iss)

    archive = case_dir(case_id) / "reports"
    archive.mkdir(parents=True, exist_ok=True)
    stem = f"{iss['number']}-v{iss['version']}"
    (archive / f"{stem}.data.json").write_text(content, encoding="utf-8")
    kept = archive / f"{stem}.{lang}.{fmt}"
    kept.write_bytes(body)  # the issued copy stays with the case even if out_path is overwritten later
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.resolve() != kept.resolve():
        shutil.copyfile(kept, out)
    digest = hashlib.sha256(body).hexdigest()
    with session() as s:
        exists = s.execute(select(Report).where(
            Report.case_id == case_id, Report.version == iss["version"], Report.format == fmt, Report.lang == lang,
            Report.sha256 == digest)).scalar_one_or_none()
        if exists is None:
            s.add(Report(case_id=case_id, number=iss["number"], version=iss["version"], format=fmt, lang=lang,
                         path=str(kept), sha256=digest, created_at=iss["issued_at"]))
        custody.append(s, case_id, "report_issued", number=iss["number"], version=iss["version"], format=fmt,
                       lang=lang, sha256=digest, content_sha256=hashlib.sha256(content.encode()).hexdigest(),
                       path=str(out), evidence_hashes=data.versions.get("evidence_sha256", []),
                       tool=data.versions.get("tool"), ingestors=data.versions.get("ingestors"),
                       rules=data.versions.get("rules"), missing=data.missing)
    return out


def list_reports(case_id: str) -> list[Report]:
    with session() as s:
        return list(s.execute(select(Report).where(Report.case_id == case_id).order_by(Report.version, Report.id)).scalars())
