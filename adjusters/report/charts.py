"""Report charts (matplotlib, Agg): revenue baseline vs actual, incident swimlanes by host, loss by head.

Output is deterministic: a fixed SVG hash salt, no dates or tool names in the
file metadata, text drawn as paths (so CJK labels need no font in the viewer).
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from adjusters.report.i18n import head_name, label  # noqa: E402
from adjusters.report.model import ReportData  # noqa: E402

RC = {
    "svg.hashsalt": "cyberclaim-report",
    "svg.fonttype": "path",
    "font.family": ["Noto Sans CJK SC", "DejaVu Sans"],
    "axes.unicode_minus": False,
    "font.size": 9,
    "figure.dpi": 100,
    "path.simplify": True,
}
SVG_META = {"Date": None, "Creator": None}
PNG_META = {"Software": None}


def _save(fig, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=SVG_META if fmt == "svg" else PNG_META, bbox_inches="tight", dpi=150)
    plt.close(fig)
    return buf.getvalue()


def _ts(values) -> pd.DatetimeIndex:
    return pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None)


def revenue_chart(d: ReportData, lang: str, fmt: str = "svg") -> bytes | None:
    rc = d.revenue_chart
    if not rc:
        return None
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(9, 3.4))
        t = _ts(rc["times"])
        actual = np.array([np.nan if v is None else v for v in rc["actual"]], dtype=float)
        base = np.array([np.nan if v is None else v for v in rc["baseline"]], dtype=float)
        ax.plot(t, base, color="#1f77b4", lw=1.2, ls="--", label=label(lang, "baseline"))
        ax.plot(t, actual, color="#d62728", lw=1.2, label=label(lang, "actual"))
        o = rc["outage"]
        ax.axvspan(*_ts([o["start"], o["end"]]), color="#d62728", alpha=0.12, label=label(lang, "outage"))
        wp = rc.get("waiting_period")
        if wp:
            ax.axvspan(*_ts([wp["start"], wp["end"]]), color="#7f7f7f", alpha=0.3, hatch="//",
                       label=f"{label(lang, 'waiting_period')} ({wp['hours']:g} h, {wp['mode']})")
        ax.set_ylabel(d.summary.get("currency") or "")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        ax.set_title(f"{label(lang, 'chart_revenue')} — {rc['service']} (UTC)")
        ax.legend(loc="lower left", fontsize=7, frameon=False)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        return _save(fig, fmt)


def swimlane_chart(d: ReportData, lang: str, fmt: str = "svg") -> bytes | None:
    rows = [c for c in d.chronology if c["timestamp_us"]]  # undated findings have no place on a time axis
    if not rows:
        return None
    hosts = sorted({c.get("host") or "—" for c in rows})
    lane = {h: i for i, h in enumerate(hosts)}
    kinds = sorted({(c.get("data_type") or "other").split(":")[0] for c in rows})
    colors = plt.get_cmap("tab10")
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(9, 0.5 + 0.45 * len(hosts) + 1.2))
        for k_i, kind in enumerate(kinds):
            sel = [c for c in rows if (c.get("data_type") or "other").split(":")[0] == kind]
            x = _ts([pd.Timestamp(c["timestamp_us"], unit="us", tz="UTC") for c in sel])
            y = [lane[c.get("host") or "—"] for c in sel]
            ax.scatter(x, y, s=22, color=colors(k_i % 10), label=kind, zorder=3)
        for o in d.outages:
            end = o.get("end") or rc_end(rows)
            ax.axvspan(*_ts([o["start"], end]), color="#d62728", alpha=0.1)
        ax.set_yticks(range(len(hosts)), hosts)
        ax.set_ylim(-0.7, len(hosts) - 0.3)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        ax.set_title(f"{label(lang, 'chart_swimlanes')} (UTC)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
        ax.grid(axis="x", alpha=0.3)
        fig.autofmt_xdate()
        return _save(fig, fmt)


def rc_end(rows: list[dict]) -> str:
    return pd.Timestamp(max(c["timestamp_us"] for c in rows), unit="us", tz="UTC").isoformat()


def loss_chart(d: ReportData, lang: str, fmt: str = "svg") -> bytes | None:
    losses = d.losses
    if not losses:
        return None
    names = [head_name(lang, lo["head"]) for lo in losses]
    y = np.arange(len(losses))
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(9, 0.8 + 0.42 * len(losses) * 1.5))
        h = 0.27
        for i, (key, color) in enumerate((("claimed", "#aec7e8"), ("adjusted", "#1f77b4"), ("payable", "#2ca02c"))):
            vals = [float(lo[key]) if lo.get(key) is not None else 0.0 for lo in losses]
            ax.barh(y + (i - 1) * h, vals, height=h, color=color, label=label(lang, key))
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlabel(d.summary.get("currency") or (losses[0].get("currency") or ""))
        ax.set_title(label(lang, "chart_losses"))
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.grid(axis="x", alpha=0.3)
        return _save(fig, fmt)


CHARTS = {"revenue": revenue_chart, "swimlanes": swimlane_chart, "losses": loss_chart}


def render_chart(key: str, d: ReportData, lang: str, fmt: str = "svg") -> bytes | None:
    return CHARTS[key](d, lang, fmt)
