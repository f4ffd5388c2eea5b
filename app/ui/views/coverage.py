"""Coverage (定责): each policy section's decision, with reasons and the cited events."""
import streamlit as st

from app.ui import _data
from app.ui._shell import guarded, page
from app.ui.i18n import t
from forensics import findings

p = page("coverage")
st.title(t("Coverage (定责)"))

with st.spinner(t("Deciding coverage…")):
    res = guarded(_data.adjusted, p.case_id)
if res is None:
    st.stop()
st.caption(f"{res.policy_number} · {res.insured} · {res.currency} · {res.method}")
ICON = {"triggered": "🟢", "not_triggered": "⚪", "excluded": "🔴", "needs_review": "🟡"}
for c in res.coverage:
    dec = c.decision.value
    with st.expander(f"{ICON.get(dec, '')} **{c.section}** — {t(dec)}", expanded=dec != "not_triggered"):
        for r in c.reasons:
            st.markdown(f"- {r}")
        if c.cited_documents:
            st.caption(t("Documents: {d}", d="; ".join(c.cited_documents)))
        if c.cited_event_ids:
            st.dataframe(findings.events_by_id(p.case_id, c.cited_event_ids), hide_index=True, width="stretch")
for w in res.warnings:
    st.warning(w)
