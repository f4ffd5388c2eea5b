"""The report as an ordered list of blocks (headings, paragraphs, tables, charts) in one language.

HTML/PDF and DOCX both lay out these same blocks, so a lawyer reading the DOCX
and an adjuster reading the PDF see the same words and figures.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from adjusters.report.i18n import (
    METHOD, RESERVATION, SCOPE, TRIGGER_BASIS, decision_name, head_name, label, missing_notice,
)
from adjusters.report.model import ReportData


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Para:
    text: str
    style: str = ""  # "" | notice | small


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    kind: str = ""  # "" | kv (label/value pairs) | wide (small type, long hashes)
    numeric_cols: set[int] = field(default_factory=set)


@dataclass
class Chart:
    key: str  # revenue | swimlanes | losses
    caption: str


Block = Heading | Para | Bullets | Table | Chart
MAX_TABLE_ROWS = 200  # a table inside an input (e.g. hourly BI) beyond this is left to the JSON/XLSX
MAX_CHRONOLOGY_LINES = 2000  # a document for people; the JSON report carries every line


def money(amount: Any, currency: str | None) -> str:
    """'CNY 1,234,567.89'; a missing figure is a dash, never 0."""
    if amount is None or amount == "":
        return "—"
    try:
        v = float(amount)
    except (TypeError, ValueError):
        return str(amount)
    return f"{currency or ''} {v:,.2f}".strip()


def number(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 1 or v == 0 else f"{v:.4g}"
    return str(v)


def value_text(lang: str, v: Any) -> str:
    if v is None:
        return label(lang, "unknown")
    if isinstance(v, bool):
        return ("是" if v else "否") if lang == "zh" else ("yes" if v else "no")
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, list):
        return "; ".join(value_text(lang, x) if not isinstance(x, list) else " → ".join(map(str, x)) for x in v) or label(lang, "none")
    if isinstance(v, dict):
        return "; ".join(f"{k}: {value_text(lang, x)}" for k, x in v.items())
    return str(v)


FACT_NAMES = {
    "zh": {"t0": "首次恶意活动（T0）", "initial_access": "初始入侵途径", "discovery": "发现时间", "containment": "遏制时间",
           "compromised_hosts": "受影响主机", "lateral_movement": "横向移动", "privilege_escalation": "权限提升",
           "persistence": "持久化", "attacker_infrastructure": "攻击者基础设施", "malicious": "恶意攻击",
           "operator_error": "内部人员操作不当", "extortion": "勒索", "social_engineering": "社会工程欺诈",
           "attribution": "归因", "dependent_provider": "依赖服务商", "gbt_category": "事件分类（GB/T 20986-2023）",
           "attack_tactics": "ATT&CK 战术/技术", "impact": "影响", "exfiltration_bytes": "外泄数据量（字节）"},
    "en": {"t0": "First malicious activity (T0)", "initial_access": "Initial access", "discovery": "Discovery",
           "containment": "Containment", "compromised_hosts": "Compromised hosts", "lateral_movement": "Lateral movement",
           "privilege_escalation": "Privilege escalation", "persistence": "Persistence",
           "attacker_infrastructure": "Attacker infrastructure", "malicious": "Malicious attack",
           "operator_error": "Operator error", "extortion": "Extortion", "social_engineering": "Social-engineering fraud",
           "attribution": "Attribution", "dependent_provider": "Dependent provider",
           "gbt_category": "Incident category (GB/T 20986-2023)", "attack_tactics": "ATT&CK tactics / techniques",
           "impact": "Impact", "exfiltration_bytes": "Data exfiltrated (bytes)"},
}


def fact_name(lang: str, name: str) -> str:
    base, _, rest = name.partition(":")
    if rest and base == "impact":
        return f"{FACT_NAMES[lang]['impact']}: {rest}"
    return FACT_NAMES[lang].get(name, name)


def _cause_text(lang: str, cause: dict) -> str:
    parts = [f"{fact_name(lang, k)}: {value_text(lang, v)}" for k, v in cause.items() if v not in (None, [], "")]
    return "; ".join(parts) if parts else label(lang, "unknown")


def _retention_text(lang: str, rets: list[dict], currency: str | None) -> str:
    if not rets:
        return label(lang, "none")
    out = []
    for r in rets:
        secs = ", ".join(head_name(lang, s) for s in r["sections"])
        if r.get("amount") is not None:
            amt = money(r["amount"], currency)
        elif r.get("mode"):
            mode = {"time_deductible": ("时间免赔", "time deductible"), "franchise": ("门槛式", "franchise")}[r["mode"]]
            amt = (f"等待期 {number(r['hours'])} 小时（{mode[0]}）" if lang == "zh"
                   else f"waiting period {number(r['hours'])} h ({mode[1]})")
        else:
            amt = f"{number(r.get('hours'))} 小时" if lang == "zh" else f"{number(r.get('hours'))} h"
        group = ""
        if r.get("group"):
            group = f"（免赔额组 {r['group']}，仅扣一次）" if lang == "zh" else f" (group {r['group']}, applied once)"
        out.append(f"{secs}: {amt}{group}")
    return "; ".join(out)


def _liability_text(lang: str, liab: list[dict]) -> str:
    if not liab:
        return label(lang, "not_adjusted")
    return "; ".join(f"{head_name(lang, x['section'])}: {decision_name(lang, x['decision'])}" for x in liab)


def _chain_text(lang: str, d: ReportData) -> str:
    cc = d.custody_chain or {}
    if cc.get("ok", True):
        return f"{label(lang, 'custody_chain')}: {label(lang, 'chain_ok')} ({cc.get('entries', 0)})"
    return f"{label(lang, 'custody_chain')}: {label(lang, 'chain_broken')}: " + "; ".join(cc.get("problems", []))


def _custody_text(lang: str, c: dict) -> str:
    if not c:
        return "—"
    acts = ", ".join(f"{k}×{v}" for k, v in sorted((c.get("actions") or {}).items()))
    first, last = c.get("first_at") or "—", c.get("last_at") or "—"
    if lang == "zh":
        return f"{c.get('entries', 0)} 条记录（{first} 至 {last}）：{acts}"
    return f"{c.get('entries', 0)} entries ({first} to {last}): {acts}"


def _clock_text(lang: str, e: dict) -> str:
    """Time corrections recorded for an item: part of how its times in the chronology were read."""
    parts = []
    if e.get("clock_offset_s"):
        parts.append((f"时钟校正 {e['clock_offset_s']:+g} 秒" if lang == "zh" else f"clock offset {e['clock_offset_s']:+g} s"))
    if e.get("timezone"):
        parts.append((f"时区 {e['timezone']}" if lang == "zh" else f"zone {e['timezone']}"))
    return f" ({'; '.join(parts)})" if parts else ""


def build_blocks(d: ReportData, lang: str, issuance: dict) -> tuple[str, list[tuple[str, str]], list[Block]]:
    """(title, header key/values, blocks)."""
    L = lambda k: label(lang, k)  # noqa: E731
    s = d.summary
    cur = s.get("currency")
    totals = d.totals or {}
    tcur = totals.get("currency") or cur
    blocks: list[Block] = []
    header = [
        (L("report_number"), str(issuance.get("number", "—"))),
        (L("version"), str(issuance.get("version", "—"))),
        (L("issued"), str(issuance.get("issued", "—"))),
        (L("case"), f"{d.case.get('id')} — {d.case.get('title') or ''}"),
    ]

    if d.missing or d.problems:
        blocks.append(Heading(L("s_missing"), 1))
        items = []
        for m in d.missing:
            zh, en = missing_notice(m)
            items.append(f"{zh} / {en}" if lang == "zh" else f"{en} / {zh}")
        blocks.append(Bullets(items + list(d.problems)))

    # 1. summary
    blocks.append(Heading(L("s_summary"), 1))
    period = f"{s['period_start']} — {s['period_end']}" if s.get("period_start") else "—"
    cap = (f"{money(totals.get('claimed'), tcur)} → {money(totals.get('adjusted'), tcur)} → "
           f"{money(totals.get('payable'), tcur)}") if totals else L("not_adjusted")
    rows = [
        [L("insured"), s.get("insured") or "—"],
        [L("insurer"), s.get("insurer") or "—"],
        [L("policy_number"), s.get("policy_number") or "—"],
        [L("line"), s.get("line") or "—"],
        [L("period"), period],
        [L("retroactive_date"), s.get("retroactive_date") or "—"],
        [L("trigger_basis"), TRIGGER_BASIS[lang].get(s.get("trigger_basis") or "", "—")],
        [L("retention"), _retention_text(lang, s.get("retentions") or [], cur)],
        [L("aggregate_limit"), money(s.get("aggregate_limit"), cur)],
        [L("place_of_loss"), "; ".join(s.get("place_of_loss") or []) or L("unknown")],
        [L("cause_of_loss"), _cause_text(lang, s.get("cause") or {})],
        [L("liability_finding"), _liability_text(lang, s.get("liability") or [])],
        [L("claimed_adjusted_payable"), cap],
    ]
    if totals and totals.get("p50") is not None:
        rows.append([L("range"), " / ".join(money(totals.get(k), tcur) for k in ("p10", "p50", "p90"))])
    blocks.append(Table([L("name"), ""], rows, kind="kv"))

    # 2. scope
    blocks.append(Heading(L("s_scope"), 1))
    blocks.append(Para(SCOPE[lang]))

    # 3. background
    blocks.append(Heading(L("s_background"), 1))
    if d.background:
        blocks.append(Table([L("fact"), L("what"), L("cited_exhibits")],
                            [[fact_name(lang, b["name"]), value_text(lang, b["value"]) + (f" ({b['note']})" if b.get("note") else ""),
                              ", ".join(b["cited_exhibits"]) or "—"] for b in d.background]))
    else:
        blocks.append(Para(missing_notice("storyline")[0 if lang == "zh" else 1], "notice"))
    if d.outages:
        blocks.append(Heading(L("outages"), 2))
        blocks.append(Table(
            [L("service"), L("host"), L("start"), L("end"), L("duration_hours"), L("basis"), L("cited_exhibits")],
            [[o["service"], o.get("host") or "—", o["start"], o.get("end") or L("not_restored"),
              number(o.get("duration_hours")), o.get("basis") or "—", ", ".join(o["cited_exhibits"]) or "—"]
             for o in d.outages], kind="wide", numeric_cols={4}))
    if d.exfiltration:
        blocks.append(Heading(L("exfiltration"), 2))
        blocks.append(Table(
            [L("destination"), L("bytes"), L("host"), L("records"), L("cited_exhibits")],
            [[x["destination"], number(x["bytes"]), ", ".join(x["source_hosts"]) or "—",
              value_text(lang, x["records_by_type"]) if x["records_by_type"] else "—", ", ".join(x["cited_exhibits"]) or "—"]
             for x in d.exfiltration], numeric_cols={1}))

    # 4. chronology
    blocks.append(Heading(L("s_chronology"), 1))
    if d.chronology:
        ex_name = {e["no"]: e["name"] for e in d.exhibits}
        blocks.append(Table(
            [L("time_utc"), L("time_local"), L("what"), L("evidence_item"), L("locator"), L("sha256")],
            [[c["utc"] or L("undated"), c.get("local") or "—", c["message"] + (f" [{', '.join(fact_name(lang, f) for f in c['facts'])}]" if c["facts"] else ""),
              f"{c['exhibit']} {ex_name.get(c['exhibit'], '')}".strip() if c.get("exhibit") else "—",
              c.get("locator") or "—", c.get("evidence_sha256") or "—"] for c in d.chronology[:MAX_CHRONOLOGY_LINES]],
            kind="wide"))
        if len(d.chronology) > MAX_CHRONOLOGY_LINES:
            more = len(d.chronology) - MAX_CHRONOLOGY_LINES
            blocks.append(Para(f"另有 {more:,} 条，见 JSON 报告。" if lang == "zh"
                               else f"{more:,} further lines are in the JSON report.", "notice"))
    else:
        blocks.append(Para("—"))

    # 5. liability
    blocks.append(Heading(L("s_liability"), 1))
    if d.coverage:
        for c in d.coverage:
            blocks.append(Heading(f"{head_name(lang, c['section'])}: {decision_name(lang, c['decision'])}", 2))
            if c["reasons"]:
                blocks.append(Bullets(list(c["reasons"])))
            blocks.append(Para(f"{L('cited_exhibits')}: {', '.join(c['cited_exhibits']) or '—'}; "
                               f"{L('cited_documents')}: {', '.join(c['cited_documents']) or '—'}", "small"))
    else:
        blocks.append(Para(missing_notice("adjustment")[0 if lang == "zh" else 1], "notice"))

    # 6. loss schedule
    blocks.append(Heading(L("s_loss"), 1))
    if d.losses:
        rows = [[head_name(lang, lo["head"]), decision_name(lang, lo["decision"]) if lo.get("decision") else "—",
                 money(lo["claimed"], lo["currency"]), money(lo["adjusted"], lo["currency"]),
                 money(lo["payable"], lo["currency"])] + [money(lo[k], lo["currency"]) for k in ("p10", "p50", "p90")]
                for lo in d.losses]
        if totals:
            rows.append([L("total"), "", money(totals.get("claimed"), tcur), money(totals.get("adjusted"), tcur),
                         money(totals.get("payable"), tcur)] + [money(totals.get(k), tcur) for k in ("p10", "p50", "p90")])
        blocks.append(Table([L("head"), L("decision"), L("claimed"), L("adjusted"), L("payable"), L("p10"), L("p50"),
                             L("p90")], rows, kind="money", numeric_cols={2, 3, 4, 5, 6, 7}))
        for lo in d.losses:
            blocks.append(Heading(head_name(lang, lo["head"]), 2))
            blocks.append(Para(f"{L('formula')}: {lo['formula'] or '—'}"))
            inputs, tabular = [], []
            for k, v in sorted(lo["inputs"].items()):
                if isinstance(v, dict) and isinstance(v.get("columns"), list) and isinstance(v.get("rows"), list):
                    tabular.append((k, v))  # e.g. the hourly BI computation: shown as its own table
                elif isinstance(v, (dict, list)):
                    inputs.append([str(k), json.dumps(v, ensure_ascii=False, sort_keys=True)])
                else:
                    inputs.append([str(k), value_text(lang, v)])
            t = lo.get("terms") or {}
            for key in ("limit", "sublimit", "retention"):
                if t.get(key) is not None:
                    inputs.append([L(key), money(t[key], lo["currency"])])
            if t.get("coinsurance"):
                inputs.append([L("coinsurance"), f"{t['coinsurance']:.0%}"])
            if inputs:
                blocks.append(Table([L("inputs"), ""], inputs, kind="kv"))
            for k, v in tabular:
                blocks.append(Para(f"{L('inputs')}: {k}", "small"))
                blocks.append(Table([str(c) for c in v["columns"]],
                                    [[value_text(lang, x) for x in r] for r in v["rows"][:MAX_TABLE_ROWS]], kind="wide",
                                    numeric_cols={j for j, x in enumerate(v["rows"][0]) if isinstance(x, (int, float))
                                                  and not isinstance(x, bool)} if v["rows"] else set()))
                if len(v["rows"]) > MAX_TABLE_ROWS:
                    blocks.append(Para(f"… {len(v['rows']) - MAX_TABLE_ROWS} more rows (see the JSON/XLSX report)", "small"))
            if lo.get("notes"):
                blocks.append(Bullets(list(lo["notes"])))
            cites = ", ".join(lo["cited_exhibits"] + lo["cited_documents"])
            if cites:
                blocks.append(Para(f"{L('cited_exhibits')}: {cites}", "small"))
        if d.policy_terms:
            order = " → ".join(d.policy_terms["application_order"])
            blocks.append(Para(f"{L('applied_order')}: {order}; {L('aggregate_limit')}: "
                               f"{money(d.policy_terms['aggregate_limit'], cur)}", "small"))
    else:
        blocks.append(Para(missing_notice("adjustment")[0 if lang == "zh" else 1], "notice"))

    # charts
    charts = []
    if d.revenue_chart:
        charts.append(Chart("revenue", L("chart_revenue")))
    if d.chronology:
        charts.append(Chart("swimlanes", L("chart_swimlanes")))
    if d.losses:
        charts.append(Chart("losses", L("chart_losses")))
    if charts:
        blocks.append(Heading(L("s_charts"), 2))
        blocks.extend(charts)

    # 7. exhibits
    blocks.append(Heading(L("s_exhibits"), 1))
    if d.exhibits:
        blocks.append(Table(
            [L("exhibit"), L("name"), L("type"), L("size"), L("sha256"), L("source"), L("acquired_by"), L("added"), L("custody")],
            [[e["no"], e["name"] or "—", e["type"] or "—", number(e["size"]), e["sha256"],
              (f"{L('derived_from')} {e['parent_exhibit']}: {e['derivation'] or ''}" if e.get("parent_exhibit") else e.get("source") or "—"),
              (e.get("acquired_by") or "—") + _clock_text(lang, e),
              f"{e.get('added_at') or '—'} ({e.get('added_by') or '—'})",
              _custody_text(lang, e.get("custody") or {})] for e in d.exhibits], kind="wide", numeric_cols={3}))
    else:
        blocks.append(Para(missing_notice("evidence")[0 if lang == "zh" else 1], "notice"))
    blocks.append(Para(_chain_text(lang, d), "small"))

    # 8. method
    blocks.append(Heading(L("s_method"), 1))
    blocks.append(Bullets(list(METHOD[lang]) + list(d.warnings)))
    v = d.versions or {}
    vrows = [[L("tool"), str(v.get("tool") or "—")]]
    for k, ver in sorted((v.get("ingestors") or {}).items()):
        vrows.append([f"{L('ingestors')}: {k}", str(ver)])
    for k, ver in sorted((v.get("rules") or {}).items()):
        vrows.append([f"{L('rules')}: {k}", str(ver)])
    if v.get("policy_sha256"):
        vrows.append([L("policy_sha256"), v["policy_sha256"]])
    if v.get("financials_sha256"):
        vrows.append([L("financials_sha256"), v["financials_sha256"]])
    blocks.append(Heading(L("versions"), 2))
    blocks.append(Table([L("name"), ""], vrows, kind="kv"))
    if v.get("evidence_sha256"):
        blocks.append(Heading(L("evidence_hashes"), 2))
        blocks.append(Table([L("exhibit"), L("sha256")],
                            [[next((e["no"] for e in d.exhibits if e["sha256"] == h), "—"), h] for h in v["evidence_sha256"]],
                            kind="wide"))

    # 9. reservation
    blocks.append(Heading(L("s_reservation"), 1))
    blocks.append(Para(RESERVATION[lang]))
    return f"{L('title')}", header, blocks
