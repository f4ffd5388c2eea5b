"""What every page does first: language, sign-in, the open case, access check, custody of the view."""
from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from app.ui.i18n import LANGS, t
from case_store import CyberclaimError, users
from case_store.clock import current_actor, set_acting

SINGLE_USER_ENV = "CYBERCLAIM_UI_SINGLE_USER"
CASE_ENV = "CYBERCLAIM_UI_CASE"


@dataclass
class Page:
    user: users.Principal
    case_id: str | None

    def can(self, action: str) -> bool:
        return users.can(self.user, action, self.case_id)


def _language() -> None:
    # "lang" is plain session state, not the radio's own key: Streamlit drops a widget's state when
    # another page is shown, and the chosen language must survive moving between pages.
    ss = st.session_state
    if "lang" not in ss:
        ss["lang"] = os.environ.get("CYBERCLAIM_UI_LANG", "en") if os.environ.get("CYBERCLAIM_UI_LANG") in LANGS else "en"
    ss["_lang_pick"] = ss["lang"]

    def chosen():
        ss["lang"] = ss["_lang_pick"]

    st.sidebar.radio("Language / 语言", LANGS, key="_lang_pick", horizontal=True, on_change=chosen,
                     format_func=lambda x: {"en": "English", "zh": "中文"}[x])


def _single_user() -> users.Principal | None:
    if os.environ.get(SINGLE_USER_ENV) != "1":
        return None
    host = str(st.get_option("server.address") or "")
    if not users.single_user_allowed(host):
        st.error(t("Single-user mode is refused: the server is not bound to localhost."))
        st.stop()
    return users.local_principal(current_actor())


def _login() -> None:
    st.title("cyberclaim")
    if not users.has_users():
        st.warning(t("No users yet. An administrator creates the first one with: cyberclaim user add NAME --role admin"))
        st.stop()
    with st.form("login"):
        name = st.text_input(t("User name"), key="login_name")
        pw = st.text_input(t("Password"), type="password", key="login_password")
        ok = st.form_submit_button(t("Sign in"))
    if ok:
        who = users.authenticate(name, pw)
        if who is None:
            st.error(t("Wrong user name or password."))
        else:
            st.session_state["username"] = who.username
            st.rerun()
    st.stop()


def current_user() -> users.Principal:
    who = _single_user()
    if who is None:
        name = st.session_state.get("username")
        who = users.get_user(name) if name else None  # re-read each run: a role change or removal applies at once
        if who is None:
            st.session_state.pop("username", None)
            _login()
    set_acting(who.username)
    return who


def page(name: str, case_scoped: bool = True, action: str = "view") -> Page:
    """Run at the top of every page; stops the page (with a message) when the user may not see it."""
    _language()
    who = current_user()
    st.sidebar.caption(f"{who.username} · {t(who.role)}")
    if not who.single_user and st.sidebar.button(t("Sign out")):
        for k in list(st.session_state.keys()):
            if k != "lang":
                del st.session_state[k]
        st.rerun()
    case_id = st.session_state.get("case_id") or os.environ.get(CASE_ENV) or None
    if case_id:
        st.sidebar.caption(f"{t('Case')}: {case_id}")
    if not case_scoped:
        if action != "view" and not users.can(who, action, case_id):
            st.error(t("You do not have access to this page."))
            st.stop()
        return Page(who, case_id)
    if not case_id:
        st.info(t("Open a case on the Cases page first."))
        st.stop()
    if not users.can(who, action, case_id):
        st.error(t("You do not have access to case {case}.", case=case_id))
        st.stop()
    seen = st.session_state.setdefault("_viewed", set())
    if (case_id, name) not in seen:
        users.record_view(who, case_id, name)
        seen.add((case_id, name))
    return Page(who, case_id)


def guarded(fn, *args, **kwargs):
    """Run an action; a problem the user can act on becomes one clear message in the page."""
    try:
        return fn(*args, **kwargs)
    except CyberclaimError as e:
        st.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except ValueError as e:
        st.error(str(e).splitlines()[0])
    return None


def money(x) -> str:
    return "" if x is None else f"{x:,.2f}"
