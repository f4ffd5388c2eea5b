"""Admin: users, roles, per-case access."""
import pandas as pd
import streamlit as st

from app.ui._shell import guarded, page
from app.ui.i18n import t
from case_store import CyberclaimError, cases, users

p = page("admin", case_scoped=False, action="admin")
st.title(t("Administration"))

st.subheader(t("Users"))
all_users = users.list_users()
st.dataframe(pd.DataFrame([{t("User name"): u.username, t("Role"): t(u.role)} for u in all_users],
                          columns=[t("User name"), t("Role")]), hide_index=True, width="stretch")

with st.form("add_user"):
    c1, c2, c3 = st.columns(3)
    name = c1.text_input(t("User name"), key="adm_name")
    role = c2.selectbox(t("Role"), users.ROLES, key="adm_role", format_func=t)
    pw = c3.text_input(t("Password"), type="password", key="adm_pw")
    if st.form_submit_button(t("Add user")):
        if guarded(users.add_user, name, role, pw) is not None:
            st.success(t("User {name} added.", name=name))
            st.rerun()

if all_users:
    names = [u.username for u in all_users]
    c1, c2 = st.columns(2)
    who = c1.selectbox(t("User"), names, key="adm_who")
    new_role = c2.selectbox(t("Role"), users.ROLES, key="adm_new_role", format_func=t,
                            index=users.ROLES.index(next(u.role for u in all_users if u.username == who)))
    b1, b2, b3 = st.columns(3)
    if b1.button(t("Change role"), key="adm_set_role"):
        guarded(users.set_role, who, new_role)
        st.rerun()
    new_pw = b2.text_input(t("New password"), type="password", key="adm_new_pw")
    if b2.button(t("Set password"), key="adm_set_pw"):
        try:
            users.set_password(who, new_pw)
            st.success(t("Password set."))
        except CyberclaimError as e:
            st.error(str(e))
    if b3.button(t("Remove user"), key="adm_remove", disabled=who == p.user.username):
        guarded(users.remove_user, who)
        st.rerun()

st.subheader(t("Access per case"))
all_cases = cases.list_cases()
if all_cases:
    cid = st.selectbox(t("Case"), [c.id for c in all_cases], key="adm_case",
                       format_func=lambda i: f"{i} — {next(c.title for c in all_cases if c.id == i)}")
    current = users.access_list(cid)
    chosen = st.multiselect(t("Users with access"), [u.username for u in all_users if u.role != "admin"],
                            default=[u for u in current if u in {x.username for x in all_users}], key=f"adm_access_{cid}")
    if st.button(t("Save access"), key="adm_save_access"):
        for u in set(chosen) - set(current):
            guarded(users.grant, u, cid, p.user.username)
        for u in set(current) - set(chosen):
            guarded(users.revoke, u, cid, p.user.username)
        st.success(t("Access saved."))
    st.caption(t("Administrators see every case."))
