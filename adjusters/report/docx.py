"""DOCX report a lawyer can edit (python-docx): real Heading 1/2 paragraphs and real tables.

Chinese text needs the East Asian font slot (w:eastAsia) set on each style; the
Latin slot alone leaves Word to substitute a font of its choosing.
"""
from __future__ import annotations

import io
from datetime import datetime

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from adjusters.report.charts import render_chart
from adjusters.report.i18n import label
from adjusters.report.model import ReportData
from adjusters.report.view import Bullets, Chart, Heading, Para, Table, build_blocks
from adjusters.report.ziputil import normalize_zip

SERIF_CJK = "Noto Serif CJK SC"
SANS_CJK = "Noto Sans CJK SC"


def _set_font(style, latin: str, east_asia: str, size: float | None = None) -> None:
    style.font.name = latin
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attr), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    if size:
        style.font.size = Pt(size)


def _table(doc, t: Table) -> None:
    kv = t.kind == "kv"
    ncols = len(t.headers)
    table = doc.add_table(rows=0 if kv else 1, cols=ncols)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    small = Pt(7) if t.kind == "wide" else Pt(9)
    if not kv:
        for j, h in enumerate(t.headers):
            cell = table.rows[0].cells[j]
            cell.text = ""
            run = cell.paragraphs[0].add_run(h)
            run.bold, run.font.size = True, small
        _repeat_header(table.rows[0])
    for r in t.rows:
        cells = table.add_row().cells
        for j, v in enumerate(r):
            p = cells[j].paragraphs[0]
            run = p.add_run(str(v))
            run.font.size = small
            if kv and j == 0:
                run.bold = True
            if j in t.numeric_cols:
                p.alignment = WD_ALIGN_PARAGRAPH.RIGHT


def _repeat_header(row) -> None:
    """Header row repeats on each page of a long table (chronology, exhibits)."""
    trpr = row._tr.get_or_add_trPr()
    el = trpr.makeelement(qn("w:tblHeader"), {qn("w:val"): "true"})
    trpr.append(el)


def render_docx(d: ReportData, lang: str, issuance: dict) -> bytes:
    title, header, blocks = build_blocks(d, lang, issuance)
    doc = Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Cm(21.0), Cm(29.7)
    sec.left_margin = sec.right_margin = Cm(1.8)
    _set_font(doc.styles["Normal"], SERIF_CJK, SERIF_CJK, 10)
    for name in ("Title", "Heading 1", "Heading 2", "Subtitle"):
        _set_font(doc.styles[name], SANS_CJK, SANS_CJK)
    for name in ("List Bullet",):
        _set_font(doc.styles[name], SERIF_CJK, SERIF_CJK, 10)

    doc.add_heading(title, level=0)
    p = doc.add_paragraph(label(lang, "subtitle"), style="Subtitle")
    for k, v in header:
        p = doc.add_paragraph()
        p.add_run(f"{k}: ").bold = True
        p.add_run(v)
    for b in blocks:
        if isinstance(b, Heading):
            doc.add_heading(b.text, level=b.level)
        elif isinstance(b, Para):
            p = doc.add_paragraph()
            run = p.add_run(b.text)
            if b.style == "notice":
                run.bold, run.font.color.rgb = True, RGBColor(0xC0, 0, 0)
            elif b.style == "small":
                run.font.size = Pt(8.5)
        elif isinstance(b, Bullets):
            for item in b.items:
                doc.add_paragraph(item, style="List Bullet")
        elif isinstance(b, Table):
            _table(doc, b)
        elif isinstance(b, Chart):
            png = render_chart(b.key, d, lang, "png")
            if png:
                doc.add_picture(io.BytesIO(png), width=Cm(17))
                cap = doc.add_paragraph(b.caption)
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER

    cp = doc.core_properties
    cp.title = f"{title} {issuance.get('number', '')} v{issuance.get('version', '')}"
    cp.author = cp.last_modified_by = "cyberclaim"
    cp.revision = int(issuance.get("version") or 1)
    stamp = datetime.fromisoformat((issuance.get("issued_at") or "2000-01-01T00:00:00Z").replace("Z", "+00:00"))
    cp.created = cp.modified = stamp.replace(microsecond=0)
    buf = io.BytesIO()
    doc.save(buf)
    return normalize_zip(buf.getvalue())
