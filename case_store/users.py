"""Users, roles and per-case access: who may do what to which case.

Roles: analyst (evidence, ingest, annotations), adjuster (policy and financial
inputs, reports), lawyer (reads everything, may comment, never changes
evidence, events or figures), admin (everything, and users). Passwords are
hashed with argon2id. A non-admin sees a case only when it is on the case's
access list; creating a case puts its creator on the list. `can()` is the one
authorization check every page and command uses; views and exports are
recorded in the chain of custody by `record_view` / `record_export`.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select

from case_store import CyberclaimError, custody
from case_store.clock import now_iso
from case_store.db import session
from case_store.models import Case, CaseAccess, User

ROLES = ("analyst", "adjuster", "lawyer", "admin")

# action -> roles allowed. Case-scoped actions also need the case on the user's access list (admins excepted).
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "comment": frozenset(ROLES),
    "save_view": frozenset(ROLES),  # a saved filter is the user's own, not a change to the case
    "export": frozenset(ROLES),
    "create_case": frozenset({"analyst", "adjuster", "admin"}),
    "add_evidence": frozenset({"analyst", "admin"}),
    "verify_evidence": frozenset(ROLES),  # re-hashing changes nothing
    "ingest": frozenset({"analyst", "admin"}),
    "annotate": frozenset({"analyst", "adjuster", "admin"}),  # star / tag an event
    "edit_inputs": frozenset({"adjuster", "admin"}),  # policy, financials: the figures
    "set_status": frozenset({"analyst", "adjuster", "admin"}),
    "admin": frozenset({"admin"}),
}
_GLOBAL_ACTIONS = {"create_case", "admin"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class AccessDenied(CyberclaimError):
    pass


@dataclass(frozen=True)
class Principal:
    """The signed-in user as pages see it (never carries the password hash)."""

    username: str
    role: str
    single_user: bool = False


def local_principal(username: str) -> Principal:
    """The login-free single-user mode: the local OS user acts as admin (loopback only)."""
    return Principal(username, "admin", single_user=True)


def single_user_allowed(host: str) -> bool:
    """Login-free mode is allowed only when the server listens on loopback."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_name(username: str) -> str:
    if not _NAME.match(username or ""):
        raise CyberclaimError(f"invalid user name {username!r}: letters, digits, '.', '_', '@', '-' (up to 64)")
    return username


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise CyberclaimError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if len(password or "") < 8:
        raise CyberclaimError("a password needs at least 8 characters")
    return password


def add_user(username: str, role: str, password: str) -> Principal:
    _check_name(username), _check_role(role), _check_password(password)
    with session() as s:
        if s.get(User, username) is not None:
            raise CyberclaimError(f"user {username!r} already exists")
        s.add(User(username=username, password_hash=_hasher.hash(password), role=role, created_at=now_iso()))
    return Principal(username, role)


def set_password(username: str, password: str) -> None:
    _check_password(password)
    with session() as s:
        _user(s, username).password_hash = _hasher.hash(password)


def set_role(username: str, role: str) -> None:
    _check_role(role)
    with session() as s:
        _user(s, username).role = role


def remove_user(username: str) -> None:
    with session() as s:
        _user(s, username)
        s.execute(delete(CaseAccess).where(CaseAccess.username == username))
        s.execute(delete(User).where(User.username == username))


def _user(s, username: str) -> User:
    u = s.get(User, username)
    if u is None:
        raise CyberclaimError(f"unknown user {username!r}")
    return u


def get_user(username: str) -> Principal | None:
    with session() as s:
        u = s.get(User, username)
        return Principal(u.username, u.role) if u else None


def list_users() -> list[Principal]:
    with session() as s:
        return [Principal(u.username, u.role) for u in s.execute(select(User).order_by(User.username)).scalars()]


def has_users() -> bool:
    with session() as s:
        return s.execute(select(User.username).limit(1)).first() is not None


def authenticate(username: str, password: str) -> Principal | None:
    """The user when the password matches; None otherwise (same answer for an unknown name)."""
    with session() as s:
        u = s.get(User, username or "")
        if u is None:
            _hasher.hash("x" * 8)  # spend the same time as a real check: no user-name oracle
            return None
        try:
            _hasher.verify(u.password_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if _hasher.check_needs_rehash(u.password_hash):
            u.password_hash = _hasher.hash(password)
        return Principal(u.username, u.role)


# ---------------------------------------------------------------- per-case access

def grant(username: str, case_id: str, by: str | None = None) -> None:
    with session() as s:
        _user(s, username)
        if s.get(Case, case_id) is None:
            raise CyberclaimError(f"unknown case id {case_id!r}")
        if s.get(CaseAccess, (case_id, username)) is None:
            s.add(CaseAccess(case_id=case_id, username=username))
            custody.append(s, case_id, "access_granted", actor=by, user=username)


def revoke(username: str, case_id: str, by: str | None = None) -> None:
    with session() as s:
        row = s.get(CaseAccess, (case_id, username))
        if row is not None:
            s.delete(row)
            custody.append(s, case_id, "access_revoked", actor=by, user=username)


def access_list(case_id: str) -> list[str]:
    with session() as s:
        return list(s.execute(select(CaseAccess.username).where(CaseAccess.case_id == case_id)
                              .order_by(CaseAccess.username)).scalars())


def _on_list(username: str, case_id: str) -> bool:
    with session() as s:
        return s.get(CaseAccess, (case_id, username)) is not None


def visible_cases(user: Principal) -> list[Case]:
    """The cases this user may open, oldest first."""
    with session() as s:
        q = select(Case).order_by(Case.created_at)
        if user.role != "admin":
            q = q.join(CaseAccess, CaseAccess.case_id == Case.id).where(CaseAccess.username == user.username)
        return list(s.execute(q).scalars())


def can(user: Principal | None, action: str, case_id: str | None = None) -> bool:
    """May `user` do `action` (on `case_id`, for case-scoped actions)?"""
    if user is None or action not in PERMISSIONS:
        return False
    if user.role not in PERMISSIONS[action]:
        return False
    if action in _GLOBAL_ACTIONS or user.role == "admin":
        return True
    if case_id is None:
        return False
    if not user.single_user and get_user(user.username) is None:
        return False  # removed since signing in
    return _on_list(user.username, case_id)


def require(user: Principal | None, action: str, case_id: str | None = None) -> None:
    if not can(user, action, case_id):
        who = f"{user.username} ({user.role})" if user else "nobody signed in"
        where = f" on case {case_id}" if case_id else ""
        raise AccessDenied(f"{who} may not {action.replace('_', ' ')}{where}")


def create_case(user: Principal, title: str, insured: str | None = None, policy: Path | None = None,
                financials: Path | None = None) -> Case:
    """Create a case as `user` and put them on its access list."""
    from case_store import cases
    from case_store.clock import acting_as

    require(user, "create_case")
    with acting_as(user.username):
        c = cases.create_case(title, insured, policy, financials)
    if not user.single_user:
        grant(user.username, c.id, by=user.username)
    return c


def set_status(user: Principal, case_id: str, status: str) -> Case:
    """Change a case's status as `user` (lawyers may not); custody records who did it."""
    from case_store import cases
    from case_store.clock import acting_as

    require(user, "set_status", case_id)
    with acting_as(user.username):
        return cases.set_status(case_id, status)


def record_view(user: Principal, case_id: str, what: str, **details) -> None:
    """A case (or one page of it) was opened: the custody log says who looked at what, when."""
    require(user, "view", case_id)
    custody.log(case_id, "viewed", actor=user.username, page=what, role=user.role, **details)


def record_export(user: Principal, case_id: str, what: str, **details) -> None:
    require(user, "export", case_id)
    custody.log(case_id, "exported", actor=user.username, what=what, role=user.role, **details)
