"""Findings: YARA, PE, Sigma, network and log detections."""
import streamlit as st

from app.ui._shell import page
from app.ui.i18n import t
from forensics import findings

p = page("findings")
st.title(t("Findings"))

LABELS = {"yara": "YARA", "pe": "PE", "sigma": "Sigma", "network": t("Network"), "log": t("Logs")}
n = findings.counts(p.case_id)
cols = st.columns(len(LABELS))
for c, (k, label) in zip(cols, LABELS.items()):
    c.metric(label, f"{n[k]:,}")
for tab, k in zip(st.tabs([f"{LABELS[k]} ({n[k]:,})" for k in LABELS]), LABELS):
    with tab:
        df = findings.list_findings(p.case_id, k)
        if len(df):
            df = df.assign(tags=df["tags"].map(lambda x: ", ".join(x) if x is not None else ""),
                           attack=df["attack"].map(lambda x: ", ".join(x) if x is not None else ""))
            st.dataframe(df, hide_index=True, width="stretch")
        else:
            st.caption(t("None."))
