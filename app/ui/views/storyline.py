"""Storyline: the derived facts, each with the events it rests on."""
import streamlit as st

from app.ui import _data
from app.ui._shell import guarded, page
from app.ui.i18n import t
from forensics import findings

p = page("storyline")
st.title(t("Storyline"))

with st.spinner(t("Deriving the storyline…")):
    story = guarded(_data.storyline, p.case_id)
if story is None:
    st.stop()

facts = []  # (label, value, confidence, note, cited ids)
for name, val in story:
    for f in (val if isinstance(val, list) else [val]):
        if f is None or not hasattr(f, "model_dump"):
            continue
        d = f.model_dump(mode="json")
        label = d.get("name") or f"{name}: {d.get('service') or d.get('destination')}"
        value = d.get("value", {k: v for k, v in d.items() if k not in ("cited_event_ids", "name")})
        facts.append((label, value, d.get("confidence"), d.get("note", ""), d.get("cited_event_ids", [])))

c1, c2 = st.columns(2)
c1.metric(t("Exfiltrated bytes"), f"{story.exfiltrated_bytes:,}")
c2.metric(t("Records affected"), f"{sum(story.records_affected.values()):,}")
if not facts:
    st.info(t("No facts derived yet: ingest evidence first."))
for i, (label, value, conf, note, ids) in enumerate(facts):
    head = f"**{label}**" + (f" · {t('confidence')} {conf:.2f}" if isinstance(conf, (int, float)) else "") + f" · {len(ids)} {t('events')}"
    with st.expander(head, expanded=False):
        st.write(value)
        if note:
            st.caption(note)
        if ids:
            st.dataframe(findings.events_by_id(p.case_id, ids), hide_index=True, width="stretch")
