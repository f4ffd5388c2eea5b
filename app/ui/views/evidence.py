"""Evidence: upload into the vault (progress bar), list with hashes and acquisition details, verify, custody log."""
import pandas as pd
import streamlit as st

from app.ui._shell import guarded, page
from app.ui.i18n import t
from case_store import cases, custody, uploads
from case_store.db import session

p = page("evidence")
st.title(t("Evidence"))

if p.can("add_evidence"):
    limit = uploads.max_upload_bytes()
    st.subheader(t("Add evidence"))
    files = st.file_uploader(t("Evidence files (up to {mb:,} MB each)", mb=limit >> 20), accept_multiple_files=True,
                             key=f"ev_upload_{st.session_state.get('upload_round', 0)}")
    acquired_by = st.text_input(t("Acquired by"), key="ev_acquired_by")
    if files and st.button(t("Add to the vault"), key="ev_add"):
        for f in files:
            bar = st.progress(0.0, text=f.name)
            done = [0]

            def _tick(n, bar=bar, f=f, done=done):
                done[0] += n
                bar.progress(min(1.0, done[0] / max(f.size, 1)), text=f.name)

            r = guarded(uploads.store_upload, p.user, p.case_id, f.name, f, f.size, acquired_by or None, _tick)
            if r is None:
                bar.empty()
                continue
            bar.progress(1.0, text=r.name)
            for note in r.notes:
                st.warning(note)
            if r.duplicate:
                st.info(t("{name}: already in this case (same SHA-256).", name=r.name))
            else:
                st.success(t("{name} added: SHA-256 {sha}", name=r.name, sha=r.evidence.sha256))
else:
    st.caption(t("Your role cannot add evidence (read-only)."))

items = cases.list_evidence(p.case_id)
st.subheader(t("Evidence items"))
if items:
    st.dataframe(pd.DataFrame([{
        t("Name"): e.original_name, "SHA-256": e.sha256, t("Size"): e.size, t("Type"): e.evidence_type,
        t("Source"): e.source, t("Acquired by"): e.acquired_by, t("Added"): e.added_at, t("Added by"): e.added_by,
        t("Derived from"): e.parent_sha256 or "", t("Derivation"): e.derivation or "",
    } for e in items]), hide_index=True, width="stretch")
else:
    st.info(t("No evidence yet."))

if items and p.can("verify_evidence") and st.button(t("Verify all hashes"), key="ev_verify"):
    bad = cases.verify_evidence(p.case_id)
    if bad:
        for e, problem in bad:
            st.error(f"{e.original_name} ({e.sha256[:16]}…): {problem}")
    else:
        st.success(t("All {n} items match their SHA-256.", n=len(items)))

st.subheader(t("Chain of custody"))
with session() as s:
    entries = custody.entries(s, p.case_id)
problems = custody.verify_entries(entries)
if problems:
    for pr in problems:
        st.error(str(pr))
else:
    st.caption(t("Chain intact: {n} entries, each hash-chained to the one before.", n=len(entries)))
st.dataframe(pd.DataFrame([{"#": e.seq, t("When"): e.at, t("Who"): e.actor, t("Action"): e.action,
                            t("Evidence"): (e.evidence_sha256 or "")[:16], t("Details"): e.details,
                            t("Tool"): e.tool_version, "hash": e.entry_hash[:16]} for e in reversed(entries)]),
             hide_index=True, width="stretch", height=320)
