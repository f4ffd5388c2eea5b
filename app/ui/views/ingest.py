"""Ingest: run every applicable ingestor with progress per item; errors per file with offsets."""
import os

import streamlit as st

from app.ui._shell import guarded, page
from app.ui.i18n import t
from case_store import cases, overview

p = page("ingest")
st.title(t("Ingest"))

items = cases.list_evidence(p.case_id)
if p.can("ingest"):
    if st.button(t("Run ingest"), key="ingest_run", disabled=not items):
        from forensics.pipeline import ingest_case

        bar = st.progress(0.0, text=t("Planning…"))
        log = st.container()
        state = {"started": 0, "done": 0}

        def progress(kind, info):
            u = info.get("unit")
            if kind == "start":
                state["started"] += 1
            elif kind in ("done", "cached"):
                state["done"] += 1
                r = info.get("result")
                n = r.events if r is not None else info.get("events", 0)
                errs = len(r.errors) if r is not None else 0
                label = t("cached") if kind == "cached" else (r.status if r is not None else "")
                log.write(f"`{u.display_name}` · {u.parser_id} · {label} · {n:,} {t('events')}"
                          + (f" · {errs} {t('errors')}" if errs else ""))
            total = max(state["started"], state["done"], 1)
            bar.progress(min(1.0, state["done"] / total), text=f"{state['done']}/{total}")

        workers = int(os.environ.get("CYBERCLAIM_UI_WORKERS", "1"))
        summary = guarded(ingest_case, p.case_id, None, workers, progress)
        if summary is not None:
            bar.progress(1.0, text=t("Done"))
            st.success(t("Ingest finished: {n:,} events from {k} items.", n=sum(s.events for s in summary.values()),
                         k=len(summary)))
            for s in summary.values():
                for e in s.errors:
                    st.error(f"{e.get('file') or s.name}: offset {e.get('offset')} line {e.get('line')}: {e.get('reason')}")
else:
    st.caption(t("Your role cannot run ingest (read-only)."))

st.subheader(t("Parses"))
st.dataframe(overview.ingest_results(p.case_id), hide_index=True, width="stretch")
st.subheader(t("Errors per file"))
errs = overview.ingest_errors(p.case_id)
if len(errs):
    st.dataframe(errs, hide_index=True, width="stretch")
else:
    st.caption(t("No ingest errors."))
