"""The insurance policy: pydantic models for policy.yaml and `load_policy`.

The format is documented in docs/policy-format.md; the JSON Schema exported
from these models is docs/policy.schema.json (`python -m adjusters.policy
--schema > docs/policy.schema.json`). Unknown keys are errors, because a
misspelt `sublimt:` silently ignored would pay the wrong amount.
"""
from __future__ import annotations

import json
import sys
from datetime import date, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adjusters.currency import is_iso_currency
from adjusters.heads import Head, Trigger
from adjusters.yamlpos import compose, dotted, line_of
from case_store import CyberclaimError

BI_HEADS = frozenset({Head.business_interruption, Head.dependent_business_interruption})


class PolicyError(CyberclaimError):
    """A policy file that does not validate; `problems` lists (field, line, message)."""

    def __init__(self, path: str, problems: list[tuple[str, int | None, str]]):
        self.path, self.problems = path, problems
        first = "; ".join(f"{f} (line {ln}): {m}" if ln else f"{f}: {m}" for f, ln, m in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{path}: invalid policy: {first}{more}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Product(StrEnum):
    enterprise = "enterprise"
    product_service = "product_service"


class Jurisdiction(StrEnum):
    CN = "CN"
    US = "US"
    UK = "UK"
    EU = "EU"


class TriggerBasis(StrEnum):
    discovery = "discovery"
    occurrence = "occurrence"
    claims_made_and_reported = "claims_made_and_reported"


class Step(StrEnum):
    retention = "retention"
    coinsurance = "coinsurance"
    sublimit = "sublimit"
    limit = "limit"
    aggregate = "aggregate"


DEFAULT_ORDER = [Step.retention, Step.coinsurance, Step.sublimit, Step.limit, Step.aggregate]


class ExclusionCode(StrEnum):
    war = "war"  # LMA5567A-style war and state-backed cyber operation
    infrastructure_outage = "infrastructure_outage"
    prior_known_circumstances = "prior_known_circumstances"
    unencrypted_portable_devices = "unencrypted_portable_devices"
    betterment = "betterment"
    insider_dishonesty = "insider_dishonesty"
    bodily_injury = "bodily_injury"
    uninsurable_fines = "uninsurable_fines"
    virtual_currency_payment = "virtual_currency_payment"  # CN: 银发〔2021〕237号


class WaitingMode(StrEnum):
    time_deductible = "time_deductible"
    franchise = "franchise"


class BIBasis(StrEnum):
    gross_profit = "gross_profit"
    net_income = "net_income"


class Period(_Strict):
    start: datetime
    end: datetime


class Retention(_Strict):
    """Either money (`amount`) or time (`hours`, BI only: added to the time deductible)."""

    amount: float | None = Field(default=None, ge=0)
    hours: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_of(self) -> "Retention":
        if (self.amount is None) == (self.hours is None):
            raise ValueError("a retention is either {amount: X} or {hours: H}")
        return self


class WaitingPeriod(_Strict):
    hours: float = Field(ge=0)
    mode: WaitingMode


class CostPerRecord(_Strict):
    amount: float = Field(ge=0)
    source: str = Field(min_length=1, description="the published study the figure comes from")
    year: int = Field(ge=1990, le=2100)


class Section(_Strict):
    name: Head
    triggers: list[Trigger] = Field(min_length=1)
    limit: float = Field(gt=0)
    sublimit: float | None = Field(default=None, gt=0)
    retention: Retention | None = None
    retention_group: str | None = None
    waiting_period: WaitingPeriod | None = None
    period_of_restoration_hours: float | None = Field(default=None, gt=0)
    bi_basis: BIBasis | None = None
    coinsurance: float = Field(default=0.0, ge=0, le=1, description="insured's share of each loss")
    count_limits: dict[str, int] = Field(default_factory=dict)
    cost_per_record: CostPerRecord | None = None
    dependent_providers: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bi_fields_only_on_bi(self) -> "Section":
        bi = self.name in BI_HEADS
        for fld in ("waiting_period", "period_of_restoration_hours", "bi_basis"):
            if not bi and getattr(self, fld) is not None:
                raise ValueError(f"{fld} applies only to business interruption sections, not {self.name.value}")
        if not bi and self.retention is not None and self.retention.hours is not None:
            raise ValueError("a retention in hours applies only to business interruption sections")
        if self.dependent_providers and self.name != Head.dependent_business_interruption:
            raise ValueError("dependent_providers applies only to dependent_business_interruption")
        if self.cost_per_record is not None and self.name != Head.privacy_liability:
            raise ValueError("cost_per_record applies only to privacy_liability")
        if self.sublimit is not None and self.sublimit > self.limit:
            raise ValueError(f"sublimit {self.sublimit} exceeds the section limit {self.limit}")
        return self

    @property
    def basis(self) -> BIBasis:
        return self.bi_basis or BIBasis.gross_profit


class Exclusion(_Strict):
    code: ExclusionCode
    wording: str = ""
    attribution_basis: str | None = Field(
        default=None,
        description="war: what attribution the insurer relies on, e.g. 'government_of_state_where_system_located' "
        "or 'reasonable_inference'",
    )
    major_detrimental_impact: bool | None = Field(
        default=None, description="war: the state-backed carve-out needs a major detrimental impact on a state"
    )


def _to_datetime(v, tz: ZoneInfo) -> datetime:
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00")) if "T" in v or " " in v.strip() else date.fromisoformat(v)
        except ValueError:
            return v  # left for pydantic to report with the field and line
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=tz)
    if isinstance(v, date):
        return datetime.combine(v, time(0), tzinfo=tz)
    return v


class Policy(_Strict):
    policy_number: str = Field(min_length=1)
    insurer: str = Field(min_length=1)
    insured: str = Field(min_length=1)
    product: Product
    product_type: str = Field(
        min_length=1,
        description="telecom_internet | industrial_internet | connected_vehicles | other_sector | "
        "security_product:<waf|anti_ddos|dlp|anti_ransomware|edr> | security_service | it_product",
    )
    line: str = ""
    jurisdiction: Jurisdiction
    currency: str
    timezone: str = "UTC"
    period: Period
    retroactive_date: date
    trigger_basis: TriggerBasis
    aggregate_limit: float = Field(gt=0)
    application_order: list[Step] = Field(default_factory=lambda: list(DEFAULT_ORDER))
    sections: list[Section] = Field(min_length=1)
    exclusions: list[Exclusion] = Field(default_factory=list)
    hardware_improvement_covered: bool = False

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, v: str) -> str:
        if not is_iso_currency(v):
            raise ValueError(f"unknown currency {v!r} (expected an ISO 4217 code such as CNY, USD, EUR, GBP)")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {v!r} (e.g. Asia/Shanghai)") from None
        return v

    @field_validator("product_type")
    @classmethod
    def _product_type(cls, v: str) -> str:
        base, _, kind = v.partition(":")
        if base not in PRODUCT_TYPES:
            raise ValueError(f"unknown product_type {v!r}; one of {', '.join(sorted(PRODUCT_TYPES))}")
        if kind and (base != "security_product" or kind not in SECURITY_PRODUCTS):
            raise ValueError(f"unknown product_type {v!r}; security products are "
                             + ", ".join(f"security_product:{k}" for k in sorted(SECURITY_PRODUCTS)))
        return v

    @field_validator("application_order")
    @classmethod
    def _order(cls, v: list[Step]) -> list[Step]:
        if sorted(v) != sorted(DEFAULT_ORDER):
            raise ValueError("application_order must name each of retention, coinsurance, sublimit, limit, aggregate once")
        if v[-1] != Step.aggregate:
            raise ValueError("aggregate applies across sections, so it must come last in application_order")
        return v

    @model_validator(mode="before")
    @classmethod
    def _localise_times(cls, data):
        """Naive or date-only period bounds are in the policy's own timezone (as printed on the schedule)."""
        if isinstance(data, dict) and isinstance(data.get("period"), dict):
            try:
                tz = ZoneInfo(str(data.get("timezone") or "UTC"))
            except (ZoneInfoNotFoundError, ValueError):
                return data
            p = dict(data["period"])
            for k in ("start", "end"):
                if k in p:
                    p[k] = _to_datetime(p[k], tz)
            data = {**data, "period": p}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "Policy":
        if self.period.end <= self.period.start:
            raise ValueError("period.end must be after period.start")
        if self.retroactive_date > self.period.start.astimezone(self.tz).date():
            raise ValueError("retroactive_date must not be after the period start")
        seen = set()
        for s in self.sections:
            if s.name in seen:
                raise ValueError(f"section {s.name.value} appears twice")
            seen.add(s.name)
        groups: dict[str, list[Section]] = {}
        for s in self.sections:
            if s.retention_group:
                groups.setdefault(s.retention_group, []).append(s)
        for g, ss in groups.items():
            amounts = {s.retention.amount for s in ss if s.retention is not None and s.retention.amount is not None}
            if len(amounts) > 1:
                raise ValueError(f"retention_group {g!r}: its sections state different retentions {sorted(amounts)}")
        return self

    # --- convenience for adjusters -------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def section(self, head: Head | str) -> Section | None:
        return next((s for s in self.sections if s.name == Head(head)), None)

    def exclusion(self, code: ExclusionCode | str) -> Exclusion | None:
        return next((e for e in self.exclusions if e.code == ExclusionCode(code)), None)

    @property
    def betterment_excluded(self) -> bool:
        return not self.hardware_improvement_covered


SECURITY_PRODUCTS = frozenset({"anti_ddos", "dlp", "anti_ransomware", "edr", "waf", "other"})
PRODUCT_TYPES = frozenset(
    {"telecom_internet", "industrial_internet", "connected_vehicles", "other_sector",
     "security_product", "security_service", "it_product"}
)


def parse_policy(text: str, source: str = "policy.yaml") -> Policy:
    """Validate policy YAML text; every problem names the field and its line."""
    try:
        data = yaml.safe_load(text)
        root = compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise PolicyError(source, [("(yaml)", mark.line + 1 if mark else None, str(getattr(e, "problem", e)))]) from None
    if not isinstance(data, dict):
        raise PolicyError(source, [("(document)", 1, "expected a mapping of policy fields")])
    try:
        return Policy.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = list(err["loc"])
            problems.append((dotted(loc), line_of(root, loc), err["msg"].removeprefix("Value error, ")))
        raise PolicyError(source, problems) from None


def load_policy(path: str | Path) -> Policy:
    p = Path(path)
    if not p.is_file():
        raise CyberclaimError(f"{p}: no such policy file")
    return parse_policy(p.read_text(encoding="utf-8"), str(p))


def json_schema() -> dict:
    return Policy.model_json_schema()


if __name__ == "__main__":  # python -m adjusters.policy --schema
    if "--schema" in sys.argv:
        print(json.dumps(json_schema(), ensure_ascii=False, indent=2, sort_keys=True))
    else:
        for a in sys.argv[1:]:
            pol = load_policy(a)
            print(f"{a}: ok ({pol.policy_number}, {len(pol.sections)} sections)")
