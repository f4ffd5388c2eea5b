"""Cached reads shared by pages. Keys include what the result depends on (the case's
event files, the policy and financials documents), so new evidence or inputs are picked up."""
from __future__ import annotations

import streamlit as st

from case_store import cases, eventstats


def _files(case_id: str) -> eventstats.Source:
    """The case's event files and recorded clock corrections: a new ingest or correction is a new key."""
    return eventstats.source(case_id)


def _stamp(path: str | None) -> str:
    """Changes whenever the inputs are replaced (set_inputs writes a fresh copy at the same path)."""
    from pathlib import Path

    if not path or not Path(path).exists():
        return ""
    p = Path(path)
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    return "|".join(f"{f.name}:{f.stat().st_mtime_ns}:{f.stat().st_size}" for f in files if f.is_file())


@st.cache_resource(max_entries=4, show_spinner=False)
def _graph(case_id: str, src: eventstats.Source):
    from forensics.graph import case_graph

    return case_graph(case_id, list(src.files))


def graph(case_id: str):
    return _graph(case_id, _files(case_id))


@st.cache_resource(max_entries=8, show_spinner=False)
def _storyline(case_id: str, src: eventstats.Source, financials: str | None):
    from forensics.storyline import build_storyline

    return build_storyline(case_id)


def storyline(case_id: str):
    c = cases.get_case(case_id)
    return _storyline(case_id, _files(case_id), _stamp(c.financials_path))


@st.cache_resource(max_entries=8, show_spinner=False)
def _inputs(case_id: str, policy_sha: str | None, policy_path: str | None, financials_path: str | None, stamp: str):
    from adjusters.financials import load_financials
    from adjusters.policy import load_policy

    pol = load_policy(policy_path)
    return pol, load_financials(financials_path, pol)


def inputs(case_id: str):
    """(policy, financials) of the case; raises CyberclaimError (with file and line) when missing or invalid."""
    from case_store import CyberclaimError

    c = cases.get_case(case_id)
    if not c.policy_path:
        raise CyberclaimError(f"case {case_id} has no policy yet")
    if not c.financials_path:
        raise CyberclaimError(f"case {case_id} has no financials yet")
    return _inputs(case_id, c.policy_sha256, c.policy_path, c.financials_path, _stamp(c.financials_path))


@st.cache_resource(max_entries=8, show_spinner=False)
def _adjusted(case_id: str, src: eventstats.Source, policy_sha: str | None, financials: str | None):
    from adjusters.adjust import adjust

    pol, fin = inputs(case_id)
    return adjust(storyline(case_id), pol, fin)


def adjusted(case_id: str):
    c = cases.get_case(case_id)
    return _adjusted(case_id, _files(case_id), c.policy_sha256, _stamp(c.financials_path))
