"""Graph: the entity graph (top-N subgraph) as an interactive chart; click an entity (or pick it) to see its links and events."""

import altair as alt
import pandas as pd
import streamlit as st

from app.ui import _data
from app.ui._shell import page
from app.ui.i18n import t
from forensics import findings
from forensics.events import iso_utc


@st.cache_data(max_entries=32, show_spinner=False)
def _layout(nodes: tuple[str, ...], edges: tuple[tuple[str, str], ...]) -> dict[str, tuple[float, float]]:
    """A force-directed layout of the shown entities, seeded so the same graph is drawn the same way.

    Each connected component is laid out on its own, sized by the square root of its
    entity count, and the components are packed left to right in rows (largest first):
    one force layout of everything pushes unconnected parts to the far corners."""
    import networkx as nx

    h = nx.Graph()
    h.add_nodes_from(nodes)
    h.add_edges_from(edges)
    comps = sorted((sorted(c) for c in nx.connected_components(h)), key=lambda c: (-len(c), c[0]))
    row_width = 2.2 * max(1.0, sum(len(c) for c in comps) ** 0.5)
    out: dict[str, tuple[float, float]] = {}
    x = y = row_h = 0.0
    for comp in comps:
        r = max(len(comp), 1) ** 0.5 * 0.5 + 0.3  # radius of this component's disc
        if x and x + 2 * r > row_width:  # next row
            x, y, row_h = 0.0, y - row_h - 0.3, 0.0
        pos = nx.spring_layout(h.subgraph(comp), seed=7, iterations=100) if len(comp) > 1 else {comp[0]: (0.0, 0.0)}
        for n, (px, py) in pos.items():
            out[n] = (x + r + float(px) * (r - 0.3), y - r + float(py) * (r - 0.3))
        x += 2 * r + 0.3
        row_h = max(row_h, 2 * r)
    return out


def _chart(sub, pos: dict, focus) -> alt.LayerChart:
    nodes = pd.DataFrame([{"id": n, "kind": d["kind"], "label": str(d["label"])[:40], "events": d["edge_events"],
                           "x": pos[n][0], "y": pos[n][1], "focus": n == focus} for n, d in sub.nodes(data=True)])
    links = pd.DataFrame([{"x": pos[a][0], "y": pos[a][1], "x2": pos[b][0], "y2": pos[b][1], "relation": k,
                           "count": e["count"], "from": sub.nodes[a]["label"], "to": sub.nodes[b]["label"]}
                          for a, b, k, e in sub.edges(keys=True, data=True)],
                         columns=["x", "y", "x2", "y2", "relation", "count", "from", "to"])
    x = alt.X("x:Q", axis=None, scale=alt.Scale(zero=False))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False))
    pick = alt.selection_point(name="entity", fields=["id"], on="click")
    edges = alt.Chart(links).mark_rule(opacity=0.3).encode(
        x=x, y=y, x2="x2:Q", y2="y2:Q", tooltip=["from:N", "relation:N", "to:N", "count:Q"])
    points = alt.Chart(nodes).mark_circle(opacity=0.9, cursor="pointer").encode(
        x=x, y=y, color=alt.Color("kind:N", title=t("Kinds")),
        size=alt.Size("events:Q", scale=alt.Scale(type="sqrt", range=[60, 900]), legend=None),
        stroke=alt.condition("datum.focus", alt.value("#e65100"), alt.value("white")),
        strokeWidth=alt.condition("datum.focus", alt.value(3), alt.value(0.5)),
        tooltip=["kind:N", "label:N", "events:Q"]).add_params(pick)
    top = set(nodes.nlargest(LABELLED, "events")["id"]) | {focus}
    labels = alt.Chart(nodes[nodes["id"].isin(top)]).mark_text(dy=-12, fontSize=10).encode(x=x, y=y, text="label:N")
    return alt.layer(edges, points, labels).properties(height=560)


def _clicked(event) -> str | None:
    """The entity id a chart click selected, if any."""
    try:
        sel = event["selection"]["entity"]
    except (KeyError, TypeError):
        return None
    return sel[0].get("id") if sel else None


MAX_NEIGHBOURS = 30
LABELLED = 25  # labels on the busiest entities (and the focus); the rest show theirs on hover

p = page("graph")
st.title(t("Entity graph"))

with st.spinner(t("Building the graph…")):
    g = _data.graph(p.case_id)
if g.number_of_nodes() == 0:
    st.info(t("No entities yet: ingest evidence first."))
    st.stop()

kinds = sorted({d["kind"] for _, d in g.nodes(data=True)})
c1, c2 = st.columns([1, 3])
top_n = c1.slider(t("Entities shown"), 5, min(150, g.number_of_nodes()), min(40, g.number_of_nodes()), key="g_top")
chosen = c2.multiselect(t("Kinds"), kinds, default=kinds, key="g_kinds")
ranked = sorted((n for n, d in g.nodes(data=True) if d["kind"] in chosen),
                key=lambda n: (-g.nodes[n]["edge_events"], n))
# a click on a node in the chart picks the entity (applied before the pick-list exists)
if "g_pending_focus" in st.session_state:
    st.session_state["g_focus"] = st.session_state.pop("g_pending_focus")
if st.session_state.get("g_focus") not in ranked:
    st.session_state.pop("g_focus", None)
focus = st.selectbox(t("Entity"), ranked, key="g_focus",
                     format_func=lambda n: f"{g.nodes[n]['kind']}: {g.nodes[n]['label']} ({g.nodes[n]['edge_events']:,})")
base = ranked[:top_n]
neighbours = sorted(set(g.predecessors(focus)) | set(g.successors(focus)), key=lambda n: (-g.nodes[n]["edge_events"], n)) \
    if focus else []
keep = set(base) | ({focus} if focus else set()) | set(neighbours[:MAX_NEIGHBOURS])  # a hub's hundreds of links would bury the rest
sub = g.subgraph(keep)
st.caption(t("{n} of {total} entities, {e} links", n=sub.number_of_nodes(), total=g.number_of_nodes(), e=sub.number_of_edges())
           + (t("; the {k} busiest of its {m} neighbours", k=MAX_NEIGHBOURS, m=len(neighbours))
              if len(neighbours) > MAX_NEIGHBOURS else ""))
pos = _layout(tuple(sorted(keep)), tuple(sorted({(a, b) for a, b in sub.edges()})))
chart_event = st.altair_chart(_chart(sub, pos, focus), width="stretch", on_select="rerun", selection_mode="entity",
                              key="g_chart")
clicked = _clicked(chart_event)
if clicked != st.session_state.get("g_clicked"):  # a new click (not the chart's remembered one) moves the focus
    st.session_state["g_clicked"] = clicked
    if clicked in keep and clicked != focus:
        st.session_state["g_pending_focus"] = clicked
        st.rerun()
st.caption(t("Click an entity in the chart (or pick it above) to list its links and events."))

if focus:
    d = g.nodes[focus]
    st.subheader(f"{d['kind']}: {d['label']}")
    st.caption(t("First seen {a}, last seen {b}; aliases: {al}", a=iso_utc(d["first_seen"]), b=iso_utc(d["last_seen"]),
                 al=", ".join(d.get("aliases") or []) or "—"))
    rows, sample = [], []
    for a, b, k, e in list(g.in_edges(focus, keys=True, data=True)) + list(g.out_edges(focus, keys=True, data=True)):
        rows.append({t("From"): a, t("Relation"): k, t("To"): b, t("Events"): e["count"],
                     t("First seen"): iso_utc(e["first_seen"]), t("Last seen"): iso_utc(e["last_seen"])})
        sample += e.get("sample_event_ids", [])
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.markdown(t("**Events** (earliest of each link)"))
    st.dataframe(findings.events_by_id(p.case_id, sorted(set(sample))), hide_index=True, width="stretch")
    kind, key = d["kind"], d["key"]
    target = {"host": "host", "account": "user", "ip": "ip"}.get(kind)
    if st.button(t("Open in the timeline"), key="g_to_timeline"):
        st.session_state["tl_pending"] = {target: d["label"]} if target else {"text": key}
        st.switch_page("views/timeline.py")
