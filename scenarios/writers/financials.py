"""The insured's financials directory: revenue history, profile, cost ledger,
data inventory, and ransom / fraud / liability / claim documents."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scenarios.writers import documents, revenue

LEDGER_COLUMNS = ["invoice_id", "vendor", "category", "amount", "currency", "date", "description", "betterment_amount"]
INVENTORY_COLUMNS = ["system", "host", "record_type", "count", "personal"]


@dataclass
class Financials:
    currency: str
    profile: dict
    ledger: list[dict] = field(default_factory=list)
    inventory: list[dict] = field(default_factory=list)
    claim: dict = field(default_factory=dict)
    ransom: dict | None = None
    fraud: dict | None = None
    liability: dict | None = None

    def ledger_total(self, category: str, net_of_betterment: bool) -> float:
        rows = [r for r in self.ledger if r["category"] == category]
        total = sum(float(r["amount"]) for r in rows)
        if net_of_betterment:
            total -= sum(float(r.get("betterment_amount", 0) or 0) for r in rows)
        return total


def invoice(n: int, vendor: str, category: str, amount: float, currency: str, date: str, description: str,
            betterment: float = 0.0) -> dict:
    return {"invoice_id": f"INV-{n:05d}", "vendor": vendor, "category": category, "amount": float(amount),
            "currency": currency, "date": date, "description": description, "betterment_amount": float(betterment)}


def write(dir_: Path, fin: Financials, hours: np.ndarray, rev: np.ndarray) -> None:
    dir_.mkdir(parents=True, exist_ok=True)
    revenue.write_csv(dir_ / "revenue.csv", hours, rev)
    documents.write_yaml(dir_ / "profile.yaml", {"currency": fin.currency, **fin.profile})
    documents.write_csv(dir_ / "ledger.csv", LEDGER_COLUMNS, fin.ledger)
    documents.write_csv(dir_ / "data_inventory.csv", INVENTORY_COLUMNS, fin.inventory)
    documents.write_yaml(dir_ / "claim.yaml", {"claimed": fin.claim})
    for name, doc in (("ransom.yaml", fin.ransom), ("fraud.yaml", fin.fraud), ("liability.yaml", fin.liability)):
        if doc is not None:
            documents.write_yaml(dir_ / name, doc)
