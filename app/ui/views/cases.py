"""Cases: create, open, status."""
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app.ui._shell import guarded, page
from app.ui.i18n import t
from case_store import cases, users
from case_store.home import home

p = page("cases", case_scoped=False)
st.title(t("Cases"))

visible = users.visible_cases(p.user)
if visible:
    st.dataframe(pd.DataFrame([{t("Case"): c.id, t("Title"): c.title, t("Insured"): c.insured, t("Status"): t(c.status),
                                t("Created"): c.created_at, t("Created by"): c.created_by,
                                t("Policy"): "✓" if c.policy_path else "—", t("Financials"): "✓" if c.financials_path else "—"}
                               for c in visible]), hide_index=True, width="stretch")
    ids = [c.id for c in visible]
    current = st.session_state.get("case_id")
    pick = st.selectbox(t("Case"), ids, index=ids.index(current) if current in ids else 0, key="open_case_pick",
                        format_func=lambda i: f"{i} — {next(c.title for c in visible if c.id == i)}")
    if st.button(t("Open case"), key="open_case"):
        if users.can(p.user, "view", pick):
            st.session_state["case_id"] = pick
            users.record_view(p.user, pick, "case")
            st.success(t("Opened case {case}.", case=pick))
        else:
            st.error(t("You do not have access to case {case}.", case=pick))
    if users.can(p.user, "set_status", pick):  # lawyers read; they do not move a case along
        now = next(c.status for c in visible if c.id == pick)
        s1, s2 = st.columns([3, 1], vertical_alignment="bottom")
        status = s1.selectbox(t("Status of {case}", case=pick), cases.CASE_STATUSES, key=f"case_status_{pick}",
                              index=cases.CASE_STATUSES.index(now) if now in cases.CASE_STATUSES else 0, format_func=t)
        if s2.button(t("Set status"), key="case_status_set", disabled=status == now):
            if guarded(users.set_status, p.user, pick, status) is not None:
                st.rerun()
else:
    st.info(t("No cases you can open yet."))

if p.user.role != "lawyer" and users.can(p.user, "create_case"):
    st.subheader(t("New case"))
    with st.form("new_case"):
        title = st.text_input(t("Title"), key="new_title")
        insured = st.text_input(t("Insured"), key="new_insured")
        policy = st.file_uploader(t("Policy (YAML, optional)"), type=["yaml", "yml"], key="new_policy")
        ok = st.form_submit_button(t("Create case"))
    if ok:
        def _create():
            pol_path = None
            with tempfile.TemporaryDirectory(dir=home()) as d:
                if policy is not None:
                    from adjusters.policy import parse_policy

                    text = policy.getvalue().decode("utf-8", errors="replace")
                    parse_policy(text, "policy.yaml")  # a broken policy stops here, before any case exists
                    pol_path = Path(d) / "policy.yaml"
                    pol_path.write_text(text, encoding="utf-8")
                return users.create_case(p.user, title, insured or None, pol_path)
        c = guarded(_create)
        if c is not None:
            st.session_state["case_id"] = c.id
            st.success(t("Created case {case}.", case=c.id))
