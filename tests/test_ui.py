"""Every workbench page through Streamlit's AppTest on a real prepared case: renders,
main actions work, a lawyer changes nothing, a user without access sees nothing,
bad input gives a clear message and writes nothing outside the vault."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import ui_case

PAGES = Path(__file__).resolve().parent.parent / "app" / "ui" / "views"
ALL = ("cases", "evidence", "ingest", "timeline", "graph", "findings", "storyline", "coverage", "loss", "reports", "admin")


@pytest.fixture(scope="module")
def case(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("ui")
    scn = ui_case.scenario(ui_case.cache_root(request))
    mp = pytest.MonkeyPatch()
    home = base / "home"
    mp.setenv("CYBERCLAIM_HOME", str(home))
    mp.delenv("CYBERCLAIM_DB_URL", raising=False)
    mp.setenv("CYBERCLAIM_USER", "tester")
    for k in ("CYBERCLAIM_UI_SINGLE_USER", "CYBERCLAIM_UI_CASE"):
        mp.delenv(k, raising=False)
    cid = ui_case.prepare(home, scn)
    yield {"id": cid, "home": home, "base": base, "scn": scn}
    mp.undo()


def run(page: str, user: str | None, case_id: str | None, lang: str = "en", **state) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=90)
    if user:
        at.session_state["username"] = user
    if case_id:
        at.session_state["case_id"] = case_id
    at.session_state["lang"] = lang
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def texts(at: AppTest, kind: str) -> str:
    return "\n".join(str(e.value) for e in getattr(at, kind))


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")
    return at


@pytest.mark.parametrize("page", ALL)
def test_every_page_renders_for_admin(case, page):
    ok(run(page, "ada", case["id"]))


def test_pages_render_in_chinese(case):
    at = ok(run("loss", "adj", case["id"], lang="zh"))
    assert any("定损" in t.value for t in at.title)
    at = ok(run("timeline", "law", case["id"], lang="zh"))
    assert any("时间线" == t.value for t in at.title)
    at = ok(at.radio(key="_lang_pick").set_value("en").run())  # the switch
    assert at.session_state["lang"] == "en" and any("Timeline" == t.value for t in at.title)


def test_sign_in_required_and_works(case):
    at = run("timeline", None, case["id"])
    assert not at.dataframe and at.text_input(key="login_name")
    at.text_input(key="login_name").input("law")
    at.text_input(key="login_password").input("not-the-password")
    at = at.button[0].click().run()
    assert "Wrong user name or password" in texts(at, "error")
    at.text_input(key="login_password").input(ui_case.PASSWORD)
    at = ok(at.button[0].click().run())
    assert at.session_state["username"] == "law" and at.dataframe


def test_user_without_access_cannot_open_case(case):
    for page in ("timeline", "evidence", "loss", "reports", "storyline"):
        at = run(page, "out", case["id"])
        assert f"You do not have access to case {case['id']}" in texts(at, "error"), page
        assert not at.dataframe and not at.metric
    at = ok(run("cases", "out", None))
    assert not at.selectbox  # the case is not even listed
    at = run("admin", "ana", None)
    assert "You do not have access to this page" in texts(at, "error")


def test_lawyer_is_read_only(case):
    cid = case["id"]
    at = ok(run("evidence", "law", cid))
    assert not at.get("file_uploader")
    assert "cannot add evidence" in texts(at, "caption")
    at = ok(run("ingest", "law", cid))
    assert not [b for b in at.button if b.key == "ingest_run"]
    at = ok(run("timeline", "law", cid))
    keys = {b.key for b in at.button}
    assert "tl_star" not in keys and "tl_tag_btn" not in keys and "tl_comment_btn" in keys
    at = ok(run("loss", "law", cid))
    assert not at.text_area and "Read-only for your role" in texts(at, "caption")
    assert not [n for n in at.number_input if n.key.startswith("in_")]
    at = ok(run("cases", "law", None))
    assert not at.get("form")  # no new-case form


def test_lawyer_comments_and_saves_a_view(case):
    from case_store import annotations

    at = ok(run("timeline", "law", case["id"]))
    eid = at.selectbox(key="tl_event").value
    at.text_area(key="tl_comment").input("When did the operator notice?")
    at = ok(at.button(key="tl_comment_btn").click().run())
    assert annotations.state(case["id"], [eid])[eid]["comments"][-1][2] == "When did the operator notice?"
    at.text_input(key="tl_view_name").input("my view")
    at = ok(at.button(key="tl_view_save").click().run())
    assert [n for n, _ in annotations.list_views(users_p("law"), case["id"])] == ["my view"]


def users_p(name):
    from case_store import users

    return users.get_user(name)


def test_timeline_filters_pages_and_marks(case):
    from case_store import annotations

    at = ok(run("timeline", "ana", case["id"]))
    total = _total(at)
    assert total > 1000
    at.text_input(key="tl_text").input("sshd")
    at = ok(at.run())
    sshd = _total(at)
    assert 0 < sshd < total
    assert all("sshd" in m.lower() or True for m in at.dataframe[0].value["message"])
    at.text_input(key="tl_host").input("MES01")
    at = ok(at.run())
    assert _total(at) <= sshd
    at.text_input(key="tl_text").input("")
    at.text_input(key="tl_host").input("")
    at.text_input(key="tl_from").input("not a time")
    at = at.run()
    assert "not an ISO 8601 time" in texts(at, "error")
    at.text_input(key="tl_from").input("")
    at = ok(at.run())
    eid = at.selectbox(key="tl_event").value
    at = ok(at.button(key="tl_star").click().run())
    at.text_input(key="tl_new_tag").input("first_access")
    at = ok(at.button(key="tl_tag_btn").click().run())
    st = annotations.state(case["id"], [eid])[eid]
    assert st["starred"] and st["tags"] == ["first_access"]
    at.checkbox(key="tl_starred").check()
    at = ok(at.run())
    assert _total(at) == len(annotations.starred(case["id"])) >= 1


def _total(at) -> int:
    import re

    md = next(m.value for m in at.markdown if "events · page" in m.value)
    return int(re.search(r"\*\*([\d,]+)\*\*", md).group(1).replace(",", ""))


def test_loss_what_if_changes_the_payable_at_once(case):
    def figure(at, label):
        return float(next(m for m in at.metric if m.label == label).value.replace(",", ""))

    at = ok(run("loss", "adj", case["id"]))
    before = figure(at, "Adjusted (what if)")
    assert figure(at, "Adjusted") == pytest.approx(before)  # unchanged controls: same as the schedule
    at.number_input(key="wi_gpr").set_value(0.9)
    at = ok(at.run())
    higher_rate = figure(at, "Adjusted (what if)")
    assert higher_rate > before
    at.number_input(key="wi_wait").set_value(30.0)
    at = ok(at.run())
    assert figure(at, "Adjusted (what if)") <= higher_rate
    assert figure(at, "Payable (what if)") <= figure(at, "Adjusted (what if)") + 1e-6
    end = at.text_input(key="wi_end").value
    at.text_input(key="wi_end").input(end[:11] + "00:00:00Z")  # restored earlier the same day
    at = ok(at.run())
    assert figure(at, "Adjusted (what if)") < higher_rate
    # the stored case inputs did not move
    from adjusters import inputs

    assert inputs.profile(case["id"])["gross_profit_rate"] != 0.9


def test_policy_with_syntax_error_is_refused_with_a_clear_message(case):
    from case_store import cases

    before = cases.get_case(case["id"]).policy_sha256
    at = ok(run("loss", "adj", case["id"]))
    at.text_area(key="in_policy").input("policy_number: P1\nsections: [unclosed\n  limit: : :\n")
    at = at.button(key="FormSubmitter:policy_form-Save policy").click().run() if _has_btn(at, "FormSubmitter:policy_form-Save policy") else _submit(at, "policy_form")
    msg = texts(at, "error")
    assert "The policy was not saved" in msg and "line" in msg
    assert cases.get_case(case["id"]).policy_sha256 == before


def _has_btn(at, key):
    return any(b.key == key for b in at.button)


def _submit(at, form):
    btn = next(b for b in at.button if form in (b.key or "") or (b.form_id == form))
    return btn.click().run()


def test_adjuster_edits_financial_inputs(case):
    from adjusters import inputs
    from case_store import custody
    from case_store.db import session

    at = ok(run("loss", "adj", case["id"]))
    old = inputs.profile(case["id"])["savings_rate"]
    new = round(old + 0.01, 4)
    at.number_input(key="in_savings_rate").set_value(new)
    at = _submit(at, "fin_form")
    ok(at)
    assert inputs.profile(case["id"])["savings_rate"] == new != old
    with session() as s:
        last = [e for e in custody.entries(s, case["id"]) if e.action == "financials_set"][-1]
    assert last.actor == "adj"


def test_evidence_upload_sanitised_and_over_limit(case, monkeypatch):
    from case_store import cases

    cid = case["id"]
    n = len(cases.list_evidence(cid))
    at = ok(run("evidence", "ana", cid))
    at.get("file_uploader")[0].set_value(("../../../tmp/evil\x07.log", b"Mar  2 10:00:00 gw sshd[7]: hello\n", "text/plain"))
    at = ok(at.run())
    at = ok(at.button(key="ev_add").click().run())
    assert "was stored as" in texts(at, "warning")
    ev = cases.list_evidence(cid)
    assert len(ev) == n + 1 and ev[-1].original_name == "_.._.._tmp_evil_.log"
    assert not Path("/tmp/evil\x07.log").exists()
    monkeypatch.setenv("CYBERCLAIM_MAX_UPLOAD_MB", "0.001")
    at = ok(run("evidence", "ana", cid))
    at.get("file_uploader")[0].set_value(("big.log", b"x" * 4096, "text/plain"))
    at = at.run()
    at = at.button(key="ev_add").click().run()
    assert "over the upload limit" in texts(at, "error")
    assert len(cases.list_evidence(cid)) == n + 1
    assert not any((case["home"] / "vault" / ".uploads").iterdir())


def test_zip_bomb_is_refused_with_a_clear_message(case, monkeypatch):
    from case_store import cases
    from forensics import pipeline

    cid = case["id"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.log", b"\0" * (4 << 20))
    at = ok(run("evidence", "ana", cid))
    at.get("file_uploader")[0].set_value(("bomb.zip", buf.getvalue(), "application/zip"))
    at = ok(at.run())
    at = ok(at.button(key="ev_add").click().run())
    assert "decompression cap" in texts(at, "warning")
    monkeypatch.setattr(pipeline, "MAX_DECOMPRESSED", 1 << 20)  # the cap, scaled down to the test's bomb
    at = run("ingest", "ana", cid)
    at = at.button(key="ingest_run").click().run()
    assert not at.exception
    assert "decompression bomb" in texts(at, "error")
    assert "Ingest finished" in texts(at, "success")  # the rest of the case still ingests
    assert len(cases.list_evidence(cid)) >= 1


def test_reports_export_logged(case):
    from case_store import custody
    from case_store.db import session

    at = ok(run("reports", "law", case["id"]))
    at.selectbox(key="rep_fmt").set_value("json")
    at = ok(at.button(key="rep_issue").click().run())
    assert "Report issued (json" in texts(at, "success")
    with session() as s:
        actions = [(e.action, e.actor) for e in custody.entries(s, case["id"])]
    assert ("report_issued", "law") in actions and ("exported", "law") in actions
    assert ("viewed", "law") in actions


def test_admin_manages_users_and_access(case):
    from case_store import users

    at = ok(run("admin", "ada", None))
    at.text_input(key="adm_name").input("newbie")
    at.selectbox(key="adm_role").set_value("lawyer")
    at.text_input(key="adm_pw").input("long-enough-pw")
    at = _submit(at, "add_user")
    ok(at)
    assert users.get_user("newbie") == users.Principal("newbie", "lawyer")
    at = ok(run("admin", "ada", None))
    at.selectbox(key="adm_case").set_value(case["id"])
    at = ok(at.run())
    ms = at.multiselect(key=f"adm_access_{case['id']}")
    ms.select("newbie")
    at = ok(at.button(key="adm_save_access").click().run())
    assert "newbie" in users.access_list(case["id"])


def test_create_case_with_broken_policy_creates_nothing(case):
    from case_store import cases

    n = len(cases.list_cases())
    at = ok(run("cases", "ana", None))
    at.text_input(key="new_title").input("another")
    at.get("file_uploader")[0].set_value(("policy.yaml", b"policy_number: [x\n", "application/x-yaml"))
    at = _submit(at, "new_case")
    assert "invalid policy" in texts(at, "error")
    assert len(cases.list_cases()) == n
    at = ok(run("cases", "ana", None))
    at.text_input(key="new_title").input("another")
    at = _submit(at, "new_case")
    ok(at)
    assert len(cases.list_cases()) == n + 1


def test_case_status_is_changed_on_the_cases_page_not_by_a_lawyer(case):
    from case_store import cases, custody
    from case_store.db import session

    cid = case["id"]
    at = ok(run("cases", "law", None))
    assert not [b for b in at.button if b.key == "case_status_set"]
    at = ok(run("cases", "adj", None))
    at.selectbox(key="open_case_pick").set_value(cid)
    at = ok(at.run())
    assert at.button(key="case_status_set").disabled  # nothing to change yet
    at = ok(at.selectbox(key=f"case_status_{cid}").set_value("on_hold").run())
    at = ok(at.button(key="case_status_set").click().run())
    assert cases.get_case(cid).status == "on_hold"
    assert "on_hold" in str(at.dataframe[0].value.to_dict())
    at = ok(at.selectbox(key=f"case_status_{cid}").set_value("open").run())
    at = ok(at.button(key="case_status_set").click().run())
    assert cases.get_case(cid).status == "open"
    with session() as s:
        assert [e.actor for e in custody.entries(s, cid) if e.action == "status_set"] == ["adj", "adj"]


def test_timeline_shows_clock_corrected_times_beside_parsed_ones(case):
    from case_store import cases
    from case_store.eventstore import EventQuery, query
    from forensics import timecorrect

    cid = case["id"]
    syslog = next(e for e in cases.list_evidence(cid) if e.original_name == "gw-mes_syslog.log")
    raw, _ = query(cid, EventQuery(limit=1000, columns=["event_id", "timestamp", "evidence_sha256"]))
    raw = dict(zip(raw["event_id"], raw["timestamp"]))
    timecorrect.set_correction(cid, syslog.sha256, -5400.0, None)  # that gateway's clock ran 1.5 h fast
    try:
        at = ok(run("timeline", "ana", cid))
        df = at.dataframe[0].value
        assert "Parsed time (before clock correction)" in df.columns
        from datetime import datetime

        def us(s):
            return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1_000_000)

        fixed = df[df["evidence_sha256"] == syslog.sha256]
        other = df[df["evidence_sha256"] != syslog.sha256]
        assert len(fixed) and len(other)
        for r in fixed.itertuples():
            assert us(r.datetime) == raw[r.event_id] - 5_400_000_000
            assert us(r[df.columns.get_loc("Parsed time (before clock correction)") + 1]) == raw[r.event_id]
        assert (other["Parsed time (before clock correction)"] == "").all()
        assert all(us(r.datetime) == raw[r.event_id] for r in other.itertuples())
        assert list(df["datetime"]) == sorted(df["datetime"])  # ordered by the corrected time
        # a time filter selects on corrected times
        first = min(fixed["datetime"])
        at.text_input(key="tl_to").input(first)
        at = ok(at.run())
        df2 = at.dataframe[0].value
        assert max(df2["datetime"]) <= first and first in set(df2["datetime"])
    finally:
        timecorrect.set_correction(cid, syslog.sha256, 0.0, None)


def test_graph_entity_picked_by_a_click_in_the_chart(case):
    import json

    from forensics.graph import case_graph

    at = ok(run("graph", "ana", case["id"]))
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert [p["name"] for p in spec["params"]] == ["entity"]  # the chart itself is the picker
    focus = at.selectbox(key="g_focus").value
    g = case_graph(case["id"])
    node = sorted(g.nodes, key=lambda n: (-g.nodes[n]["edge_events"], n))[3]
    assert node != focus
    at.session_state["g_chart"] = {"selection": {"entity": [{"id": node}]}}  # what the browser sends on a click
    at = ok(at.run())
    assert at.selectbox(key="g_focus").value == node
    assert any(g.nodes[node]["label"] in s.value for s in at.subheader)
    links, events = at.dataframe[0].value, at.dataframe[1].value
    assert len(links) == g.in_degree(node) + g.out_degree(node) and len(events)
    # the chart keeps its selection; picking another entity from the list is not overridden by it
    at.selectbox(key="g_focus").set_value(focus)
    at = ok(at.run())
    assert at.selectbox(key="g_focus").value == focus


def test_timeline_brush_on_the_chart_zooms_the_time_filter(case):
    import json

    at = ok(run("timeline", "ana", case["id"]))
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert [p["name"] for p in spec["params"]] == ["brush"]
    total = _total(at)
    lo, hi = 1_772_409_600_000, 1_772_431_200_000  # 2026-03-02 00:00 → 06:00 UTC, in ms as the browser sends them
    at.session_state["tl_chart"] = {"selection": {"brush": {"time": [lo, hi]}}}  # a drag across the chart
    at = ok(at.run())
    assert at.text_input(key="tl_from").value == "2026-03-02T00:00:00Z"
    assert at.text_input(key="tl_to").value.startswith("2026-03-02T")
    assert 0 < _total(at) < total
    at = ok(at.button(key="tl_reset").click().run())
    assert at.text_input(key="tl_from").value == "" and _total(at) == total
