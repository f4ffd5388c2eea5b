"""Users, roles, per-case access, annotations, saved views and upload hygiene (case_store)."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from case_store import CyberclaimError, annotations, cases, custody, uploads, users
from case_store.db import session
from case_store.models import User

EID = "0123456789abcdef0123456789abcdef"


@pytest.fixture()
def team(cc_home):
    import ui_case

    with ui_case.quick_hashes():  # argon2id at its lowest cost: five users without seconds each
        for name, role in {"ada": "admin", "ana": "analyst", "adj": "adjuster", "law": "lawyer", "out": "analyst"}.items():
            users.add_user(name, role, "password-" + name)
    c = users.create_case(users.get_user("ana"), "case one")
    users.grant("law", c.id)
    users.grant("adj", c.id)
    return c.id


def _p(name):
    return users.get_user(name)


def test_passwords_are_argon2_hashed_and_checked(cc_home):
    users.add_user("ana", "analyst", "s3cret-pass")
    with session() as s:
        h = s.get(User, "ana").password_hash
    assert h.startswith("$argon2id$") and "s3cret-pass" not in h
    assert users.authenticate("ana", "s3cret-pass") == users.Principal("ana", "analyst")
    assert users.authenticate("ana", "wrong-pass") is None
    assert users.authenticate("nobody", "s3cret-pass") is None
    with pytest.raises(CyberclaimError):
        users.add_user("ana", "analyst", "another-pass")
    with pytest.raises(CyberclaimError, match="role"):
        users.add_user("bob", "boss", "password1")
    with pytest.raises(CyberclaimError, match="8 characters"):
        users.add_user("bob", "analyst", "short")
    with pytest.raises(CyberclaimError, match="user name"):
        users.add_user("../bob", "analyst", "password1")


def test_role_matrix_and_case_access(team):
    cid = team
    assert users.can(_p("ana"), "add_evidence", cid) and users.can(_p("ana"), "ingest", cid)
    law = _p("law")
    assert users.can(law, "view", cid) and users.can(law, "comment", cid) and users.can(law, "export", cid)
    for action in ("add_evidence", "ingest", "annotate", "edit_inputs", "set_status", "create_case", "admin"):
        assert not users.can(law, action, cid), action
    assert users.can(_p("adj"), "edit_inputs", cid) and not users.can(_p("adj"), "ingest", cid)
    out = _p("out")
    assert not users.can(out, "view", cid) and cid not in [c.id for c in users.visible_cases(out)]
    assert users.can(_p("ada"), "view", cid) and users.can(_p("ada"), "admin")
    users.grant("out", cid)
    assert users.can(out, "view", cid)
    users.revoke("out", cid)
    assert not users.can(out, "view", cid)
    users.remove_user("law")
    assert not users.can(law, "view", cid)  # a removed user's old session stops working
    with pytest.raises(users.AccessDenied):
        users.require(out, "view", cid)


def test_views_and_exports_are_in_custody(team):
    users.record_view(_p("law"), team, "timeline")
    users.record_export(_p("law"), team, "report pdf en")
    with session() as s:
        es = custody.entries(s, team)
    assert [(e.action, e.actor) for e in es[-2:]] == [("viewed", "law"), ("exported", "law")]
    assert custody.verify_entries(es) == []
    with pytest.raises(users.AccessDenied):
        users.record_view(_p("out"), team, "timeline")


def test_single_user_only_on_loopback():
    assert users.single_user_allowed("127.0.0.1") and users.single_user_allowed("::1")
    assert users.single_user_allowed("localhost")
    for host in ("0.0.0.0", "192.168.1.5", "", "example.com", "::"):
        assert not users.single_user_allowed(host), host


def test_annotations_and_saved_views(team):
    cid = team
    annotations.star(_p("ana"), cid, EID)
    annotations.tag(_p("ana"), cid, EID, "lateral_movement")
    annotations.tag(_p("ana"), cid, EID, "exfil")
    annotations.tag(_p("ana"), cid, EID, "exfil", on=False)
    annotations.comment(_p("law"), cid, EID, "Is this the first access?")
    st = annotations.state(cid)[EID]
    assert st["starred"] and st["tags"] == ["lateral_movement"] and st["comments"][0][0] == "law"
    annotations.star(_p("ana"), cid, EID, on=False)
    assert annotations.starred(cid) == []
    assert annotations.tagged(cid, "lateral_movement") == [EID]
    with pytest.raises(users.AccessDenied):
        annotations.star(_p("law"), cid, EID)  # a lawyer comments but never marks events
    with pytest.raises(users.AccessDenied):
        annotations.comment(_p("out"), cid, EID, "hello")
    with pytest.raises(CyberclaimError):
        annotations.tag(_p("ana"), cid, EID, "bad tag; drop table")
    annotations.save_view(_p("law"), cid, "logons", {"tag": "login", "host": "MES01"})
    annotations.save_view(_p("law"), cid, "logons", {"tag": "login_failed"})
    assert annotations.list_views(_p("law"), cid) == [("logons", {"tag": "login_failed"})]
    assert annotations.list_views(_p("ana"), cid) == []  # views are per user
    with session() as s:
        assert sum(e.action == "annotated" for e in custody.entries(s, team)) == 6


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd", "_.._etc_passwd"), ("..\\..\\win.ini", "_.._win.ini"), ("a\nb\x00c\x1b.log", "a_b_c_.log"),
    (".hidden", "hidden"), ("", "upload"), ("日志.txt", "日志.txt"), ("a\u202eexe.txt", "a_exe.txt"),
])
def test_safe_name(raw, expected):
    assert uploads.safe_name(raw) == expected


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_upload_lands_in_vault_only(team, cc_home, tmp_path):
    before_outside = _all_files(tmp_path) - _all_files(cc_home)
    r = uploads.store_upload(_p("ana"), team, "../../evil\r\n.log", io.BytesIO(b"Mar  1 10:00:00 h sshd[1]: x\n"), 29)
    assert r.name == "_.._evil__.log" and r.notes
    ev = cases.list_evidence(team)[-1]
    assert ev.original_name == r.name and ev.sha256 == r.evidence.sha256
    assert (cc_home / "vault" / ev.sha256[:2] / ev.sha256).is_file()
    assert _all_files(tmp_path) - _all_files(cc_home) == before_outside  # nothing written outside the home
    assert not any((cc_home / "vault" / ".uploads").iterdir())  # staging removed


def test_upload_over_limit_refused_and_nothing_kept(team, cc_home, monkeypatch):
    monkeypatch.setenv("CYBERCLAIM_MAX_UPLOAD_MB", "0.001")  # 1048 bytes
    n = len(cases.list_evidence(team))
    with pytest.raises(CyberclaimError, match="upload limit"):
        uploads.store_upload(_p("ana"), team, "big.bin", io.BytesIO(b"x" * 5000), 5000)
    with pytest.raises(CyberclaimError, match="upload limit"):  # a size the browser lied about
        uploads.store_upload(_p("ana"), team, "big.bin", io.BytesIO(b"x" * 5000), None)
    assert len(cases.list_evidence(team)) == n
    assert not any((cc_home / "vault" / ".uploads").iterdir())
    assert not [p for p in (cc_home / "vault").rglob("*") if p.is_file()]


def test_lawyer_cannot_upload(team):
    with pytest.raises(users.AccessDenied):
        uploads.store_upload(_p("law"), team, "x.log", io.BytesIO(b"x"), 1)


def test_case_status_change_is_role_checked_and_in_custody(team):
    cid = team
    with pytest.raises(users.AccessDenied):
        users.set_status(_p("law"), cid, "closed")
    with pytest.raises(users.AccessDenied):
        users.set_status(_p("out"), cid, "closed")
    with pytest.raises(CyberclaimError, match="unknown case status"):
        users.set_status(_p("adj"), cid, "finished")
    assert cases.get_case(cid).status == "open"
    assert users.set_status(_p("adj"), cid, "closed").status == "closed"
    users.set_status(_p("adj"), cid, "closed")  # no change, no entry
    with session() as s:
        chain = custody.entries(s, cid)
        log = [(e.actor, json.loads(e.details)) for e in chain if e.action == "status_set"]
        assert custody.verify_entries(chain) == []
    assert log == [("adj", {"previous": "open", "status": "closed"})]
