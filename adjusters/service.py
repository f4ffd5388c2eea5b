"""Adjusting a stored case: the I/O around the pure `adjust` (load the case's
policy, financials and storyline; log the run in the chain of custody)."""
from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

from adjusters.adjust import AdjustmentResult, adjust
from adjusters.financials import load_financials
from adjusters.policy import load_policy
from case_store import CyberclaimError
from forensics.storyline_model import Storyline


def load_storyline(case_id: str, storyline_file: Path | None = None, financials: Path | None = None) -> Storyline:
    """From a JSON file (`cyberclaim storyline CASE --json` output), else from the storyline builder."""
    if storyline_file is not None:
        try:
            return Storyline.model_validate_json(Path(storyline_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CyberclaimError(f"{storyline_file}: not a storyline JSON ({str(e).splitlines()[0]})") from None
    try:
        builder = importlib.import_module("forensics.storyline")
    except ImportError:
        raise CyberclaimError("the storyline builder (forensics.storyline) is not available in this build; "
                              "pass --storyline FILE") from None
    if not hasattr(builder, "build_storyline"):
        raise CyberclaimError("forensics.storyline has no build_storyline(); pass --storyline FILE")
    inventory = Path(financials) / "data_inventory.csv" if financials else None
    if inventory is not None and inventory.is_file():
        # the builder counts exfiltrated records against the inventory of the financials being adjusted
        return builder.build_storyline(case_id, data_inventory=inventory)
    return builder.build_storyline(case_id)


def adjust_case(case_id: str, policy: Path | None = None, financials: Path | None = None,
                storyline_file: Path | None = None, n_draws: int | None = None) -> AdjustmentResult:
    from case_store import cases, custody

    c = cases.get_case(case_id)
    pol_path = Path(policy) if policy else (Path(c.policy_path) if c.policy_path else None)
    fin_path = Path(financials) if financials else (Path(c.financials_path) if c.financials_path else None)
    if pol_path is None:
        raise CyberclaimError(f"case {case_id} has no policy: pass --policy FILE or `cyberclaim case` it in")
    if fin_path is None:
        raise CyberclaimError(f"case {case_id} has no financials: pass --financials DIR")
    pol = load_policy(pol_path)
    fin = load_financials(fin_path, pol)
    story = load_storyline(case_id, storyline_file, fin_path)
    res = adjust(story, pol, fin, **({"n_draws": n_draws} if n_draws else {}))
    custody.log(case_id, "adjusted", policy=str(pol_path), policy_sha256=hashlib.sha256(pol_path.read_bytes()).hexdigest(),
                financials=fin.documents, method=res.method,
                result_sha256=hashlib.sha256(res.to_json().encode()).hexdigest(), payable=res.totals.payable)
    return res


def result_dict(res: AdjustmentResult) -> dict:
    return json.loads(res.to_json())
