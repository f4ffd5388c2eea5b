"""Reports: issue the loss report in every format and language (logged in the chain of custody)."""
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from adjusters.report.i18n import LANGS
from adjusters.report.issue import FORMATS, issue_report, list_reports
from app.ui._shell import guarded, page
from app.ui.i18n import t
from case_store import users
from case_store.clock import acting_as
from case_store.home import case_dir

p = page("reports")
st.title(t("Reports"))
MIME = {"pdf": "application/pdf", "json": "application/json", "html": "text/html",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

if p.can("export"):
    c1, c2 = st.columns(2)
    fmt = c1.selectbox(t("Format"), FORMATS, key="rep_fmt")
    ui_lang = st.session_state.get("lang", "en")  # the report's language follows the interface's until chosen
    lang = c2.selectbox(t("Language"), LANGS, key="rep_lang", index=list(LANGS).index(ui_lang) if ui_lang in LANGS else 0,
                        format_func=lambda x: {"en": "English", "zh": "中文"}.get(x, x))
    if st.button(t("Issue report"), key="rep_issue"):
        def _issue():
            out_dir = case_dir(p.case_id) / "reports" / "exports"
            out_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=out_dir) as d:
                with acting_as(p.user.username):
                    out = issue_report(p.case_id, fmt, lang, Path(d) / f"report.{lang}.{fmt}")
                data = out.read_bytes()
            users.record_export(p.user, p.case_id, f"report {fmt} {lang}", bytes=len(data))
            return data
        with st.spinner(t("Issuing the report…")):
            data = guarded(_issue)
        if data is not None:
            st.session_state["rep_last"] = (fmt, lang, data)
    last = st.session_state.get("rep_last")
    if last:
        f, l, data = last
        st.success(t("Report issued ({fmt}, {lang}, {n:,} bytes).", fmt=f, lang=l, n=len(data)))
        st.download_button(t("Download"), data, file_name=f"{p.case_id}.{l}.{f}", mime=MIME.get(f), key="rep_dl")

st.subheader(t("Issued reports"))
rows = list_reports(p.case_id)
if rows:
    st.dataframe(pd.DataFrame([{t("Number"): r.number, t("Version"): r.version, t("Format"): r.format,
                                t("Language"): r.lang, "SHA-256": r.sha256, t("Issued"): r.created_at} for r in rows]),
                 hide_index=True, width="stretch")
else:
    st.caption(t("None issued yet."))
