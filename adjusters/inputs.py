"""Editing a case's adjuster inputs (policy YAML, financial profile, claimed amounts).

An edit is validated first (a policy YAML with an error is refused with its
line), then written as a new input document through `cases.set_inputs`, which
copies it under the case and records the new SHA-256 in the chain of custody.
The previous documents are never edited in place.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import yaml

from adjusters.financials import load_financials
from adjusters.policy import load_policy, parse_policy
from case_store import CyberclaimError, cases
from case_store.clock import acting_as
from case_store.home import case_dir
from case_store.users import Principal, require

PROFILE_FIELDS = ("gross_profit_rate", "net_profit_rate", "continuing_expenses_per_hour", "savings_rate",
                  "make_up_rate")


def policy_text(case_id: str) -> str:
    c = cases.get_case(case_id)
    return Path(c.policy_path).read_text(encoding="utf-8") if c.policy_path else ""


def save_policy(user: Principal, case_id: str, text: str, name: str = "policy.yaml") -> None:
    """Validate and store a policy; raises PolicyError (file, line, field) and stores nothing if invalid."""
    require(user, "edit_inputs", case_id)
    parse_policy(text, name)
    with tempfile.TemporaryDirectory(dir=_scratch(case_id)) as d:
        p = Path(d) / "policy.yaml"
        p.write_text(text, encoding="utf-8")
        with acting_as(user.username):
            cases.set_inputs(case_id, policy=p)


def profile(case_id: str) -> dict:
    c = cases.get_case(case_id)
    if not c.financials_path:
        return {}
    return yaml.safe_load((Path(c.financials_path) / "profile.yaml").read_text(encoding="utf-8")) or {}


def claimed(case_id: str) -> dict[str, float]:
    c = cases.get_case(case_id)
    p = Path(c.financials_path or "") / "claim.yaml"
    if not c.financials_path or not p.is_file():
        return {}
    return dict((yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("claimed") or {})


def save_financials(user: Principal, case_id: str, profile_updates: dict | None = None,
                    claimed_updates: dict[str, float] | None = None) -> None:
    """A new financials document set: the current one with profile fields / claimed amounts replaced.

    Validated with the case's policy before it replaces the current set; invalid input stores nothing.
    """
    require(user, "edit_inputs", case_id)
    c = cases.get_case(case_id)
    if not c.financials_path:
        raise CyberclaimError(f"case {case_id} has no financials to edit; add them with `cyberclaim case`")
    unknown = set(profile_updates or {}) - set(PROFILE_FIELDS)
    if unknown:
        raise CyberclaimError(f"not an editable profile field: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(dir=_scratch(case_id)) as d:
        new = Path(d) / "financials"
        shutil.copytree(c.financials_path, new)
        if profile_updates:
            prof = yaml.safe_load((new / "profile.yaml").read_text(encoding="utf-8")) or {}
            prof.update({k: float(v) for k, v in profile_updates.items()})
            (new / "profile.yaml").write_text(yaml.safe_dump(prof, allow_unicode=True, sort_keys=False), encoding="utf-8")
        if claimed_updates is not None:
            cp = new / "claim.yaml"
            claim = (yaml.safe_load(cp.read_text(encoding="utf-8")) or {}) if cp.is_file() else {}
            claim["claimed"] = {k: float(v) for k, v in claimed_updates.items() if v is not None}
            cp.write_text(yaml.safe_dump(claim, allow_unicode=True, sort_keys=False), encoding="utf-8")
        load_financials(new, load_policy(c.policy_path) if c.policy_path else None)  # refuse before replacing
        with acting_as(user.username):
            cases.set_inputs(case_id, financials=new)


def _scratch(case_id: str) -> Path:
    d = case_dir(case_id) / ".edit"
    d.mkdir(parents=True, exist_ok=True)
    return d
