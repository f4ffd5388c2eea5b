"""Loss adjustment reports: content, formats, determinism, live XLSX formulas, CJK PDF, missing inputs."""
from __future__ import annotations

import io
import json
import subprocess
import zipfile

import pytest
from docx import Document
from openpyxl import load_workbook

from adjusters.heads import HEAD_ZH, Head
from adjusters.report.i18n import LABELS, MISSING
from adjusters.report.issue import render
from adjusters.report.model import build_report_data
from adjusters.report.view import money
from conftest import need_tool
from adjusters.report.samples import SHA_A, SHA_B, sample_report_data

ISS = {"number": "LA-CTEST", "version": 1, "issued_at": "2026-04-01T00:00:00.000000Z", "issued": "2026-04-01"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return sample_report_data(tmp_path_factory.mktemp("rep"))


def test_money_has_separators_two_decimals_and_code():
    assert money(1234567.891, "CNY") == "CNY 1,234,567.89"
    assert money(0, "USD") == "USD 0.00"
    assert money(None, "CNY") == "—"  # a missing figure is never shown as zero


def test_model_cites_exhibits_and_builds_chronology(data):
    assert [e["no"] for e in data.exhibits] == ["E1", "E2"]
    # every chronology line carries UTC, local (policy zone Asia/Shanghai, +8h), exhibit, locator and SHA-256
    first = data.chronology[0]
    assert first["utc"] == "2026-03-09 22:05:11" and first["local"] == "2026-03-10 06:05:11 +0800"
    assert first["exhibit"] == "E1" and first["locator"] == "record 17" and first["evidence_sha256"] == SHA_A
    assert "t0" in first["facts"] and "initial_access" in first["facts"]
    assert [c["utc"] for c in data.chronology] == sorted(c["utc"] for c in data.chronology)
    outage = data.outages[0]
    assert outage["cited_exhibits"] == ["E2"]
    # the revenue chart's baseline is the adjusters' standard turnover: a flat weekly pattern → baseline == history
    rc = data.revenue_chart
    assert rc["outage"] == {"start": "2026-03-10T02:00:00Z", "end": "2026-03-10T15:00:00Z"}
    assert rc["waiting_period"]["hours"] == 8
    i = rc["times"].index("2026-03-10T12:00:00Z")
    assert rc["actual"][i] == 0.0 and rc["baseline"][i] > 0
    assert not data.missing


def test_json_is_canonical_and_deterministic(data, tmp_path):
    a = render(data, "json", "en", ISS)
    b = render(sample_report_data(tmp_path), "json", "en", ISS)
    assert a == b
    doc = json.loads(a)
    assert doc["report"] == {"number": "LA-CTEST", "version": 1, "issued_at": ISS["issued_at"]}
    assert doc["totals"]["payable"] == data.totals["payable"]
    assert {lo["head"] for lo in doc["losses"]} >= {"business_interruption", "incident_response"}


def test_html_has_every_section_in_both_languages(data):
    for lang in ("zh", "en"):
        html = render(data, "html", lang, ISS).decode()
        for key in ("s_summary", "s_scope", "s_background", "s_chronology", "s_liability", "s_loss", "s_exhibits",
                    "s_method", "s_reservation"):
            assert LABELS[lang][key] in html, (lang, key)
        assert SHA_B in html.replace("<wbr>", "") and "record 17" in html
        assert money(data.totals["payable"], "CNY") in html
        assert html.count("data:image/svg+xml;base64,") == 3  # revenue, swimlanes, losses
    assert HEAD_ZH[Head.business_interruption] in render(data, "html", "zh", ISS).decode()


def _zip_texts(b: bytes) -> dict[str, bytes]:
    z = zipfile.ZipFile(io.BytesIO(b))
    return {i.filename: z.read(i.filename) for i in z.infolist()}


def test_docx_has_real_headings_tables_and_cjk_font(data):
    b = render(data, "docx", "zh", ISS)
    assert b == render(data, "docx", "zh", ISS)  # byte-identical: fixed zip stamps and core properties
    doc = Document(io.BytesIO(b))
    h1 = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert h1[:3] == [LABELS["zh"]["s_summary"], LABELS["zh"]["s_scope"], LABELS["zh"]["s_background"]]
    assert LABELS["zh"]["s_reservation"] in h1
    assert any(p.style.name == "Heading 2" for p in doc.paragraphs)
    cells = {c.text for t in doc.tables for r in t.rows for c in r.cells}
    assert SHA_A in cells and "record 17" in cells  # the chronology is a real, editable table
    assert len(doc.tables) >= 6
    styles = _zip_texts(b)["word/styles.xml"].decode()
    assert 'w:eastAsia="Noto Serif CJK SC"' in styles and 'w:eastAsia="Noto Sans CJK SC"' in styles


def test_xlsx_has_live_formulas_and_is_deterministic(data):
    b = render(data, "xlsx", "en", ISS)
    assert b == render(data, "xlsx", "en", ISS)
    # created and modified are the issuance time, never the wall clock (openpyxl's save stamps it)
    core = _zip_texts(b)["docProps/core.xml"].decode()
    assert core.count("2026-04-01T00:00:00Z") == 2, core
    wb = load_workbook(io.BytesIO(b))
    assert wb.sheetnames[0] == "Summary"
    assert set(wb.sheetnames[1:]) == {lo["head"] for lo in data.losses}
    ir = wb["incident_response"]
    formulas = [c.value for row in ir.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert any("B8" in f for f in formulas) and any("B10" in f for f in formulas)  # coinsurance, limit from inputs
    assert ir["B6"].value.startswith("=Summary!")  # the shared first-party retention is one input cell


def test_xlsx_recalculates_in_libreoffice_after_an_input_changes(data, tmp_path):
    soffice = need_tool("soffice")
    wb = load_workbook(io.BytesIO(render(data, "xlsx", "en", ISS)))
    by_head = {lo["head"]: lo for lo in data.losses}
    ir = wb["incident_response"]
    assert ir["B5"].value == by_head["incident_response"]["adjusted"]
    assert str(wb["business_interruption"]["B5"].value).startswith("=SUM(")  # BI is live arithmetic too
    ir["B5"] = 300000.0  # the adjuster revises the incident response invoices
    src = tmp_path / "in" / "schedule.xlsx"
    src.parent.mkdir()
    wb.save(src)
    out = tmp_path / "out"
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless", "--convert-to", "xlsx",
                    "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=180)
    calc = load_workbook(out / "schedule.xlsx", data_only=True)
    # independent arithmetic: the 50,000 first-party retention is eroded by BI first (policy order),
    # the rest by incident response; no coinsurance or sublimit on IR; limit 1,000,000
    bi_used = min(by_head["business_interruption"]["adjusted"] * 1.0, 50000.0)
    bi_after = (by_head["business_interruption"]["adjusted"] - bi_used) * (1 - 0.1)
    new_ir = 300000.0 - (50000.0 - bi_used)
    others = sum(lo["payable"] for h, lo in by_head.items() if h not in ("incident_response", "business_interruption"))
    expected = round(bi_after + new_ir + others, 2)
    names = calc.defined_names
    sheet, ref = next(iter(names["TotalPayable"].destinations))
    assert round(calc[sheet][ref.replace("$", "")].value, 2) == expected
    assert round(calc["incident_response"]["B" + str(_row_of(calc["incident_response"], "Section payable"))].value, 2) == round(new_ir, 2)
    # the hourly BI arithmetic reproduces the engine's adjusted figure from the hourly inputs
    assert abs(calc["business_interruption"]["B5"].value - by_head["business_interruption"]["adjusted"]) < 0.05
    # heads the adjuster did not touch recompute to exactly what the adjustment engine paid
    hw = calc["hardware_replacement"]
    assert round(hw["B" + str(_row_of(hw, "Section payable"))].value, 2) == by_head["hardware_replacement"]["payable"]


def _row_of(ws, prefix: str) -> int:
    return next(c.row for c in ws["A"] if isinstance(c.value, str) and c.value.startswith(prefix))


def test_pdf_prints_chinese_as_glyphs_with_embedded_cjk_fonts(data, tmp_path):
    need_tool("pdftotext"), need_tool("pdffonts"), need_tool("pdftoppm")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render(data, "pdf", "zh", ISS))
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [ln for ln in fonts.splitlines() if "CJK" in ln]
    assert cjk and all(" yes " in ln for ln in cjk)  # embedded
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for key in ("title", "s_summary", "s_chronology", "s_loss", "s_reservation"):
        assert LABELS["zh"][key] in text
    assert HEAD_ZH[Head.incident_response] in text and "CNY " in text
    # rendered: each character of the Chinese title is a distinct glyph. Tofu (missing-glyph boxes) would be
    # the same hollow box for every character; real glyphs differ from each other and carry ink inside.
    title = LABELS["zh"]["title"]
    bbox = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    import re

    import numpy as np
    from PIL import Image

    m = re.search(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">' + title + "</word>", bbox)
    assert m, "title not found as one word on page 1"
    x0, y0, x1, y1 = (float(v) * 2 for v in m.groups())  # points → pixels at 144 dpi
    subprocess.run(["pdftoppm", "-r", "144", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "p")], check=True)
    img = np.asarray(Image.open(next(tmp_path.glob("p*.png"))).convert("L")) < 128
    band = img[int(y0):int(y1) + 1, int(x0):int(x1) + 1]
    cells = np.array_split(band, len(title), axis=1)
    inks = [c.mean() for c in cells]
    assert min(inks) > 0.05  # every character has ink
    shapes = {c[:, :min(x.shape[1] for x in cells)].tobytes() for c in cells}
    assert len(shapes) == len(title)  # and no two look alike, as identical tofu boxes would


def test_missing_inputs_say_so_and_invent_no_figures():
    d = build_report_data({"id": "CEMPTY", "title": "empty", "insured": None}, [], {"ok": True, "entries": 1},
                          missing=["financials"])
    assert d.missing == ["evidence", "policy", "financials", "adjustment"]
    assert d.totals is None and d.losses == [] and d.revenue_chart is None
    for lang in ("zh", "en"):
        html = render(d, "html", lang, ISS).decode()
        for m in d.missing:
            zh, en = MISSING[m]
            assert zh in html and en in html
        assert "CNY" not in html and "0.00" not in html
        doc = Document(io.BytesIO(render(d, "docx", lang, ISS)))
        assert any(MISSING["policy"][0] in p.text for p in doc.paragraphs)
    wb = load_workbook(io.BytesIO(render(d, "xlsx", "zh", ISS)))
    assert wb.sheetnames == ["Summary"]


def test_undated_findings_go_last_and_are_not_dated_1970(tmp_path):
    from adjusters.report.samples import sample_events

    ev = sample_events()
    undated = dict(ev[0], event_id="f" * 64, timestamp=0, message="YARA match in memory image", locator="phys+0x1000")
    d = build_report_data({"id": "C1", "title": "t"}, [{"sha256": SHA_A, "size": 1, "original_name": "m.mem"}],
                          {"ok": True}, events=[undated] + ev)
    assert d.chronology[-1]["event_id"] == "f" * 64 and d.chronology[-1]["utc"] is None
    html = render(d, "html", "en", ISS).decode()
    assert "1970" not in html and "undated" in html


def test_charts_are_deterministic_and_undated(data):
    from adjusters.report.charts import render_chart

    for key in ("revenue", "swimlanes", "losses"):
        for fmt in ("svg", "png"):
            a, b = render_chart(key, data, "zh", fmt), render_chart(key, data, "zh", fmt)
            assert a == b and len(a) > 1000, (key, fmt)
        svg = render_chart(key, data, "en", "svg").decode()
        assert "<dc:date>" not in svg and "Matplotlib" not in svg
