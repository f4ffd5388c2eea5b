"""HTML report from the Jinja2 template, and PDF from that HTML with WeasyPrint.

The PDF uses the Noto CJK fonts from Debian's fonts-noto-cjk (named in the
template's CSS), embedded by WeasyPrint, so Chinese text prints as glyphs on any
reader. Charts are inline SVG data URIs.
"""
from __future__ import annotations

import base64
import re
from dataclasses import asdict
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from adjusters.report.charts import render_chart
from adjusters.report.i18n import label
from adjusters.report.model import ReportData
from adjusters.report.view import Bullets, Chart, Heading, Para, Table, build_blocks

TEMPLATES = Path(__file__).parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]),
    trim_blocks=False, lstrip_blocks=False,
)
_HEX64 = re.compile(r"\b([0-9a-f]{16})([0-9a-f]{16})([0-9a-f]{16})([0-9a-f]{16})\b")


def breakhash(text) -> Markup:
    """Let a SHA-256 wrap at 16-digit groups (<wbr>), so tables stay on the page without the
    per-character break rules that make WeasyPrint's table layout many times slower."""
    return Markup(_HEX64.sub(r"\1<wbr>\2<wbr>\3<wbr>\4", str(escape(text))))


_env.filters["breakhash"] = breakhash
_KIND = {Heading: "heading", Para: "para", Bullets: "bullets", Table: "table", Chart: "chart"}


def _block_dict(b, d: ReportData, lang: str) -> dict:
    out = asdict(b)
    out["kind_"] = _KIND[type(b)]
    if isinstance(b, Chart):
        svg = render_chart(b.key, d, lang, "svg")
        out["src"] = "data:image/svg+xml;base64," + base64.b64encode(svg).decode() if svg else None
    return out


TABLE_CHUNK_ROWS = 40


def _chunked(blocks: list) -> list:
    """Long tables as consecutive tables of TABLE_CHUNK_ROWS rows (each with its header): WeasyPrint
    re-lays the rest of a table on every page it breaks across, which grows quadratically with rows."""
    out = []
    for b in blocks:
        if isinstance(b, Table) and len(b.rows) > TABLE_CHUNK_ROWS:
            for i in range(0, len(b.rows), TABLE_CHUNK_ROWS):
                out.append(Table(b.headers, b.rows[i:i + TABLE_CHUNK_ROWS], b.kind, b.numeric_cols))
        else:
            out.append(b)
    return out


def render_html(d: ReportData, lang: str, issuance: dict) -> str:
    title, header, blocks = build_blocks(d, lang, issuance)
    blocks = _chunked(blocks)
    return _env.get_template("report.html").render(
        lang=lang, title=title, subtitle=label(lang, "subtitle"), header=header, issuance=issuance,
        blocks=[_block_dict(b, d, lang) for b in blocks],
    )


def render_pdf(d: ReportData, lang: str, issuance: dict) -> bytes:
    import weasyprint  # imported here: it is slow to load and only PDF needs it

    html = render_html(d, lang, issuance)
    doc = weasyprint.HTML(string=html, base_url=str(TEMPLATES)).render()
    # dates in the PDF info come from the issuance, not the wall clock, so a re-issue is byte-stable
    doc.metadata.created = doc.metadata.modified = issuance.get("issued_at") or None
    doc.metadata.generator = "cyberclaim"
    return doc.write_pdf()
