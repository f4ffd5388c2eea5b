"""Coverage (定责): for each policy section, triggered / not triggered / excluded /
needs review, with the reasons in English and Chinese and what they rest on.

The rules and their order are docs/adjustment-method.md §1.
"""
from __future__ import annotations

from datetime import datetime, time

from pydantic import BaseModel, Field

from adjusters.facts import REVIEW_CONFIDENCE, fact_time, ids, named_fact, parse_time, truthy, weak
from adjusters.financials import Financials
from adjusters.heads import Decision, Head, Trigger
from adjusters.losses.fines import assess_fines
from adjusters.policy import BI_HEADS, ExclusionCode, Policy, Section, TriggerBasis
from adjusters.records import personal_records
from forensics.storyline_model import Fact, Storyline


class CoverageDecision(BaseModel):
    section: str
    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    cited_event_ids: list[str] = Field(default_factory=list)
    cited_documents: list[str] = Field(default_factory=list)


def _r(en: str, zh: str) -> str:
    return f"{en} / {zh}"


class _Fired:
    def __init__(self, trigger: Trigger, facts: list[Fact | None], en: str, zh: str, event_ids: list[str] = ()):
        self.trigger, self.facts, self.reason = trigger, facts, _r(en, zh)
        self.event_ids = sorted(set(ids(*facts)) | set(event_ids))


def _fired_triggers(s: Storyline, fin: Financials | None, sec: Section) -> list[_Fired]:
    out: list[_Fired] = []
    outage_ids = sorted({e for o in s.outages for e in o.cited_event_ids})
    mal = s.malicious
    for t in sec.triggers:
        if t == Trigger.security_failure and truthy(mal):
            out.append(_Fired(t, [mal], "Security failure: the storyline finds malicious activity",
                              "网络安全事件：取证认定存在恶意攻击行为"))
        elif t == Trigger.system_failure:
            op = s.operator_error
            if truthy(op):
                out.append(_Fired(t, [op], "System failure caused by operator error",
                                  "系统故障：内部人员操作不当所致"))
            elif s.outages and mal is not None and mal.value is False:
                out.append(_Fired(t, [mal], "System failure: non-malicious outage",
                                  "系统故障：非恶意原因导致的系统中断", outage_ids))
        elif t == Trigger.privacy_event:
            rc = personal_records(s, fin)
            if rc.total > 0 or s.exfiltration:
                f = Fact(name="privacy_event", value=rc.total, confidence=1.0, cited_event_ids=rc.cited_event_ids)
                out.append(_Fired(t, [f], f"Privacy event: {rc.total:,} personal records affected ({rc.basis})",
                                  f"数据泄露事件：涉及个人信息 {rc.total:,} 条"))
        elif t == Trigger.extortion_threat and truthy(s.extortion):
            out.append(_Fired(t, [s.extortion], "Extortion threat received", "收到网络勒索威胁"))
        elif t == Trigger.social_engineering_fraud and truthy(s.social_engineering):
            out.append(_Fired(t, [s.social_engineering], "Social-engineering funds-transfer fraud",
                              "社会工程学欺诈导致资金转移"))
        elif t == Trigger.dependent_outage and truthy(s.dependent_provider):
            prov = str(s.dependent_provider.value).strip().lower()
            named = [p for p in sec.dependent_providers if p.strip().lower() == prov]
            if named:
                out.append(_Fired(t, [s.dependent_provider], f"Outage at named dependent provider {named[0]}",
                                  f"保单列明的依赖服务商 {named[0]} 发生中断", outage_ids))
    return out


def _clause(policy: Policy, sec: Section) -> str:
    return f"policy {policy.policy_number} sections[{policy.sections.index(sec)}] {sec.name.value}"


def _excl_doc(policy: Policy, code: ExclusionCode) -> str:
    e = policy.exclusion(code)
    return f"policy {policy.policy_number} exclusions[{policy.exclusions.index(e)}] {code.value}"


def _time_check(s: Storyline, policy: Policy, fin: Financials | None) -> tuple[bool, str, list[str]]:
    t0 = fact_time(s.t0)
    disc = fact_time(s.discovery) or t0
    reported = parse_time(fin.claim.reported) if fin and fin.claim.reported else None
    reported = reported or disc
    basis = policy.trigger_basis
    start, end = policy.period.start, policy.period.end
    retro = datetime.combine(policy.retroactive_date, time(0), tzinfo=policy.tz)
    cited = ids(s.t0, s.discovery)
    key = {TriggerBasis.occurrence: t0, TriggerBasis.discovery: disc,
           TriggerBasis.claims_made_and_reported: reported}[basis]
    label = {TriggerBasis.occurrence: ("first malicious/faulty activity (T0)", "损失发生时间"),
             TriggerBasis.discovery: ("discovery", "发现时间"),
             TriggerBasis.claims_made_and_reported: ("claim reported", "索赔提出时间")}[basis]
    if key is None:
        return False, _r(f"No {label[0]} time in the storyline: the trigger basis ({basis.value}) cannot be tested",
                         f"取证未能确定{label[1]}，无法判断是否在保险期间内"), cited
    if not (start <= key < end):
        return False, _r(f"{label[0].capitalize()} {key.isoformat()} is outside the policy period "
                         f"{start.isoformat()} – {end.isoformat()} ({basis.value} basis)",
                         f"{label[1]}不在保险期间内"), cited
    if t0 is not None and t0 < retro:
        return False, _r(f"T0 {t0.isoformat()} is before the retroactive date {policy.retroactive_date}",
                         "损失起始时间早于追溯日"), cited
    return True, _r(f"{label[0].capitalize()} {key.isoformat()} is within the policy period ({basis.value} basis)"
                    + (f" and T0 is after the retroactive date {policy.retroactive_date}" if t0 else ""),
                    f"{label[1]}在保险期间内，且晚于追溯日"), cited


_GOV_BASIS = ("government", "state where", "official attribution", "政府")


def _exclusion(s: Storyline, policy: Policy, fin: Financials | None, sec: Section) -> tuple[Decision, str, ExclusionCode, list[str]] | None:
    """The first exclusion that applies: (excluded|needs_review, reason, code, cited ids)."""
    E = ExclusionCode
    if policy.exclusion(E.war) and s.attribution is not None and isinstance(s.attribution.value, dict):
        a, ex = s.attribution.value, policy.exclusion(E.war)
        if a.get("state_actor"):
            basis = str(a.get("basis") or "")
            gov = any(k in basis.lower() for k in _GOV_BASIS)
            accepted = gov or (ex.attribution_basis or "").startswith("reasonable") and bool(basis)
            impact_ok = not ex.major_detrimental_impact or bool(a.get("major_detrimental_impact"))
            if s.attribution.confidence < REVIEW_CONFIDENCE or not accepted:
                return (Decision.needs_review,
                        _r(f"State actor {a.get('actor') or ''} suggested (basis: {basis or 'none'}, confidence "
                           f"{s.attribution.confidence:.2f}): the war exclusion needs an attribution the policy accepts",
                           "疑似国家背景攻击，但归因依据不足，需人工复核战争除外责任"), E.war, ids(s.attribution))
            if impact_ok:
                return (Decision.excluded,
                        _r(f"War / state-backed cyber operation exclusion: attributed to {a.get('actor') or 'a state'} "
                           f"({basis})" + (", with major detrimental impact on a state" if ex.major_detrimental_impact else ""),
                           "战争及国家背景网络行动除外责任适用"), E.war, ids(s.attribution))
    if policy.exclusion(E.infrastructure_outage):
        f = named_fact(s, "infrastructure_outage")
        infra = [o for o in s.outages if any(k in o.basis.lower() for k in ("infrastructure", "power", "telecom failure"))]
        if truthy(f) or infra:
            return (Decision.excluded, _r("Infrastructure outage exclusion (power / telecom / utility failure)",
                                          "基础设施中断除外责任"),
                    E.infrastructure_outage, sorted(set(ids(f)) | {e for o in infra for e in o.cited_event_ids}))
    if policy.exclusion(E.prior_known_circumstances):
        disc = fact_time(s.discovery) or fact_time(s.t0)
        f = named_fact(s, "known_before_inception")
        if truthy(f) or (disc is not None and disc < policy.period.start):
            return (Decision.excluded, _r("Prior known circumstances: the incident was known before inception",
                                          "投保前已知情况除外责任"), E.prior_known_circumstances, ids(f, s.discovery))
    for code, name, en, zh in (
        (E.unencrypted_portable_devices, "unencrypted_portable_device", "Unencrypted portable device exclusion",
         "未加密便携设备除外责任"),
        (E.insider_dishonesty, "insider_dishonesty", "Insider dishonesty exclusion", "内部人员故意不诚实行为除外责任"),
        (E.bodily_injury, "bodily_injury", "Bodily injury exclusion", "人身伤害除外责任"),
    ):
        f = named_fact(s, name)
        if policy.exclusion(code) and truthy(f):
            # the insurer must establish an exclusion: a suspicion at review confidence goes to a person
            if f.confidence <= REVIEW_CONFIDENCE:
                return (Decision.needs_review,
                        _r(f"{en} suspected (confidence {f.confidence:.2f}): the evidence indicates it but does not "
                           "establish it; an adjuster must decide", f"疑似适用{zh}，证据不足以认定，需人工复核"),
                        code, ids(f))
            return Decision.excluded, _r(en, zh), code, ids(f)
    if sec.name == Head.regulatory_fines and policy.exclusion(E.uninsurable_fines) and fin is not None:
        fa = assess_fines(fin.liability.fines if fin.liability else [], policy.jurisdiction)
        if fa.items and fa.insurable_total == 0:
            return (Decision.excluded,
                    _r(f"Uninsurable fines: fines are not insurable under {policy.jurisdiction.value} law",
                       "依法不可保的罚款除外"), E.uninsurable_fines, [])
    return None


def decide_section(s: Storyline, policy: Policy, fin: Financials | None, sec: Section) -> CoverageDecision:
    docs = [_clause(policy, sec)]
    reasons: list[str] = []
    # the outage is not on the insured's system: its loss belongs under dependent BI
    if sec.name == Head.business_interruption and truthy(s.dependent_provider):
        return CoverageDecision(
            section=sec.name.value, decision=Decision.not_triggered,
            reasons=[_r(f"The outage was at the provider {s.dependent_provider.value}, not on the insured's systems "
                        "(see dependent business interruption)", "中断发生在依赖服务商处，不属于被保险人自身系统中断")],
            cited_event_ids=ids(s.dependent_provider), cited_documents=docs)
    fired = _fired_triggers(s, fin, sec)
    if sec.name in BI_HEADS and not s.outages:
        # the peril may still have happened (the contract decides on triggers); there is simply nothing to pay
        reasons.append(_r("No outage of the insured's service in the storyline: no interruption loss",
                          "取证未发现营业系统中断，无营业中断损失"))
    if not fired:
        reasons.append(_r(f"None of the section's triggers ({', '.join(t.value for t in sec.triggers)}) is met",
                          "本保障项下的触发条件均未满足"))
        return CoverageDecision(section=sec.name.value, decision=Decision.not_triggered, reasons=reasons,
                                cited_event_ids=ids(s.malicious, s.operator_error), cited_documents=docs)
    cited = sorted({e for f in fired for e in f.event_ids})
    reasons.extend(f.reason for f in fired)
    ok, why, tcited = _time_check(s, policy, fin)
    reasons.append(why)
    cited = sorted(set(cited) | set(tcited))
    if not ok:
        return CoverageDecision(section=sec.name.value, decision=Decision.not_triggered, reasons=reasons,
                                cited_event_ids=cited, cited_documents=docs)
    ex = _exclusion(s, policy, fin, sec)
    if ex is not None:
        decision, why, code, ecited = ex
        reasons.append(why)
        wording = policy.exclusion(code).wording
        if wording:
            reasons.append(f"“{wording}”")
        return CoverageDecision(section=sec.name.value, decision=decision, reasons=reasons,
                                cited_event_ids=sorted(set(cited) | set(ecited)),
                                cited_documents=docs + [_excl_doc(policy, code)])
    if all(weak(*f.facts) for f in fired):
        reasons.append(_r(f"The evidence for the trigger is weak (confidence below {REVIEW_CONFIDENCE})",
                          "触发事实证据不足（置信度低），需人工复核"))
        return CoverageDecision(section=sec.name.value, decision=Decision.needs_review, reasons=reasons,
                                cited_event_ids=cited, cited_documents=docs)
    # amount-level exclusions: the section stays triggered, the reason says what is removed
    if sec.name == Head.extortion and policy.exclusion(ExclusionCode.virtual_currency_payment) and fin and fin.ransom:
        from adjusters.losses.extortion import ransom_not_payable
        if ransom_not_payable(policy, fin.ransom):
            reasons.append(_r("The ransom paid in virtual currency is not payable in mainland China "
                              "(银发〔2021〕237号); other extortion costs remain covered",
                              "以虚拟货币支付的赎金不予赔付（银发〔2021〕237号），其他勒索相关费用仍予赔付"))
            docs.append(_excl_doc(policy, ExclusionCode.virtual_currency_payment))
    if sec.name == Head.hardware_replacement and policy.betterment_excluded:
        reasons.append(_r("Betterment (upgrade over like-for-like) is not covered and is removed from invoices",
                          "硬件改善（升级）部分不在保障范围内，已从发票金额中扣除"))
    return CoverageDecision(section=sec.name.value, decision=Decision.triggered, reasons=reasons,
                            cited_event_ids=cited, cited_documents=docs)


def decide_coverage(s: Storyline, policy: Policy, fin: Financials | None = None) -> list[CoverageDecision]:
    return [decide_section(s, policy, fin, sec) for sec in policy.sections]
