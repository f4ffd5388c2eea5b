"""Regulatory fines: which are insurable, under which law, within which statutory cap.

Insurability follows the policy's jurisdiction (docs/adjustment-method.md §1.3):
CN never (public policy; the penalty must fall on the wrongdoer), UK never
(public policy, Safeway v Twigger), EU conservatively never for GDPR Art. 83
administrative fines (member-state law varies), US civil fines yes where not
punitive. Statutory caps are checked so an implausible fine is flagged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from adjusters.policy import Jurisdiction

INSURABLE = {Jurisdiction.CN: False, Jurisdiction.UK: False, Jurisdiction.EU: False, Jurisdiction.US: True}

# law → (article, statutory cap description, fixed cap in the law's currency or None)
CAPS = {
    "PIPL": ("PIPL Art. 66", "tier 1 ≤ CNY 1,000,000; tier 2 (serious) ≤ CNY 50,000,000 or 5 % of prior-year turnover",
             50_000_000),
    "DSL": ("DSL Art. 45", "≤ CNY 2,000,000 (serious); ≤ CNY 10,000,000 for core state data", 10_000_000),
    "GDPR": ("GDPR Art. 83", "Art. 83(4) ≤ EUR 10 m or 2 %; Art. 83(5) ≤ EUR 20 m or 4 % of worldwide turnover", None),
}


@dataclass
class FineAssessment:
    items: list[dict] = field(default_factory=list)
    insurable_total: float = 0.0
    total: float = 0.0


def pipl_tier(amount: float) -> str:
    return "PIPL Art. 66 tier 1" if amount <= 1_000_000 else "PIPL Art. 66 tier 2 (serious)"


def assess_fines(fines, jurisdiction: Jurisdiction) -> FineAssessment:
    out = FineAssessment()
    for f in fines:
        law = f.law.upper()
        art, cap_text, cap = CAPS.get(law, (f.article or law, "no statutory cap on file", None))
        insurable = INSURABLE[jurisdiction]
        item = {"regulator": f.regulator, "law": law, "article": f.article or art, "amount": f.amount,
                "insurable": insurable, "statutory_cap": cap_text}
        if law == "PIPL":
            item["tier"] = pipl_tier(f.amount)
        if cap is not None and f.amount > cap and law != "PIPL":
            item["warning"] = "amount exceeds the fixed statutory cap"
        out.items.append(item)
        out.total += f.amount
        out.insurable_total += f.amount if insurable else 0.0
    return out
