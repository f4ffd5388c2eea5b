"""Analysts' marks on events (star, tag, comment) and saved timeline views.

Annotations are append-only: un-starring or removing a tag adds an entry that
says so, and the current state is the latest entry per (event, kind, value).
Events themselves are never touched. Each annotation is also a custody entry,
so the log shows who marked what, when.
"""
from __future__ import annotations

import json
import re

import pandas as pd
from sqlalchemy import delete, select

from case_store import CyberclaimError, custody
from case_store.clock import now_iso
from case_store.db import session
from case_store.models import Annotation, SavedView
from case_store.users import Principal, require

KINDS = ("star", "unstar", "tag", "untag", "comment")
_TAG = re.compile(r"^[\w:.\-]{1,64}$")
MAX_COMMENT = 10_000


def annotate(user: Principal, case_id: str, event_id: str, kind: str, value: str = "") -> Annotation:
    if kind not in KINDS:
        raise CyberclaimError(f"unknown annotation kind {kind!r}; one of {', '.join(KINDS)}")
    require(user, "comment" if kind == "comment" else "annotate", case_id)
    if not re.fullmatch(r"[0-9a-f]{8,64}", event_id or ""):
        raise CyberclaimError(f"not an event id: {event_id!r}")
    value = (value or "").strip()
    if kind in ("tag", "untag") and not _TAG.match(value):
        raise CyberclaimError(f"invalid tag {value!r}: letters, digits, '_', ':', '.', '-' (up to 64)")
    if kind == "comment":
        if not value:
            raise CyberclaimError("an empty comment was not saved")
        value = value[:MAX_COMMENT]
    with session() as s:
        a = Annotation(case_id=case_id, event_id=event_id, author=user.username, kind=kind, value=value, at=now_iso())
        s.add(a)
        s.flush()
        custody.append(s, case_id, "annotated", actor=user.username, event_id=event_id, kind=kind, value=value)
        return a


def star(user: Principal, case_id: str, event_id: str, on: bool = True) -> Annotation:
    return annotate(user, case_id, event_id, "star" if on else "unstar")


def tag(user: Principal, case_id: str, event_id: str, name: str, on: bool = True) -> Annotation:
    return annotate(user, case_id, event_id, "tag" if on else "untag", name)


def comment(user: Principal, case_id: str, event_id: str, text: str) -> Annotation:
    return annotate(user, case_id, event_id, "comment", text)


def history(case_id: str, event_ids: list[str] | None = None) -> pd.DataFrame:
    """Every annotation (oldest first), optionally for some events only."""
    with session() as s:
        q = select(Annotation).where(Annotation.case_id == case_id)
        if event_ids is not None:
            q = q.where(Annotation.event_id.in_(list(event_ids)))
        rows = s.execute(q.order_by(Annotation.id)).scalars().all()
    return pd.DataFrame([{"id": a.id, "event_id": a.event_id, "author": a.author, "kind": a.kind, "value": a.value,
                          "at": a.at} for a in rows], columns=["id", "event_id", "author", "kind", "value", "at"])


def state(case_id: str, event_ids: list[str] | None = None) -> dict[str, dict]:
    """Current marks per event: {event_id: {"starred": bool, "tags": [...], "comments": [(author, at, text)]}}."""
    h = history(case_id, event_ids)
    out: dict[str, dict] = {}
    for r in h.itertuples(index=False):
        st = out.setdefault(r.event_id, {"starred": False, "tags": [], "comments": []})
        if r.kind in ("star", "unstar"):
            st["starred"] = r.kind == "star"
        elif r.kind == "tag" and r.value not in st["tags"]:
            st["tags"].append(r.value)
        elif r.kind == "untag" and r.value in st["tags"]:
            st["tags"].remove(r.value)
        elif r.kind == "comment":
            st["comments"].append((r.author, r.at, r.value))
    for st in out.values():
        st["tags"].sort()
    return out


def starred(case_id: str) -> list[str]:
    return sorted(e for e, st in state(case_id).items() if st["starred"])


def tagged(case_id: str, name: str) -> list[str]:
    return sorted(e for e, st in state(case_id).items() if name in st["tags"])


def annotation_tags(case_id: str) -> list[str]:
    return sorted({t for st in state(case_id).values() for t in st["tags"]})


# ---------------------------------------------------------------- saved views

def save_view(user: Principal, case_id: str, name: str, query: dict) -> SavedView:
    """Save (or replace) the user's view `name`: a timeline filter as JSON."""
    require(user, "save_view", case_id)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise CyberclaimError("a saved view needs a name (up to 200 characters)")
    text = json.dumps(query, sort_keys=True, ensure_ascii=False, default=str)
    with session() as s:
        s.execute(delete(SavedView).where(SavedView.case_id == case_id, SavedView.owner == user.username,
                                          SavedView.name == name))
        v = SavedView(case_id=case_id, name=name, owner=user.username, query=text)
        s.add(v)
        s.flush()
        return v


def list_views(user: Principal, case_id: str) -> list[tuple[str, dict]]:
    """The user's saved views on the case, by name."""
    require(user, "view", case_id)
    with session() as s:
        rows = s.execute(select(SavedView).where(SavedView.case_id == case_id, SavedView.owner == user.username)
                         .order_by(SavedView.name)).scalars().all()
    return [(v.name, json.loads(v.query)) for v in rows]


def delete_view(user: Principal, case_id: str, name: str) -> None:
    with session() as s:
        s.execute(delete(SavedView).where(SavedView.case_id == case_id, SavedView.owner == user.username,
                                          SavedView.name == name))
