"""Names shared by policies, adjusters, scenarios' truth.json and reports.

Heads of loss follow the MIIT pilot notice's list (DESIGN.md "Heads of loss");
a policy's coverage sections use the same names.
"""
from __future__ import annotations

from enum import StrEnum


class Head(StrEnum):
    # first party (财产类)
    business_interruption = "business_interruption"  # 营业中断损失
    dependent_business_interruption = "dependent_business_interruption"
    data_restoration = "data_restoration"  # 数据资产重置费用
    incident_response = "incident_response"  # 应急处置费用
    hardware_replacement = "hardware_replacement"  # 硬件改善成本
    direct_physical_loss = "direct_physical_loss"  # 直接物理损失
    extortion = "extortion"  # 网络勒索损失
    funds_transfer_fraud = "funds_transfer_fraud"  # 网络欺诈损失
    public_relations = "public_relations"  # 公关费用
    legal_costs = "legal_costs"  # 法律费用
    # third party (责任类)
    privacy_liability = "privacy_liability"  # 数据泄露责任
    network_security_liability = "network_security_liability"  # 网络安全事件责任
    media_liability = "media_liability"  # 媒体侵权责任
    outsourcer_liability = "outsourcer_liability"  # 外包商相关责任
    product_liability = "product_liability"  # 产品责任 / 技术服务职业责任
    regulatory_fines = "regulatory_fines"
    notification_costs = "notification_costs"  # notification, call centre, credit monitoring


HEAD_ZH = {
    Head.business_interruption: "营业中断损失",
    Head.dependent_business_interruption: "依赖方营业中断损失",
    Head.data_restoration: "数据资产重置费用",
    Head.incident_response: "应急处置费用",
    Head.hardware_replacement: "硬件改善成本",
    Head.direct_physical_loss: "直接物理损失",
    Head.extortion: "网络勒索损失",
    Head.funds_transfer_fraud: "网络欺诈损失",
    Head.public_relations: "公关费用",
    Head.legal_costs: "法律费用",
    Head.privacy_liability: "数据泄露责任",
    Head.network_security_liability: "网络安全事件责任",
    Head.media_liability: "媒体侵权责任",
    Head.outsourcer_liability: "外包商相关责任",
    Head.product_liability: "产品责任/技术服务职业责任",
    Head.regulatory_fines: "监管罚款",
    Head.notification_costs: "通知及信用监控费用",
}


class Decision(StrEnum):
    triggered = "triggered"
    not_triggered = "not_triggered"
    excluded = "excluded"
    needs_review = "needs_review"


class Trigger(StrEnum):
    security_failure = "security_failure"
    system_failure = "system_failure"  # includes operator error 内部人员操作不当
    privacy_event = "privacy_event"
    extortion_threat = "extortion_threat"
    social_engineering_fraud = "social_engineering_fraud"
    dependent_outage = "dependent_outage"
