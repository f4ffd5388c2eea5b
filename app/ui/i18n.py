"""Interface strings in English and Chinese. The English text is the key; `t()` looks up
the Chinese when the session's language is zh and formats the placeholders."""
from __future__ import annotations

LANGS = ("en", "zh")

ZH: dict[str, str] = {
    # navigation
    "Cases": "案件", "Evidence": "证据", "Ingest": "解析", "Timeline": "时间线", "Graph": "关系图",
    "Findings": "检出", "Storyline": "事件经过", "Coverage": "定责", "Loss": "定损", "Reports": "报告", "Admin": "管理",
    # roles and decisions
    "analyst": "取证分析师", "adjuster": "理赔/公估师", "lawyer": "律师（只读）", "admin": "管理员",
    "triggered": "触发（承保）", "not_triggered": "未触发", "excluded": "除外", "needs_review": "需复核",
    "gross_profit_rate": "毛利率", "net_profit_rate": "净利率", "continuing_expenses_per_hour": "持续费用/小时",
    "savings_rate": "节省费用率", "make_up_rate": "追补率",
    # shell
    "User name": "用户名", "Password": "密码", "Sign in": "登录", "Sign out": "退出登录",
    "Wrong user name or password.": "用户名或密码错误。",
    "No users yet. An administrator creates the first one with: cyberclaim user add NAME --role admin":
        "尚无用户。管理员请先运行：cyberclaim user add 用户名 --role admin",
    "Single-user mode is refused: the server is not bound to localhost.": "拒绝单用户模式：服务未绑定在本机回环地址。",
    "Open a case on the Cases page first.": "请先在“案件”页打开一个案件。",
    "You do not have access to case {case}.": "您无权访问案件 {case}。",
    "You do not have access to this page.": "您无权访问此页面。",
    "Case": "案件", "events": "条事件", "errors": "个错误", "confidence": "置信度", "cached": "已缓存",
    "{field}: not an ISO 8601 time: {value}": "{field}：不是 ISO 8601 时间：{value}",
    # cases
    "Title": "标题", "Insured": "被保险人", "Status": "状态", "Created": "创建时间", "Created by": "创建人",
    "Policy": "保单", "Financials": "财务资料", "Open case": "打开案件", "Opened case {case}.": "已打开案件 {case}。",
    "No cases you can open yet.": "暂无您可打开的案件。", "New case": "新建案件",
    "Policy (YAML, optional)": "保单（YAML，可选）",
    "Status of {case}": "案件 {case} 的状态", "Set status": "更改状态", "open": "进行中", "on_hold": "暂停", "closed": "已结案", "Create case": "创建案件", "Created case {case}.": "已创建案件 {case}。",
    # evidence
    "Add evidence": "添加证据", "Evidence files (up to {mb:,} MB each)": "证据文件（每个不超过 {mb:,} MB）",
    "Acquired by": "取证人", "Add to the vault": "存入证据库",
    "{name}: already in this case (same SHA-256).": "{name}：本案已有此证据（SHA-256 相同）。",
    "{name} added: SHA-256 {sha}": "{name} 已入库：SHA-256 {sha}",
    "Your role cannot add evidence (read-only).": "您的角色不能添加证据（只读）。",
    "Evidence items": "证据清单", "Name": "名称", "Size": "大小", "Type": "类型", "Source": "来源",
    "Added": "入库时间", "Added by": "入库人", "Derived from": "派生自", "Derivation": "派生方式",
    "No evidence yet.": "尚无证据。", "Verify all hashes": "校验全部哈希",
    "All {n} items match their SHA-256.": "全部 {n} 项与其 SHA-256 一致。",
    "Chain of custody": "证据保管链",
    "Chain intact: {n} entries, each hash-chained to the one before.": "保管链完整：{n} 条记录，逐条哈希链接。",
    "When": "时间", "Who": "操作人", "Action": "操作", "Details": "详情", "Tool": "工具",
    # ingest
    "Run ingest": "开始解析", "Planning…": "规划中…", "Done": "完成",
    "Ingest finished: {n:,} events from {k} items.": "解析完成：{k} 项证据共 {n:,} 条事件。",
    "Your role cannot run ingest (read-only).": "您的角色不能运行解析（只读）。",
    "Parses": "解析记录", "Errors per file": "各文件错误", "No ingest errors.": "无解析错误。",
    # timeline
    "Saved views": "已保存视图", "View": "视图", "Load view": "载入视图", "Save current filter as": "将当前筛选保存为",
    "Save view": "保存视图", "Saved view {name}.": "已保存视图 {name}。",
    "From (UTC, ISO 8601)": "起（UTC，ISO 8601）", "To (UTC, ISO 8601)": "止（UTC，ISO 8601）", "Host": "主机",
    "User": "用户", "IP": "IP", "Tag": "标签", "Data type (prefix*)": "数据类型（前缀*）", "Text": "文本",
    "Starred only": "仅看星标", "Analyst tag": "分析师标签", "Time (UTC)": "时间（UTC）", "Events": "事件数",
    "Severity": "严重程度", "Bucket: {w} s. Drag across the chart to zoom in to that period.":
        "分桶：{w} 秒。在图上拖选一段时间即可放大到该时段。",
    "Reset time range": "重置时间范围",
    "Parsed time (before clock correction)": "解析时间（时钟校正前）", "Clock correction (s)": "时钟校正（秒）",
    "**{total:,}** events · page {page} of {pages:,} · {ms:.0f} ms": "共 **{total:,}** 条事件 · 第 {page}/{pages:,} 页 · {ms:.0f} 毫秒",
    "Page": "页码", "Marks": "标记", "Event": "事件", "Star": "加星标", "Unstar": "取消星标", "Add tag": "添加标签",
    "Remove tag {tag}": "移除标签 {tag}", "Comment": "批注", "Add comment": "添加批注", "No events match.": "没有匹配的事件。",
    # graph
    "Entity graph": "实体关系图", "Building the graph…": "正在构建关系图…",
    "No entities yet: ingest evidence first.": "尚无实体：请先解析证据。", "Entities shown": "显示实体数",
    "Kinds": "类别", "Entity": "实体", "{n} of {total} entities, {e} links": "{total} 个实体中的 {n} 个，{e} 条关系",
    "First seen {a}, last seen {b}; aliases: {al}": "首次出现 {a}，最后出现 {b}；别名：{al}",
    "From": "起点", "Relation": "关系", "To": "终点", "First seen": "首次出现", "Last seen": "最后出现",
    "**Events** (earliest of each link)": "**事件**（每条关系最早的几条）", "Open in the timeline": "在时间线中查看",
    "; the {k} busiest of its {m} neighbours": "；另显示其 {m} 个相邻实体中最活跃的 {k} 个",
    "Click an entity in the chart (or pick it above) to list its links and events.": "在图中点击实体（或在上方选择）即可列出其关系与事件。",
    # findings, storyline, coverage
    "Network": "网络", "Logs": "日志", "None.": "无。", "Deriving the storyline…": "正在推导事件经过…",
    "Exfiltrated bytes": "外传字节数", "Records affected": "受影响记录数",
    "No facts derived yet: ingest evidence first.": "尚未推导出事实：请先解析证据。",
    "Coverage (定责)": "定责（保险责任认定）", "Deciding coverage…": "正在认定责任…", "Documents: {d}": "依据文件：{d}",
    # loss
    "Loss (定损)": "定损（损失核定）", "Fix the policy below to compute the loss schedule.": "请修正下方保单以计算损失清单。",
    "Claimed": "索赔金额", "Adjusted": "核定金额", "Payable": "建议赔付", "Head": "损失项目", "Decision": "责任认定",
    "Formula": "计算公式", "Citations": "引用", "Notes and inputs per head": "各项目的说明与输入",
    "What if": "假设分析", "Outage end (UTC)": "中断结束时间（UTC）", "Waiting period (hours)": "等待期（小时）",
    "Gross-profit rate": "毛利率", "Payable (what if)": "建议赔付（假设）", "Adjusted (what if)": "核定金额（假设）",
    "Revenue baseline": "营业收入基线", "Revenue per hour": "每小时营业收入",
    "Standard turnover: mean of the same hour 1–4 weeks before; the shaded band is the outage.":
        "标准营业额：前 1–4 周同一小时的平均值；阴影区为中断期间。",
    "Adjuster's inputs": "公估输入", "Read-only for your role: figures and inputs can be changed by an adjuster.":
        "您的角色为只读：金额与输入只能由公估/理赔人员修改。",
    "Claimed amounts": "索赔金额", "Save financial inputs": "保存财务输入",
    "Financial inputs saved; the schedule is recomputed.": "财务输入已保存，损失清单已重算。",
    "The financial inputs were not saved: {err}": "财务输入未保存：{err}",
    "Policy (YAML)": "保单（YAML）", "Save policy": "保存保单", "Policy saved; the schedule is recomputed.": "保单已保存，损失清单已重算。",
    "The policy was not saved: {err}": "保单未保存：{err}",
    # reports
    "Format": "格式", "Language": "语言", "Issue report": "出具报告", "Issuing the report…": "正在出具报告…",
    "Report issued ({fmt}, {lang}, {n:,} bytes).": "报告已出具（{fmt}，{lang}，{n:,} 字节）。", "Download": "下载",
    "Issued reports": "已出具报告", "Number": "编号", "Version": "版本", "Issued": "出具时间", "None issued yet.": "尚未出具。",
    # admin
    "Administration": "系统管理", "Users": "用户", "Role": "角色", "Add user": "添加用户", "User {name} added.": "已添加用户 {name}。",
    "Change role": "修改角色", "New password": "新密码", "Set password": "设置密码", "Password set.": "密码已设置。",
    "Remove user": "删除用户", "Access per case": "案件访问权限", "Users with access": "有权访问的用户",
    "Save access": "保存权限", "Access saved.": "权限已保存。", "Administrators see every case.": "管理员可查看所有案件。",
}


def lang() -> str:
    try:
        import streamlit as st

        return st.session_state.get("lang", "en")
    except Exception:  # outside a Streamlit run
        return "en"


def t(text: str, **fmt) -> str:
    s = ZH.get(text, text) if lang() == "zh" else text
    return s.format(**fmt) if fmt else s
