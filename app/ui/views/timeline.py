"""Timeline: filters, a zoomable chart of counts per time bucket, a server-side paged table, annotations, saved views.

Times are shown corrected by the case's recorded per-evidence clock offsets; where one
applies, the time the parser derived is shown beside it. Filters, chart and table run
in one fragment, so a filter change reruns only them (not the page shell or sidebar);
chart and page reads are cached per (case source, filter[, page])."""
import time
from dataclasses import replace
from datetime import datetime, timezone

import altair as alt
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app.ui._shell import guarded, page
from app.ui.i18n import t
from case_store import annotations, eventstats
from case_store.eventstore import EventQuery

PAGE_ROWS = 100
FILTERS = ("from", "to", "host", "user", "ip", "tag", "data_type", "text", "starred", "mark")
SHOWN = ["datetime", "data_type", "host", "user", "src_ip", "dst_ip", "message", "severity", "tags", "event_id",
         "evidence_sha256", "locator", "parser"]

p = page("timeline")
st.title(t("Timeline"))
src = eventstats.source(p.case_id)


def _us(text: str, label: str):
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        st.error(t("{field}: not an ISO 8601 time: {value}", field=t(label), value=text))
        st.stop()
    return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp() * 1_000_000)


def _rerun() -> None:
    """Rerun just the timeline fragment when this run is a fragment rerun, else the page."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:  # a full-page run (first visit, sidebar action): fragment scope is refused
        st.rerun()


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@st.cache_data(max_entries=64, show_spinner=False)
def _counts(src: eventstats.Source, q: EventQuery) -> eventstats.Counts:
    """One scan per filter: feeds the chart and locates every page."""
    return eventstats.counts(src, q)


@st.cache_data(max_entries=64, show_spinner=False)
def _chart(src: eventstats.Source, q: EventQuery, lang: str) -> tuple[dict | None, int]:
    """The chart's Vega-Lite spec for one filter (built and validated once, not per page turn)."""
    hist, width = eventstats.chart_buckets(_counts(src, q))
    if not len(hist):
        return None, width
    hist["time"] = pd.to_datetime(hist["bucket_us"], unit="us", utc=True)
    brush = alt.selection_interval(encodings=["x"], name="brush")
    chart = (alt.Chart(hist[["time", "series", "count"]]).mark_bar().encode(
        x=alt.X("time:T", title=t("Time (UTC)")), y=alt.Y("sum(count):Q", title=t("Events")),
        color=alt.Color("series:N", title=t("Severity")),
        tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M:%S"), "series:N", "count:Q"],
    ).add_params(brush).properties(height=180))
    return chart.to_dict(), width


@st.cache_data(max_entries=256, show_spinner=False)
def _page(src: eventstats.Source, q: EventQuery) -> tuple[pd.DataFrame, int]:
    return eventstats.page(src, q, _counts(src, eventstats.unpaged(q)))


with st.sidebar.expander(t("Saved views"), expanded=False):  # the sidebar is outside the fragment: full reruns here
    views = annotations.list_views(p.user, p.case_id)
    if views:
        names = [n for n, _ in views]
        pick = st.selectbox(t("View"), names, key="tl_view_pick")
        if st.button(t("Load view"), key="tl_view_load"):
            st.session_state["tl_pending"] = {k: dict(views)[pick].get(k, False if k == "starred" else "") for k in FILTERS}
            st.session_state["tl_page"] = 1
            st.rerun()
    vname = st.text_input(t("Save current filter as"), key="tl_view_name")
    if st.button(t("Save view"), key="tl_view_save") and vname:
        cur = {k: st.session_state.get(f"tl_{k}", "") for k in FILTERS}
        if guarded(annotations.save_view, p.user, p.case_id, vname, cur) is not None:
            st.success(t("Saved view {name}.", name=vname))


def _filters() -> EventQuery:
    # pending changes from the chart brush, a loaded view or the graph page are applied before the widgets exist
    for k, v in st.session_state.pop("tl_pending", {}).items():
        st.session_state[f"tl_{k}"] = v
    c1, c2, c3, c4 = st.columns(4)
    c1.text_input(t("From (UTC, ISO 8601)"), key="tl_from")
    c2.text_input(t("To (UTC, ISO 8601)"), key="tl_to")
    c3.text_input(t("Host"), key="tl_host")
    c4.text_input(t("User"), key="tl_user")
    c5, c6, c7, c8 = st.columns(4)
    c5.text_input(t("IP"), key="tl_ip")
    c6.text_input(t("Tag"), key="tl_tag")
    c7.text_input(t("Data type (prefix*)"), key="tl_data_type")
    c8.text_input(t("Text"), key="tl_text")
    c9, c10 = st.columns(2)
    c9.checkbox(t("Starred only"), key="tl_starred")
    c10.text_input(t("Analyst tag"), key="tl_mark")
    ss = st.session_state
    ids = None
    if ss.get("tl_starred"):
        ids = annotations.starred(p.case_id)
    if ss.get("tl_mark"):
        marked = annotations.tagged(p.case_id, ss["tl_mark"].strip())
        ids = marked if ids is None else sorted(set(ids) & set(marked))
    return EventQuery(start_us=_us(ss.get("tl_from", ""), "From (UTC, ISO 8601)"),
                      end_us=_us(ss.get("tl_to", ""), "To (UTC, ISO 8601)"),
                      host=ss.get("tl_host") or None, user=ss.get("tl_user") or None, ip=ss.get("tl_ip") or None,
                      tag=ss.get("tl_tag") or None, data_type=ss.get("tl_data_type") or None,
                      text=ss.get("tl_text") or None, event_ids=ids, limit=0, columns=[])


def _chart_view(q: EventQuery) -> None:
    spec, width = _chart(src, q, st.session_state.get("lang", "en"))
    if spec is not None:
        ev = st.vega_lite_chart(spec, width="stretch", on_select="rerun", selection_mode="brush", key="tl_chart")
        sel = (ev or {}).get("selection", {}).get("brush")
        if sel and sel.get("time"):
            lo, hi = sel["time"][0], sel["time"][1]
            # the dragged span itself (ms from the browser), widened to whole seconds
            st.session_state["tl_pending"] = {"from": _iso(int(lo) * 1000), "to": _iso(-(-int(hi) // 1000) * 1_000_000)}
            st.session_state.pop("tl_chart", None)
            _rerun()
        st.caption(t("Bucket: {w} s. Drag across the chart to zoom in to that period.", w=width))
    if st.session_state.get("tl_from") or st.session_state.get("tl_to"):
        if st.button(t("Reset time range"), key="tl_reset"):
            st.session_state["tl_pending"] = {"from": "", "to": ""}
            _rerun()


def _table(df: pd.DataFrame, marks: dict) -> None:
    view = df.drop(columns=["timestamp", "original_timestamp", "clock_offset_us"])
    view.insert(0, "★", [("★" if marks.get(e, {}).get("starred") else "") for e in view["event_id"]])
    view.insert(1, t("Marks"), [", ".join(marks.get(e, {}).get("tags", [])) for e in view["event_id"]])
    corrected = df["clock_offset_us"] != 0
    if corrected.any():  # show what the parser derived beside the corrected time, only where a correction applies
        view.insert(3, t("Parsed time (before clock correction)"),
                    [_iso_us(o) if c else "" for o, c in zip(df["original_timestamp"], corrected)])
        view.insert(4, t("Clock correction (s)"), [o / 1e6 if c else None for o, c in zip(df["clock_offset_us"], corrected)])
    view["tags"] = view["tags"].map(lambda x: ", ".join(x) if x is not None else "")
    st.dataframe(view, hide_index=True, width="stretch", height=420)


def _iso_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@st.fragment
def timeline() -> None:
    ss = st.session_state
    q = _filters()
    if ss.get("tl_sig") != repr(q):  # a new filter starts at page 1
        ss["tl_sig"] = repr(q)
        ss["tl_page"] = 1
    t0 = time.perf_counter()
    _chart_view(q)
    total_known = st.empty()
    page_no = int(ss.get("tl_page", 1))
    df, total = _page(src, replace(q, limit=PAGE_ROWS, offset=(page_no - 1) * PAGE_ROWS, columns=SHOWN))
    elapsed = time.perf_counter() - t0
    pages = max(1, -(-total // PAGE_ROWS))
    total_known.markdown(t("**{total:,}** events · page {page} of {pages:,} · {ms:.0f} ms",
                           total=total, page=page_no, pages=pages, ms=elapsed * 1000))
    st.number_input(t("Page"), min_value=1, max_value=pages, key="tl_page", step=1)
    if not len(df):
        st.info(t("No events match."))
        return
    marks = annotations.state(p.case_id, list(df["event_id"]))
    _table(df, marks)
    _event(df, marks)


def _event(df: pd.DataFrame, marks: dict) -> None:
    st.subheader(t("Event"))
    labels = {r.event_id: f"{r.datetime} · {str(r.message)[:90]}" for r in df.itertuples()}
    eid = st.selectbox(t("Event"), list(labels), format_func=labels.get, key="tl_event")
    row = df[df["event_id"] == eid].iloc[0]
    m = marks.get(eid, {"starred": False, "tags": [], "comments": []})
    st.json({k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row.items() if v is not None and not (isinstance(v, float) and pd.isna(v))},
            expanded=False)
    a1, a2, a3 = st.columns(3)
    if p.can("annotate"):
        if a1.button(t("Unstar") if m["starred"] else t("Star"), key="tl_star"):
            guarded(annotations.star, p.user, p.case_id, eid, not m["starred"])
            _rerun()
        new_tag = a2.text_input(t("Add tag"), key="tl_new_tag")
        if a2.button(t("Tag"), key="tl_tag_btn") and new_tag:
            guarded(annotations.tag, p.user, p.case_id, eid, new_tag)
            _rerun()
        for tg in m["tags"]:
            if a3.button(t("Remove tag {tag}", tag=tg), key=f"tl_untag_{tg}"):
                guarded(annotations.tag, p.user, p.case_id, eid, tg, False)
                _rerun()
    for author, at, text in m["comments"]:
        st.markdown(f"> {text}\n\n— {author}, {at}")
    if p.can("comment"):
        note = st.text_area(t("Comment"), key="tl_comment")
        if st.button(t("Add comment"), key="tl_comment_btn") and note.strip():
            guarded(annotations.comment, p.user, p.case_id, eid, note)
            _rerun()


timeline()
