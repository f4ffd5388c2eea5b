"""Chinese and English labels for the loss adjustment report (公估报告).

Every word a reader sees comes from here, so the two languages always carry the
same sections, headers and decisions. Head names in Chinese are the shared
`adjusters.heads.HEAD_ZH`, never re-spelt here.
"""
from __future__ import annotations

from adjusters.heads import HEAD_ZH, Decision, Head

LANGS = ("zh", "en")

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网络安全保险公估报告",
        "subtitle": "定责定损报告",
        "report_number": "报告编号",
        "version": "版本",
        "issued": "出具日期",
        "case": "案件编号",
        "case_title": "案件名称",
        # sections
        "s_summary": "一、摘要",
        "s_scope": "二、公估范围",
        "s_background": "三、事故经过",
        "s_chronology": "四、事件时间线",
        "s_liability": "五、事故原因及责任分析",
        "s_loss": "六、损失理算",
        "s_exhibits": "七、证据清单",
        "s_method": "八、理算方法及假设",
        "s_reservation": "九、权利保留",
        "s_charts": "图表",
        "s_missing": "资料缺失",
        # summary block
        "insured": "被保险人",
        "insurer": "保险人",
        "policy_number": "保单号",
        "line": "险种",
        "period": "保险期间",
        "retroactive_date": "追溯日期",
        "trigger_basis": "责任触发基础",
        "retention": "免赔额",
        "place_of_loss": "出险地点",
        "cause_of_loss": "出险原因",
        "liability_finding": "责任认定",
        "claimed": "索赔金额",
        "adjusted": "理算金额",
        "payable": "建议赔付金额",
        "claimed_adjusted_payable": "索赔 → 理算 → 建议赔付",
        "aggregate_limit": "累计赔偿限额",
        "currency": "币种",
        "jurisdiction": "司法管辖",
        # chronology
        "time_utc": "时间（UTC）",
        "time_local": "当地时间",
        "what": "事件",
        "evidence_item": "证据",
        "locator": "定位",
        "sha256": "SHA-256",
        "host": "主机",
        "fact": "认定事实",
        # liability
        "section": "保险责任",
        "decision": "结论",
        "reasons": "理由",
        "cited_exhibits": "引用证据",
        "cited_documents": "引用文件",
        # loss schedule
        "head": "损失项目",
        "formula": "计算公式",
        "inputs": "计算参数",
        "range": "不确定区间（P10 / P50 / P90）",
        "p10": "P10",
        "p50": "P50",
        "p90": "P90",
        "total": "合计",
        "limit": "赔偿限额",
        "sublimit": "分项限额",
        "coinsurance": "共保比例（被保险人自担）",
        "retention_group": "免赔额组",
        "applied_order": "适用顺序",
        # exhibits
        "exhibit": "证据编号",
        "name": "名称",
        "type": "类型",
        "size": "大小（字节）",
        "source": "来源",
        "acquired_by": "取证人",
        "added": "登记时间",
        "custody": "保管链摘要",
        "derived_from": "派生自",
        "custody_chain": "保管链校验",
        "chain_ok": "完整，未发现篡改",
        "chain_broken": "发现异常",
        # method
        "versions": "工具及解析器版本",
        "tool": "工具",
        "ingestors": "解析器",
        "rules": "规则",
        "evidence_hashes": "所依据证据的哈希值",
        "policy_sha256": "保单文件哈希",
        "financials_sha256": "财务资料哈希",
        # charts
        "chart_revenue": "营业收入：标准营业额与实际营业额",
        "chart_swimlanes": "按主机的事件泳道图",
        "chart_losses": "各损失项目金额",
        "baseline": "标准营业额（前四周同时段均值）",
        "actual": "实际营业额",
        "outage": "中断期间",
        "waiting_period": "等待期",
        "none": "无",
        "unknown": "未知",
        "not_restored": "证据范围内未恢复",
        "outages": "中断",
        "service": "服务",
        "start": "开始",
        "end": "结束",
        "duration_hours": "时长（小时）",
        "basis": "依据",
        "exfiltration": "数据外泄",
        "destination": "目的地",
        "bytes": "字节数",
        "records": "记录数",
        "not_adjusted": "未理算",
        "undated": "无时间（证据本身未记录）",
        "page": "页",
    },
    "en": {
        "title": "Cyber Insurance Loss Adjustment Report",
        "subtitle": "Coverage and quantum",
        "report_number": "Report number",
        "version": "Version",
        "issued": "Issued",
        "case": "Case",
        "case_title": "Case title",
        "s_summary": "1. Summary",
        "s_scope": "2. Scope",
        "s_background": "3. Background",
        "s_chronology": "4. Chronology",
        "s_liability": "5. Cause and liability analysis",
        "s_loss": "6. Loss schedule",
        "s_exhibits": "7. Exhibits",
        "s_method": "8. Method and assumptions",
        "s_reservation": "9. Reservation of rights",
        "s_charts": "Charts",
        "s_missing": "Missing information",
        "insured": "Insured",
        "insurer": "Insurer",
        "policy_number": "Policy number",
        "line": "Insurance line",
        "period": "Period of insurance",
        "retroactive_date": "Retroactive date",
        "trigger_basis": "Trigger basis",
        "retention": "Retention",
        "place_of_loss": "Place of loss",
        "cause_of_loss": "Cause of loss",
        "liability_finding": "Liability finding",
        "claimed": "Claimed",
        "adjusted": "Adjusted",
        "payable": "Recommended payable",
        "claimed_adjusted_payable": "Claimed → adjusted → recommended payable",
        "aggregate_limit": "Aggregate limit",
        "currency": "Currency",
        "jurisdiction": "Jurisdiction",
        "time_utc": "Time (UTC)",
        "time_local": "Local time",
        "what": "What happened",
        "evidence_item": "Evidence item",
        "locator": "Locator",
        "sha256": "SHA-256",
        "host": "Host",
        "fact": "Finding",
        "section": "Coverage section",
        "decision": "Decision",
        "reasons": "Reasons",
        "cited_exhibits": "Cited exhibits",
        "cited_documents": "Cited documents",
        "head": "Head of loss",
        "formula": "Formula",
        "inputs": "Inputs",
        "range": "Uncertainty range (P10 / P50 / P90)",
        "p10": "P10",
        "p50": "P50",
        "p90": "P90",
        "total": "Total",
        "limit": "Limit",
        "sublimit": "Sublimit",
        "coinsurance": "Coinsurance (insured's share)",
        "retention_group": "Retention group",
        "applied_order": "Order of application",
        "exhibit": "Exhibit",
        "name": "Name",
        "type": "Type",
        "size": "Size (bytes)",
        "source": "Source",
        "acquired_by": "Acquired by",
        "added": "Registered",
        "custody": "Custody summary",
        "derived_from": "Derived from",
        "custody_chain": "Chain of custody check",
        "chain_ok": "intact, no tampering found",
        "chain_broken": "problems found",
        "versions": "Tool and parser versions",
        "tool": "Tool",
        "ingestors": "Ingestors",
        "rules": "Rules",
        "evidence_hashes": "Evidence hashes the report is built from",
        "policy_sha256": "Policy file hash",
        "financials_sha256": "Financials hash",
        "chart_revenue": "Revenue: standard turnover vs actual",
        "chart_swimlanes": "Incident swimlanes by host",
        "chart_losses": "Loss by head",
        "baseline": "Standard turnover (mean of the 4 prior weeks)",
        "actual": "Actual revenue",
        "outage": "Outage",
        "waiting_period": "Waiting period",
        "none": "none",
        "unknown": "unknown",
        "not_restored": "not restored within the evidence",
        "outages": "Outages",
        "service": "Service",
        "start": "Start",
        "end": "End",
        "duration_hours": "Duration (hours)",
        "basis": "Basis",
        "exfiltration": "Data exfiltration",
        "destination": "Destination",
        "bytes": "Bytes",
        "records": "Records",
        "not_adjusted": "not adjusted",
        "undated": "undated (no time in the evidence)",
        "page": "page",
    },
}

DECISIONS = {
    "zh": {Decision.triggered: "责任成立", Decision.not_triggered: "未触发保险责任",
           Decision.excluded: "属除外责任", Decision.needs_review: "需进一步审核"},
    "en": {Decision.triggered: "triggered", Decision.not_triggered: "not triggered",
           Decision.excluded: "excluded", Decision.needs_review: "needs review"},
}

HEAD_EN = {h: h.value.replace("_", " ").capitalize() for h in Head}
HEAD_EN[Head.dependent_business_interruption] = "Dependent business interruption"
HEAD_EN[Head.notification_costs] = "Notification, call centre and credit monitoring"
HEAD_EN[Head.product_liability] = "Product and professional liability"

TRIGGER_BASIS = {
    "zh": {"discovery": "发现制", "occurrence": "期内发生制", "claims_made_and_reported": "索赔发生并报告制"},
    "en": {"discovery": "discovery", "occurrence": "occurrence", "claims_made_and_reported": "claims made and reported"},
}

# What is missing, in both languages: a report without these inputs says so
# instead of showing figures it cannot support.
MISSING = {
    "evidence": ("本案未登记任何证据，无法认定事故经过。", "No evidence is registered in this case; the incident cannot be established."),
    "policy": ("本案未提供保单，无法认定保险责任及理算赔付金额。", "No policy is on file; coverage cannot be decided and no amount is payable on this report."),
    "financials": ("本案未提供财务资料，无法量化损失金额。", "No financial records are on file; the loss cannot be quantified."),
    "storyline": ("尚未能从证据中得出事故经过。", "No incident storyline could be derived from the evidence."),
    "adjustment": ("未进行理算，本报告不列示任何损失金额。", "No adjustment was made; this report states no loss figures."),
}

SCOPE = {
    "zh": ("受保险人委托，本公估人依据保单条款、被保险人提供的证据及财务资料，对本次网络安全事故的原因、"
           "保险责任及损失金额进行了查勘、分析和理算。本报告所引用的每一事实均可追溯至证据文件的具体字节位置。"),
    "en": ("On the insurer's instructions we examined the cause of this cyber incident, whether the policy responds, "
           "and the amount of the loss, from the policy wording and the evidence and financial records supplied by the "
           "insured. Every fact stated here can be traced to the exact bytes of an evidence item."),
}

METHOD = {
    "zh": [
        "证据登记时计算SHA-256并存入只读证据库，出具报告前重新校验；任何变动均拒绝出具。",
        "营业中断：损失小时为中断开始（向下取整到小时）至中断结束（向上取整到小时）之间的整小时；"
        "每小时标准营业额为前四周同一星期、同一小时实际营业额的平均值；每小时损失营业额 = max(0, 标准营业额 − 实际营业额)。",
        "等待期按保单约定以时间免赔（前W小时不赔）或门槛（中断达W小时则全部赔付，否则不赔）方式处理；仅计算恢复期内的小时。",
        "毛利润基础：损失营业额合计 × 毛利率 × (1 − 节省比例) + 增加的工作成本（以经济上限为限）；"
        "净收入基础：损失营业额 × 净利率 + 持续费用 × 赔付小时数。",
        "费用类损失按发票台账逐项汇总，保单不承保硬件改善时扣除改善部分。",
        "依保单约定顺序依次适用免赔额（同一免赔额组仅扣除一次）、共保比例、分项限额、赔偿限额及累计赔偿限额。",
        "P10/P50/P90 反映输入不确定性下的区间，建议赔付金额以理算结果为准。",
    ],
    "en": [
        "Each evidence item was hashed (SHA-256) on registration, kept read-only in the vault and re-verified before "
        "this report was issued; a changed item stops the report.",
        "Business interruption: loss hours are the whole hours from the outage start (floored to the hour) to its end "
        "(ceiled); the standard turnover of an hour is the mean actual revenue at the same weekday and hour in the four "
        "weeks before; lost turnover per hour = max(0, standard − actual).",
        "The waiting period applies as the policy states: as a time deductible (the first W hours are not paid) or as "
        "a franchise (all hours are paid once the outage lasts W hours, none otherwise); only hours within the period "
        "of restoration count.",
        "Gross-profit basis: lost turnover × rate of gross profit × (1 − savings) + increased cost of working up to its "
        "economic limit. Net-income basis: lost turnover × net profit rate + continuing expenses per paid hour.",
        "Cost heads are the sum of the invoices in the ledger for that head, less any betterment unless the policy "
        "covers hardware improvement.",
        "Retention (once per retention group), coinsurance, sublimit, limit and the aggregate apply in the order the "
        "policy states.",
        "P10/P50/P90 show the range under uncertain inputs; the recommended payable is the adjusted figure.",
    ],
}

RESERVATION = {
    "zh": ("本报告仅依据截至出具日所获得的证据及资料作出。如有新的证据或资料，本公估人保留修改本报告结论的权利。"
           "本报告不构成保险人对赔付责任的最终承诺，保险人保留保单项下的全部权利。"),
    "en": ("This report rests only on the evidence and records available at the date of issue. We reserve the right "
           "to revise it if further evidence or records come to light. It is not the insurer's final admission of "
           "liability; the insurer reserves all its rights under the policy."),
}


def label(lang: str, key: str) -> str:
    return LABELS[lang].get(key, key)


def head_name(lang: str, head: str) -> str:
    try:
        h = Head(head)
    except ValueError:
        return head
    return HEAD_ZH[h] if lang == "zh" else HEAD_EN[h]


def decision_name(lang: str, decision: str) -> str:
    try:
        return DECISIONS[lang][Decision(decision)]
    except ValueError:
        return decision


def missing_notice(code: str) -> tuple[str, str]:
    """(Chinese, English) sentence saying what is missing."""
    return MISSING.get(code, (f"缺少：{code}", f"Missing: {code}"))
