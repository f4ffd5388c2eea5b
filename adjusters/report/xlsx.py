"""XLSX loss schedule with live formulas (openpyxl).

One sheet per head of loss: input cells (decision, claimed, adjusted loss,
retention, coinsurance, sublimit, limit) and formulas that apply the policy
terms in the policy's own order. A retention shared by a retention group is one
input cell on the Summary sheet, consumed once across the group's sheets in
section order. The Summary sheet applies the aggregate limit across heads (in
section order) and totals everything with formulas, so when an adjuster changes
an input cell Excel or LibreOffice recomputes every figure.
"""
from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.writer.excel import ExcelWriter

from adjusters.report.i18n import head_name, label
from adjusters.report.model import ReportData
from adjusters.report.ziputil import normalize_zip

INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")  # the adjuster's cells
BOLD = Font(bold=True)
STEPS_ROW0 = 14  # first row of the policy-terms chain on a head sheet
BI_HEADS = ("business_interruption", "dependent_business_interruption")

XL_LABELS = {
    "zh": {"decision_hint": "输入 triggered 表示责任成立，其他值按 0 赔付", "covered": "责任内损失",
           "ret_available": "可用免赔额", "ret_applied": "本项扣除免赔额", "after_retention": "扣除免赔额后",
           "after_coinsurance": "扣除共保后", "after_sublimit": "适用分项限额后", "after_limit": "适用赔偿限额后",
           "section_payable": "本项赔付（累计限额前）", "engine_payable": "理算引擎结果", "difference": "差异",
           "after_aggregate": "赔付（累计限额后）", "before_aggregate": "累计限额前合计", "inputs_note": "理算参数（来自理算结果）",
           "group_retention": "免赔额组", "sheet": "工作表"},
    "en": {"decision_hint": "enter triggered for a covered section; anything else pays 0", "covered": "Covered loss",
           "ret_available": "Retention available", "ret_applied": "Retention applied here",
           "after_retention": "After retention", "after_coinsurance": "After coinsurance",
           "after_sublimit": "After sublimit", "after_limit": "After limit",
           "section_payable": "Section payable (before aggregate)", "engine_payable": "Adjustment engine payable",
           "difference": "Difference", "after_aggregate": "Payable (after aggregate)",
           "before_aggregate": "Total before aggregate", "inputs_note": "Inputs (from the adjustment)",
           "group_retention": "Retention group", "sheet": "Sheet"},
}


def _sheet_name(head: str) -> str:
    return re.sub(r"[\[\]\*\?/\\:]", "_", head)[:31]


def _num(v):
    try:
        return float(v) if v is not None and v != "" else None
    except (TypeError, ValueError):
        return None


def render_xlsx(d: ReportData, lang: str, issuance: dict) -> bytes:
    X = XL_LABELS[lang]
    L = lambda k: label(lang, k)  # noqa: E731
    cur = d.summary.get("currency") or (d.losses[0]["currency"] if d.losses else "") or ""
    money_fmt = f'"{cur} "#,##0.00' if cur else "#,##0.00"
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws["A1"] = f"{L('title')} — {L('s_loss')}"
    ws["A1"].font = Font(bold=True, size=13)
    meta = [(L("report_number"), issuance.get("number")), (L("version"), issuance.get("version")),
            (L("case"), d.case.get("id")), (L("insured"), d.summary.get("insured")),
            (L("policy_number"), d.summary.get("policy_number")), (L("currency"), cur or None)]
    for i, (k, v) in enumerate(meta, start=2):
        ws.cell(i, 1, k).font = BOLD
        ws.cell(i, 2, v if v is not None else "—")
    row = len(meta) + 2
    notes = [f"{m}" for m in d.missing]
    if notes:
        ws.cell(row, 1, L("s_missing")).font = BOLD
        ws.cell(row, 2, ", ".join(notes))
        row += 1

    # inputs on the Summary sheet: aggregate limit and shared (group) retentions
    ws.cell(row, 1, L("aggregate_limit")).font = BOLD
    agg_cell = f"Summary!$B${row}"
    c = ws.cell(row, 2, _num(d.summary.get("aggregate_limit")))
    c.fill, c.number_format = INPUT_FILL, money_fmt
    wb.defined_names["AggregateLimit"] = DefinedName("AggregateLimit", attr_text=agg_cell)
    row += 1
    group_cell: dict[str, str] = {}
    for r in d.summary.get("retentions") or []:
        if r.get("group") and r.get("amount") is not None:
            ws.cell(row, 1, f"{X['group_retention']}: {r['group']}").font = BOLD
            c = ws.cell(row, 2, _num(r["amount"]))
            c.fill, c.number_format = INPUT_FILL, money_fmt
            ws.cell(row, 3, ", ".join(head_name(lang, s) for s in r["sections"]))
            group_cell[r["group"]] = f"Summary!$B${row}"
            row += 1
    row += 1

    order = [s for s in ((d.policy_terms or {}).get("application_order") or
                         ["retention", "coinsurance", "sublimit", "limit", "aggregate"]) if s != "aggregate"]
    payable_cells: list[str] = []
    group_applied: dict[str, list[str]] = {}
    head_sheets = []
    for lo in d.losses:
        hs = wb.create_sheet(_sheet_name(lo["head"]))
        t = lo.get("terms") or {}
        hs["A1"] = head_name(lang, lo["head"])
        hs["A1"].font = Font(bold=True, size=12)
        inputs = [
            (3, L("decision"), lo.get("decision") or "", None, X["decision_hint"]),
            (4, L("claimed"), _num(lo.get("claimed")), money_fmt, None),
            (5, L("adjusted"), _num(lo.get("adjusted")), money_fmt, lo.get("formula") or None),
            (6, L("retention"), None, money_fmt, None),
            (7, L("retention_group"), t.get("retention_group") or "", None, None),
            (8, L("coinsurance"), _num(t.get("coinsurance")) or 0.0, "0.00%", None),
            (9, L("sublimit"), _num(t.get("sublimit")), money_fmt, None),
            (10, L("limit"), _num(t.get("limit")), money_fmt, None),
        ]
        for r_, name, val, fmt, note in inputs:
            hs.cell(r_, 1, name).font = BOLD
            c = hs.cell(r_, 2, val)
            c.fill = INPUT_FILL
            if fmt:
                c.number_format = fmt
            if note:
                hs.cell(r_, 3, note)
        if lo["head"] in BI_HEADS:
            _bi_live(hs, lo, money_fmt)
        grp = t.get("retention_group")
        if grp and grp in group_cell:
            hs["B6"] = f"={group_cell[grp]}"  # shared: change it once on the Summary sheet
            hs["B6"].fill = PatternFill(None)
            hs["C6"] = f"{X['group_retention']} {grp} (Summary)"
        else:
            hs["B6"] = _num(t.get("retention")) or 0.0
        hs["B6"].number_format = money_fmt
        hs["A12"], hs["B12"] = X["covered"], '=IF(B3="triggered",B5,0)'
        hs["A12"].font = BOLD
        hs["B12"].number_format = money_fmt
        r_ = STEPS_ROW0
        prev = "B12"
        applied_cell = None
        for step in order:
            if step == "retention":
                earlier = group_applied.get(grp, []) if grp else []
                avail = f"B6-SUM({','.join(earlier)})" if earlier else "B6"
                hs.cell(r_, 1, X["ret_available"]); hs.cell(r_, 2, f"=MAX(0,{avail})")
                hs.cell(r_ + 1, 1, X["ret_applied"]); hs.cell(r_ + 1, 2, f"=MIN({prev},B{r_})")
                hs.cell(r_ + 2, 1, X["after_retention"]); hs.cell(r_ + 2, 2, f"={prev}-B{r_ + 1}")
                applied_cell = f"'{hs.title}'!$B${r_ + 1}"
                for k in range(3):
                    hs.cell(r_ + k, 2).number_format = money_fmt
                prev, r_ = f"B{r_ + 2}", r_ + 3
            elif step == "coinsurance":
                hs.cell(r_, 1, X["after_coinsurance"]); hs.cell(r_, 2, f"={prev}*(1-B8)")
                hs.cell(r_, 2).number_format = money_fmt
                prev, r_ = f"B{r_}", r_ + 1
            elif step == "sublimit":
                hs.cell(r_, 1, X["after_sublimit"]); hs.cell(r_, 2, f'=IF(B9="",{prev},MIN({prev},B9))')
                hs.cell(r_, 2).number_format = money_fmt
                prev, r_ = f"B{r_}", r_ + 1
            elif step == "limit":
                hs.cell(r_, 1, X["after_limit"]); hs.cell(r_, 2, f'=IF(B10="",{prev},MIN({prev},B10))')
                hs.cell(r_, 2).number_format = money_fmt
                prev, r_ = f"B{r_}", r_ + 1
        if grp and applied_cell:
            group_applied.setdefault(grp, []).append(applied_cell)
        r_ += 1
        hs.cell(r_, 1, X["section_payable"]).font = BOLD
        hs.cell(r_, 2, f"={prev}").number_format = money_fmt
        hs.cell(r_, 2).font = BOLD
        payable_cell = f"'{hs.title}'!$B${r_}"
        hs.cell(r_ + 1, 1, X["engine_payable"])
        hs.cell(r_ + 1, 2, _num(lo.get("payable"))).number_format = money_fmt
        r_ += 3
        for k in ("p10", "p50", "p90"):
            hs.cell(r_, 1, L(k)); hs.cell(r_, 2, _num(lo.get(k))).number_format = money_fmt
            r_ += 1
        r_ += 1
        hs.cell(r_, 1, X["inputs_note"]).font = BOLD
        r_ += 1
        hs.cell(r_, 1, L("formula")); hs.cell(r_, 2, lo.get("formula") or "")
        r_ += 1
        for k, v in sorted((lo.get("inputs") or {}).items()):
            hs.cell(r_, 1, str(k))
            hs.cell(r_, 2, v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else str(v))
            r_ += 1
        hs.column_dimensions["A"].width = 34
        hs.column_dimensions["B"].width = 22
        hs.column_dimensions["C"].width = 50
        payable_cells.append(payable_cell)
        head_sheets.append((lo, hs.title, payable_cell))

    # the schedule on the Summary sheet
    headers = [L("head"), L("decision"), L("claimed"), L("adjusted"), X["section_payable"], X["after_aggregate"],
               L("p10"), L("p50"), L("p90"), X["sheet"]]
    for j, h in enumerate(headers, start=1):
        ws.cell(row, j, h).font = BOLD
        ws.cell(row, j).alignment = Alignment(wrap_text=True)
    first = row + 1
    for i, (lo, title, pay) in enumerate(head_sheets):
        r_ = first + i
        q = f"'{title}'"
        ws.cell(r_, 1, head_name(lang, lo["head"]))
        ws.cell(r_, 2, f"={q}!B3")
        ws.cell(r_, 3, f"={q}!B4")
        ws.cell(r_, 4, f"={q}!B5")
        ws.cell(r_, 5, f"={pay}")
        # the aggregate erodes in section order: each head gets what is left of it
        before = f"SUM(E${first}:E{r_ - 1})" if i else "0"
        ws.cell(r_, 6, f"=MIN(E{r_},MAX(0,{agg_cell}-{before}))" if d.summary.get("aggregate_limit") is not None
                else f"=E{r_}")
        for j, k in enumerate(("p10", "p50", "p90"), start=7):
            ws.cell(r_, j, _num(lo.get(k)))
        ws.cell(r_, 10, title)
        for j in range(3, 10):
            ws.cell(r_, j).number_format = money_fmt
    last = first + len(head_sheets) - 1
    tot = last + 1
    ws.cell(tot, 1, L("total")).font = BOLD
    if head_sheets:
        for j in range(3, 10):
            col = get_column_letter(j)
            ws.cell(tot, j, f"=SUM({col}{first}:{col}{last})").number_format = money_fmt
            ws.cell(tot, j).font = BOLD
        wb.defined_names["TotalPayable"] = DefinedName("TotalPayable", attr_text=f"Summary!$F${tot}")
        wb.defined_names["TotalAdjusted"] = DefinedName("TotalAdjusted", attr_text=f"Summary!$D${tot}")
    else:
        ws.cell(tot, 2, L("not_adjusted"))
    ws.cell(tot + 2, 1, X["engine_payable"])
    ws.cell(tot + 2, 6, _num((d.totals or {}).get("payable"))).number_format = money_fmt
    ws.column_dimensions["A"].width = 30
    for j in range(2, 11):
        ws.column_dimensions[get_column_letter(j)].width = 18

    stamp = _stamp(issuance)
    wb.properties.creator = "cyberclaim"
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.lastModifiedBy = "cyberclaim"
    buf = io.BytesIO()
    # not wb.save(): openpyxl's save_workbook stamps `modified` with the wall clock, so two renders a
    # second apart differed; its ExcelWriter writes the properties as set above
    ExcelWriter(wb, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return normalize_zip(buf.getvalue())


def _bi_live(hs, lo: dict, money_fmt: str) -> None:
    """Business interruption as live arithmetic: the hourly standard/actual/paid table and the rates are
    input cells, and the adjusted loss (B5) is their formula (gross-profit basis). The formula is only
    written when it reproduces the adjustment engine's figure; otherwise B5 stays the engine's value."""
    inp = lo.get("inputs") or {}
    hourly = inp.get("hourly")
    if inp.get("basis") != "gross_profit" or not isinstance(hourly, dict):
        return
    cols, rows = hourly.get("columns") or [], hourly.get("rows") or []
    need = ("hour", "standard", "actual", "paid")
    if not rows or any(c not in cols for c in need):
        return
    ix = {c: cols.index(c) for c in need}
    icow = inp.get("increased_cost_of_working")
    icow_amount = icow.get("amount") if isinstance(icow, dict) else None
    icow_saved = icow.get("turnover_saved_by_it") if isinstance(icow, dict) else None
    if icow is not None and (icow_amount is None or icow_saved is None):
        return
    gp, sav, mk = (_num(inp.get(k)) for k in ("gross_profit_rate", "savings_rate", "make_up_rate"))
    if gp is None:
        return
    sav, mk = sav or 0.0, mk or 0.0
    lost_paid = sum(max(0.0, float(r[ix["standard"]] or 0) - float(r[ix["actual"]] or 0)) for r in rows if r[ix["paid"]])
    icow_part = min(icow_amount, icow_saved * gp) if icow is not None else 0.0
    mine = lost_paid * (1 - mk) * gp * (1 - sav) + icow_part
    # the hourly figures in the inputs are rounded to cents, so allow a cent per paid hour; beyond that the
    # engine computed it some other way: show its figure, not a formula that disagrees
    paid_rows = sum(1 for r in rows if r[ix["paid"]])
    if abs(mine - float(lo.get("adjusted") or 0.0)) > 0.01 * max(1, paid_rows):
        return
    params = [("gross_profit_rate", gp, "0.00%"), ("savings_rate", sav, "0.00%"), ("make_up_rate", mk, "0.00%"),
              ("ICOW amount", icow_amount or 0.0, money_fmt), ("ICOW turnover_saved_by_it", icow_saved or 0.0, money_fmt)]
    for k, (name, val, fmt) in enumerate(params, start=3):
        hs.cell(k, 5, name).font = BOLD
        c = hs.cell(k, 6, val)
        c.fill, c.number_format = INPUT_FILL, fmt
    top = 10
    for j, h in enumerate(("hour (UTC)", "standard", "actual", "lost = max(0, standard − actual)", "paid", "lost, paid"),
                          start=5):
        hs.cell(top, j, h).font = BOLD
    for i, r in enumerate(rows, start=top + 1):
        hs.cell(i, 5, r[ix["hour"]])
        for j, key in ((6, "standard"), (7, "actual")):
            c = hs.cell(i, j, _num(r[ix[key]]))
            c.fill, c.number_format = INPUT_FILL, money_fmt
        hs.cell(i, 8, f"=MAX(0,F{i}-G{i})").number_format = money_fmt
        c = hs.cell(i, 9, bool(r[ix["paid"]]))
        c.fill = INPUT_FILL
        hs.cell(i, 10, f"=IF(I{i},H{i},0)").number_format = money_fmt
    last = top + len(rows)
    hs["B5"] = f"=SUM(J{top + 1}:J{last})*(1-F5)*F3*(1-F4)+MIN(F6,F7*F3)"
    hs["C5"] = "Σ paid lost turnover × (1 − make-up) × gross profit rate × (1 − savings) + min(ICOW, saved × GP rate)"
    hs.cell(8, 5, "adjustment engine (adjusted)").font = BOLD
    hs.cell(8, 6, _num(lo.get("adjusted"))).number_format = money_fmt
    hs.cell(8, 7, "=B5-F8").number_format = money_fmt  # cents of rounding at most, until inputs are changed
    for col, w in (("E", 22), ("F", 16), ("G", 16), ("H", 18), ("I", 8), ("J", 16)):
        hs.column_dimensions[col].width = w


def _stamp(issuance: dict) -> datetime:
    s = issuance.get("issued_at") or "2000-01-01T00:00:00Z"
    return datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None, microsecond=0)

