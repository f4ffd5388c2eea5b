"""Loss (定损): heads of loss, the adjuster's inputs (editable by adjusters), what-if controls, revenue baseline."""
from datetime import datetime, timezone

import altair as alt
import pandas as pd
import streamlit as st

from adjusters import inputs as case_inputs
from adjusters import whatif
from app.ui import _data
from app.ui._shell import guarded, money, page
from app.ui.i18n import t
from case_store import CyberclaimError

p = page("loss")
st.title(t("Loss (定损)"))
editable = p.can("edit_inputs")
if st.session_state.get("loss_msg"):
    st.success(st.session_state.pop("loss_msg"))

res = guarded(_data.adjusted, p.case_id)
if res is None:
    if editable:
        st.info(t("Fix the policy below to compute the loss schedule."))
else:
    tot = res.totals
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(t("Claimed"), money(tot.claimed))
    c2.metric(t("Adjusted"), money(tot.adjusted))
    c3.metric(t("Payable"), money(tot.payable))
    c4.metric("P10 / P50 / P90", f"{money(tot.p10)} / {money(tot.p50)} / {money(tot.p90)}")
    st.dataframe(pd.DataFrame([{
        t("Head"): f"{x.head} {x.head_zh}", t("Decision"): t(x.section_decision) if x.section_decision else "—",
        t("Claimed"): money(x.claimed), t("Adjusted"): money(x.adjusted), t("Payable"): money(x.payable),
        "P10": money(x.p10), "P50": money(x.p50), "P90": money(x.p90), t("Formula"): x.formula,
        t("Citations"): len(x.cited_event_ids) + len(x.cited_documents),
    } for x in res.losses]), hide_index=True, width="stretch")
    with st.expander(t("Notes and inputs per head")):
        for x in res.losses:
            st.markdown(f"**{x.head}** — {'; '.join(x.notes) if x.notes else ''}")
            st.json({k: v for k, v in x.inputs.items() if k != "hourly"}, expanded=False)

    # ---- what-if: the pure adjust re-run on changed copies of the inputs; the case is not touched
    st.subheader(t("What if"))
    story = _data.storyline(p.case_id)
    pol, fin = _data.inputs(p.case_id)
    base = whatif.current(story, pol, fin)
    w1, w2, w3 = st.columns(3)
    end_default = base.outage_end.strftime("%Y-%m-%dT%H:%M:%SZ") if base.outage_end else ""
    end_text = w1.text_input(t("Outage end (UTC)"), value=end_default, key="wi_end")
    wait = w2.number_input(t("Waiting period (hours)"), min_value=0.0, max_value=24.0 * 365,
                           value=float(base.waiting_hours or 0.0), step=1.0, key="wi_wait")
    gpr = w3.number_input(t("Gross-profit rate"), min_value=0.0, max_value=1.0, value=float(base.gross_profit_rate),
                          step=0.01, format="%.3f", key="wi_gpr")
    end = None
    if end_text.strip():
        try:
            end = datetime.fromisoformat(end_text.strip().replace("Z", "+00:00"))
            end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
        except ValueError:
            st.error(t("{field}: not an ISO 8601 time: {value}", field=t("Outage end (UTC)"), value=end_text))
    w = whatif.WhatIf(end, wait, gpr)
    alt_res = guarded(whatif.adjust_whatif, story, pol, fin, w)
    if alt_res is not None:
        d1, d2 = st.columns(2)
        d1.metric(t("Payable (what if)"), money(alt_res.totals.payable),
                  delta=f"{alt_res.totals.payable - tot.payable:+,.2f}")
        d2.metric(t("Adjusted (what if)"), money(alt_res.totals.adjusted),
                  delta=f"{alt_res.totals.adjusted - tot.adjusted:+,.2f}")
        st.dataframe(pd.DataFrame([{t("Head"): a.head, t("Payable"): money(a.payable), t("Payable (what if)"): money(b.payable)}
                                   for a, b in zip(res.losses, alt_res.losses)]), hide_index=True, width="stretch")

    st.subheader(t("Revenue baseline"))
    bl = whatif.baseline(story, fin)
    if len(bl):
        line = alt.Chart(bl).mark_line().encode(
            x=alt.X("time:T", title=t("Time (UTC)")), y=alt.Y("revenue:Q", title=t("Revenue per hour")),
            color=alt.Color("series:N", title=""), tooltip=["time:T", "series:N", alt.Tooltip("revenue:Q", format=",.2f")])
        layers = [line]
        outs = [o for i, o in enumerate(story.outages) if i in whatif.revenue_outages(story, fin)]
        if outs:
            band = pd.DataFrame([{"start": pd.Timestamp(o.start), "end": pd.Timestamp(o.end) if o.end else bl["time"].max()}
                                 for o in outs])
            layers.insert(0, alt.Chart(band).mark_rect(opacity=0.15, color="red").encode(x="start:T", x2="end:T"))
        st.altair_chart(alt.layer(*layers).properties(height=260).interactive(bind_y=False), width="stretch")
        st.caption(t("Standard turnover: mean of the same hour 1–4 weeks before; the shaded band is the outage."))

# ---- the adjuster's inputs
st.subheader(t("Adjuster's inputs"))
if not editable:
    st.caption(t("Read-only for your role: figures and inputs can be changed by an adjuster."))
prof = case_inputs.profile(p.case_id)
claimed = case_inputs.claimed(p.case_id)
if editable:
    with st.form("fin_form"):
        cols = st.columns(len(case_inputs.PROFILE_FIELDS))
        new_prof = {f: c.number_input(t(f), value=float(prof.get(f, 0.0) or 0.0), format="%.4f", key=f"in_{f}")
                    for f, c in zip(case_inputs.PROFILE_FIELDS, cols)}
        st.markdown(t("Claimed amounts"))
        claim_df = st.data_editor(pd.DataFrame({"head": list(claimed), "amount": list(claimed.values())},
                                               columns=["head", "amount"]),
                                  num_rows="dynamic", key="in_claimed", width="stretch")
        save = st.form_submit_button(t("Save financial inputs"))
    if save:
        changed = {k: v for k, v in new_prof.items() if float(prof.get(k, 0.0) or 0.0) != v}
        amounts = {str(r["head"]): float(r["amount"]) for _, r in claim_df.dropna().iterrows() if str(r["head"]).strip()}
        try:
            case_inputs.save_financials(p.user, p.case_id, changed or None, amounts if amounts != claimed else None)
            st.session_state["loss_msg"] = t("Financial inputs saved; the schedule is recomputed.")
            st.rerun()
        except CyberclaimError as e:
            st.error(t("The financial inputs were not saved: {err}", err=str(e)))
    with st.form("policy_form"):
        text = st.text_area(t("Policy (YAML)"), value=case_inputs.policy_text(p.case_id), height=300, key="in_policy")
        save_pol = st.form_submit_button(t("Save policy"))
    if save_pol:
        try:
            case_inputs.save_policy(p.user, p.case_id, text)
            st.session_state["loss_msg"] = t("Policy saved; the schedule is recomputed.")
            st.rerun()
        except CyberclaimError as e:
            st.error(t("The policy was not saved: {err}", err=str(e)))
else:
    st.json({"profile": prof, "claimed": claimed}, expanded=False)
    with st.expander(t("Policy (YAML)")):
        st.code(case_inputs.policy_text(p.case_id), language="yaml")
