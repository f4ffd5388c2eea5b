"""Financial inputs of a claim: the financials/ directory and `load_financials`.

Files (docs/policy-format.md, "Financials"): revenue.csv, profile.yaml,
ledger.csv, data_inventory.csv, and when relevant ransom.yaml, fraud.yaml,
liability.yaml, claim.yaml. Every problem names the file, the line and the
field; all problems are collected before raising so an adjuster fixes a file
in one pass.

Revenue is held as two numpy arrays (hour start in int microseconds UTC, and
revenue in policy currency per hour); a daily series is spread evenly over its
24 hours so the hourly method applies unchanged (recorded in `notes`).
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adjusters.currency import is_iso_currency
from adjusters.heads import Head
from adjusters.yamlpos import compose, dotted, line_of
from case_store import CyberclaimError

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


class FinancialsError(CyberclaimError):
    """`problems`: list of (file, line, field, message)."""

    def __init__(self, directory: str, problems: list[tuple[str, int | None, str, str]]):
        self.directory, self.problems = directory, problems
        shown = "; ".join(
            f"{f}{':' + str(ln) if ln else ''} {fld}: {m}".replace(" : ", ": ") for f, ln, fld, m in problems[:5]
        )
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{directory}: invalid financials: {shown}{more}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ICOW(_Strict):
    amount: float = Field(ge=0)
    turnover_saved_by_it: float = Field(ge=0)


class Ranges(_Strict):
    """Inputs known only as a range; the Monte Carlo draws them (triangular, mode at the point estimate)."""

    gross_profit_rate: tuple[float, float] | None = None
    net_profit_rate: tuple[float, float] | None = None
    outage_end_shift_hours: tuple[float, float] | None = None  # e.g. [-2, 6]: restoration 2 h earlier to 6 h later
    records_factor: tuple[float, float] | None = None  # multiplies the affected record count

    @model_validator(mode="after")
    def _ordered(self) -> "Ranges":
        for k in ("gross_profit_rate", "net_profit_rate", "outage_end_shift_hours", "records_factor"):
            v = getattr(self, k)
            if v is not None and v[0] > v[1]:
                raise ValueError(f"{k}: low {v[0]} is above high {v[1]}")
        return self


class Profile(_Strict):
    currency: str
    gross_profit_rate: float = Field(ge=0, le=1)
    net_profit_rate: float = Field(default=0.0, ge=-1, le=1)
    continuing_expenses_per_hour: float = Field(default=0.0, ge=0)
    savings_rate: float = Field(default=0.0, ge=0, le=1)
    increased_cost_of_working: ICOW | None = None
    make_up_rate: float = Field(default=0.0, ge=0, le=1)
    revenue_service: str | None = Field(default=None, description="the storyline service whose outage stops revenue")
    ranges: Ranges | None = None


class LedgerItem(_Strict):
    invoice_id: str
    vendor: str
    category: Head
    amount: float = Field(ge=0)
    currency: str
    date: date
    description: str = ""
    betterment_amount: float = Field(default=0.0, ge=0)
    line: int = 0

    @model_validator(mode="after")
    def _betterment_within(self) -> "LedgerItem":
        if self.betterment_amount > self.amount:
            raise ValueError(f"betterment_amount {self.betterment_amount} exceeds the invoice amount {self.amount}")
        return self


class InventoryRow(_Strict):
    system: str
    host: str = ""
    record_type: str
    count: int = Field(ge=0)
    personal: bool
    line: int = 0


class RestorationRow(_Strict):
    """Data restoration estimated as volume × rate, when the work is not yet invoiced."""

    system: str
    volume: float = Field(ge=0)
    unit: str = "GB"
    rate: float = Field(ge=0)  # policy currency per unit
    line: int = 0


class Ransom(_Strict):
    demand_amount: float = Field(ge=0)
    demand_currency: str
    demand_value_in_policy_currency: float = Field(ge=0)
    payment_method: str
    wallet: str | None = None
    paid: bool = False
    paid_value_in_policy_currency: float = Field(default=0.0, ge=0)


class Transfer(_Strict):
    date: date
    amount: float = Field(ge=0)
    currency: str
    beneficiary: str = ""
    beneficiary_account: str = ""
    recovered_amount: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _recovered_within(self) -> "Transfer":
        if self.recovered_amount > self.amount:
            raise ValueError(f"recovered_amount {self.recovered_amount} exceeds the transfer {self.amount}")
        return self


class Fraud(_Strict):
    transfers: list[Transfer] = Field(default_factory=list)


class Settlement(_Strict):
    party: str
    amount: float = Field(ge=0)
    head: Head | None = None  # which liability head it falls under; default: the policy's third-party section


class Fine(_Strict):
    regulator: str
    law: str  # PIPL | DSL | GDPR | CCPA | ...
    amount: float = Field(ge=0)
    article: str | None = None


class Liability(_Strict):
    notified_individuals: int = Field(default=0, ge=0)
    notification_cost_per_individual: float = Field(default=0.0, ge=0)
    credit_monitoring_cost_per_individual: float = Field(default=0.0, ge=0)
    settlements: list[Settlement] = Field(default_factory=list)
    fines: list[Fine] = Field(default_factory=list)


class Claim(_Strict):
    claimed: dict[Head, float] = Field(default_factory=dict)
    reported: datetime | None = None  # when the claim was made (claims-made-and-reported policies)

    @field_validator("claimed")
    @classmethod
    def _non_negative(cls, v):
        for k, a in v.items():
            if a < 0:
                raise ValueError(f"claimed amount for {k} is negative")
        return v


@dataclass
class Financials:
    """Validated financial inputs. `documents` maps file name → sha256 (what figures cite)."""

    currency: str
    revenue_ts: np.ndarray  # int64 µs UTC, start of each hour, strictly increasing by one hour
    revenue: np.ndarray  # float64 per hour
    granularity: str  # "hourly" | "daily"
    profile: Profile
    ledger: list[LedgerItem] = field(default_factory=list)
    inventory: list[InventoryRow] = field(default_factory=list)
    restoration: list[RestorationRow] = field(default_factory=list)
    ransom: Ransom | None = None
    fraud: Fraud | None = None
    liability: Liability | None = None
    claim: Claim = field(default_factory=Claim)
    documents: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ledger_for(self, head: Head) -> list[LedgerItem]:
        return [i for i in self.ledger if i.category == head]


# ------------------------------------------------------------------ loading


class _Problems:
    def __init__(self):
        self.items: list[tuple[str, int | None, str, str]] = []

    def add(self, file: str, line: int | None, fld: str, msg: str) -> None:
        self.items.append((file, line, fld, msg))


def _load_yaml(path: Path, model: type[BaseModel], probs: _Problems):
    name = path.name
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        root = compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        probs.add(name, mark.line + 1 if mark else None, "(yaml)", str(getattr(e, "problem", e)))
        return None
    if not isinstance(data, dict):
        probs.add(name, 1, "(document)", "expected a mapping")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            probs.add(name, line_of(root, err["loc"]), dotted(err["loc"]), err["msg"].removeprefix("Value error, "))
        return None


def _read_csv_rows(path: Path, required: list[str], probs: _Problems) -> list[tuple[int, dict[str, str]]]:
    """Rows with their 1-based line numbers (the csv module tracks lines even with quoted newlines)."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        probs.add(path.name, 1, ",".join(missing), f"missing column(s); header is {reader.fieldnames}")
        return []
    rows = []
    for row in reader:
        rows.append((reader.line_num, row))
    return rows


def _csv_models(path: Path, model: type[BaseModel], required: list[str], probs: _Problems, defaults: dict) -> list:
    out = []
    for line, row in _read_csv_rows(path, required, probs):
        clean: dict[str, Any] = {k: v for k, v in row.items() if k is not None}
        for k, v in list(clean.items()):
            if (v is None or v == "") and k in defaults:
                clean[k] = defaults[k]
        if None in row:
            probs.add(path.name, line, "(row)", "more fields than the header")
            continue
        if model is InventoryRow and isinstance(clean.get("personal"), str):
            clean["personal"] = clean["personal"].strip().lower()
        try:
            out.append(model.model_validate({**clean, "line": line}))
        except ValidationError as e:
            for err in e.errors():
                probs.add(path.name, line, dotted(err["loc"]), err["msg"].removeprefix("Value error, "))
    return out


_OFFSET_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _load_revenue(path: Path, probs: _Problems) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
    empty = (np.zeros(0, np.int64), np.zeros(0), "hourly", [])
    name = path.name
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        probs.add(name, None, "(csv)", str(e).splitlines()[0])
        return empty
    for col in ("timestamp", "revenue"):
        if col not in df.columns:
            probs.add(name, 1, col, f"missing column; header is {list(df.columns)}")
            return empty
    if df.empty:
        probs.add(name, 2, "revenue", "no rows")
        return empty
    lines = np.arange(len(df)) + 2  # header is line 1; revenue files have no quoted newlines
    ts_s = df["timestamp"].str.strip()
    naive = ~ts_s.str.contains(_OFFSET_RE, regex=True)
    ts = pd.to_datetime(ts_s, utc=True, format="ISO8601", errors="coerce")
    rev = pd.to_numeric(df["revenue"].str.strip(), errors="coerce")
    bad = False
    for mask, fld, msg in (
        (ts.isna(), "timestamp", "not an ISO 8601 timestamp"),
        (naive & ts.notna(), "timestamp", "no UTC offset (write e.g. 2026-03-01T09:00:00+08:00 or ...Z)"),
        (rev.isna(), "revenue", "not a number"),
        (rev < 0, "revenue", "negative revenue"),
    ):
        for i in np.flatnonzero(mask.to_numpy())[:20]:
            probs.add(name, int(lines[i]), fld, f"{msg}: {df.iloc[i][fld]!r}")
            bad = True
    if bad:
        return empty
    t = ts.to_numpy(dtype="datetime64[us]").astype(np.int64)
    v = rev.to_numpy(dtype=np.float64)
    order = np.argsort(t, kind="stable")
    t, v, ln = t[order], v[order], lines[order]
    d = np.diff(t)
    dup = np.flatnonzero(d == 0)
    for i in dup[:20]:
        probs.add(name, int(ln[i + 1]), "timestamp", f"duplicate period (same as line {int(ln[i])})")
    if len(dup):
        return empty
    if len(t) == 1:
        step = HOUR_US
    else:
        vals, counts = np.unique(d, return_counts=True)
        step = int(vals[np.argmax(counts)])
    if step not in (HOUR_US, DAY_US):
        probs.add(name, int(ln[0]), "timestamp", "rows are neither hourly nor daily")
        return empty
    gran = "hourly" if step == HOUR_US else "daily"
    for i in np.flatnonzero(d < step)[:20]:
        probs.add(name, int(ln[i + 1]), "timestamp", f"overlaps the {gran} period starting on line {int(ln[i])}")
    for i in np.flatnonzero(d % step != 0)[:20]:
        probs.add(name, int(ln[i + 1]), "timestamp", f"not on the {gran} grid of the rows before it")
    for i in np.flatnonzero((d > step) & (d % step == 0))[:20]:
        missing = int(d[i] // step) - 1
        probs.add(
            name, int(ln[i + 1]), "timestamp",
            f"gap: {missing} {gran[:-2] if gran == 'daily' else 'hour'}(s) missing after line {int(ln[i])} "
            "(supply the rows, with 0 revenue where nothing was earned)",
        )
    if np.any(d != step):
        return empty
    notes = []
    if gran == "daily":
        # spread evenly over the day's hours so the hourly method applies; the note goes into the report
        t = (t[:, None] + np.arange(24, dtype=np.int64)[None, :] * HOUR_US).ravel()
        v = np.repeat(v / 24.0, 24)
        notes.append("revenue.csv is daily; each day's revenue was spread evenly over its 24 hours")
    return t, v, gran, notes


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def load_financials(directory: str | Path, policy=None) -> Financials:
    """Load and validate financials/; with `policy`, also check currency and dates against it."""
    d = Path(directory)
    if not d.is_dir():
        raise CyberclaimError(f"{d}: no such financials directory")
    probs = _Problems()
    for req in ("revenue.csv", "profile.yaml"):
        if not (d / req).is_file():
            probs.add(req, None, "(file)", "required file is missing")
    if probs.items:
        raise FinancialsError(str(d), probs.items)

    profile = _load_yaml(d / "profile.yaml", Profile, probs)
    ts, rev, gran, notes = _load_revenue(d / "revenue.csv", probs)
    ledger = (
        _csv_models(d / "ledger.csv", LedgerItem, ["invoice_id", "vendor", "category", "amount", "currency", "date"],
                    probs, {"betterment_amount": 0.0, "description": ""})
        if (d / "ledger.csv").is_file() else []
    )
    inventory = (
        _csv_models(d / "data_inventory.csv", InventoryRow, ["system", "record_type", "count", "personal"], probs,
                    {"host": ""})
        if (d / "data_inventory.csv").is_file() else []
    )
    restoration = (
        _csv_models(d / "restoration.csv", RestorationRow, ["system", "volume", "rate"], probs, {"unit": "GB"})
        if (d / "restoration.csv").is_file() else []
    )
    ransom = _load_yaml(d / "ransom.yaml", Ransom, probs) if (d / "ransom.yaml").is_file() else None
    fraud = _load_yaml(d / "fraud.yaml", Fraud, probs) if (d / "fraud.yaml").is_file() else None
    liability = _load_yaml(d / "liability.yaml", Liability, probs) if (d / "liability.yaml").is_file() else None
    claim = (_load_yaml(d / "claim.yaml", Claim, probs) if (d / "claim.yaml").is_file() else None) or Claim()

    currency = profile.currency if profile else (policy.currency if policy else "")
    warnings: list[str] = []
    if profile and not is_iso_currency(profile.currency):
        probs.add("profile.yaml", None, "currency", f"unknown currency {profile.currency!r} (ISO 4217, e.g. CNY)")
    if policy is not None and profile and profile.currency != policy.currency:
        probs.add("profile.yaml", None, "currency", f"{profile.currency} differs from the policy currency {policy.currency}")
    for item in ledger:
        if not is_iso_currency(item.currency):
            probs.add("ledger.csv", item.line, "currency", f"unknown currency {item.currency!r}")
        elif currency and item.currency != currency:
            probs.add("ledger.csv", item.line, "currency",
                      f"{item.currency} differs from {currency}; convert at the invoice-date rate before loading")
    for i, tr in enumerate(fraud.transfers if fraud else []):
        if not is_iso_currency(tr.currency):
            probs.add("fraud.yaml", None, f"transfers[{i}].currency", f"unknown currency {tr.currency!r}")
        elif currency and tr.currency != currency:
            probs.add("fraud.yaml", None, f"transfers[{i}].currency", f"{tr.currency} differs from {currency}")

    if policy is not None:
        retro = policy.retroactive_date
        start = policy.period.start.astimezone(policy.tz).date()
        dated = [("ledger.csv", it.line, "date", it.date) for it in ledger]
        dated += [("fraud.yaml", None, f"transfers[{i}].date", t.date) for i, t in enumerate(fraud.transfers if fraud else [])]
        for f, ln, fld, dt in dated:
            if dt < retro:
                probs.add(f, ln, fld, f"{dt} is before the policy's retroactive date {retro}: outside the policy")
            elif dt < start:
                warnings.append(f"{f}{':' + str(ln) if ln else ''} {fld} {dt} is before the period start {start}")
        if len(ts):
            p0 = int(policy.period.start.timestamp() * 1_000_000)
            p1 = int(policy.period.end.timestamp() * 1_000_000)
            if ts[-1] < p0 or ts[0] >= p1:
                first = datetime.fromtimestamp(ts[0] / 1e6, timezone.utc).isoformat()
                last = datetime.fromtimestamp(ts[-1] / 1e6, timezone.utc).isoformat()
                probs.add("revenue.csv", None, "timestamp",
                          f"history {first} … {last} lies wholly outside the policy period")

    if probs.items:
        raise FinancialsError(str(d), probs.items)
    docs = {p.name: _sha256(p) for p in sorted(d.iterdir()) if p.is_file()}
    return Financials(
        currency=currency, revenue_ts=ts, revenue=rev, granularity=gran, profile=profile, ledger=ledger,
        inventory=inventory, restoration=restoration, ransom=ransom, fraud=fraud, liability=liability, claim=claim, documents=docs,
        notes=notes, warnings=warnings,
    )
