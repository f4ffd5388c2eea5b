"""Policy documents (policy.yaml) in the format adjusters/policy.py validates."""
from __future__ import annotations

from scenarios.writers import documents

DEFAULT_ORDER = ["retention", "coinsurance", "sublimit", "limit", "aggregate"]

WORDINGS = {
    "war": ("This policy does not cover any loss arising from war or a cyber operation carried out by or on behalf "
            "of a state, including where attribution to a state is made by the government of the state in which "
            "the affected computer system is located (LMA5567A-style)."),
    "infrastructure_outage": "Failure of power, telecommunications or Internet infrastructure not under the insured's control.",
    "prior_known_circumstances": "Circumstances known to the insured before the inception of this policy.",
    "unencrypted_portable_devices": "Loss of data held unencrypted on portable devices.",
    "betterment": "The cost of upgrading systems beyond their condition before the event (betterment).",
    "insider_dishonesty": "Dishonest or malicious acts of the insured's directors or employees.",
    "bodily_injury": "Bodily injury or property damage other than to data.",
    "uninsurable_fines": "Fines and penalties uninsurable under the applicable law.",
    "virtual_currency_payment": ("Ransom paid in virtual currency: financial institutions and payment institutions may "
                                 "not provide services for virtual-currency transactions (银发〔2021〕237号); such "
                                 "payments are not indemnified."),
}


def exclusion(code: str, **fields) -> dict:
    return {"code": code, "wording": WORDINGS[code], **fields}


def section(name: str, triggers: list[str], limit: float, **terms) -> dict:
    """One coverage section; optional terms as the contract names them (retention, sublimit, ...)."""
    return {"name": name, "triggers": triggers, "limit": float(limit), **terms}


def write(path, policy: dict) -> None:
    documents.write_yaml(path, policy)
