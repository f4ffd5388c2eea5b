"""Graph: the entity graph (top-N subgraph); select an entity to see its links and events."""
import pandas as pd
import streamlit as st

from app.ui import _data
from app.ui._shell import page
from app.ui.i18n import t
from forensics import findings
from forensics.events import iso_utc
from forensics.graph import to_dot

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
focus = st.selectbox(t("Entity"), ranked, key="g_focus",
                     format_func=lambda n: f"{g.nodes[n]['kind']}: {g.nodes[n]['label']} ({g.nodes[n]['edge_events']:,})")
keep = set(ranked[:top_n]) | ({focus} | set(g.predecessors(focus)) | set(g.successors(focus)) if focus else set())
sub = g.subgraph(keep)
st.caption(t("{n} of {total} entities, {e} links", n=sub.number_of_nodes(), total=g.number_of_nodes(), e=sub.number_of_edges()))
dot = to_dot(sub)
if focus:  # the selected entity stands out
    dot = dot.rstrip().rstrip("}") + f'  "{focus.replace(chr(34), "")}" [style=filled, fillcolor="#ffd54f"];\n}}\n'
st.graphviz_chart(dot, width="stretch")

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
