"""Small, real inputs for report tests, demos and the benchmark: a storyline, financials
written as the contract's files (loaded by adjusters.financials), the shipped example
policy, and the adjustment computed by the real adjusters.adjust(). `extra_events`
adds background chronology lines (the benchmark scales with it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forensics.events import make_event_id
from forensics.storyline_model import Fact, Outage, Storyline

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "adjusters" / "policies" / "enterprise_telecom_internet.yaml"
SHA_A = "a" * 64
SHA_B = "b" * 64
OUT_START, OUT_END = "2026-03-10T02:30:00Z", "2026-03-10T14:10:00Z"


def _eid(sha: str, loc: str) -> str:
    return make_event_id(sha, loc, "sample@1")


def sample_events(extra: int = 0) -> list[dict]:
    rows = [
        (SHA_A, "record 17", "2026-03-09T22:05:11Z", "WS-01", "windows:evtx:record", "Logon type 10 from 203.0.113.7"),
        (SHA_A, "record 40", "2026-03-10T01:12:00Z", "WS-01", "windows:evtx:record", "Service PSEXESVC installed"),
        (SHA_B, "packet 901", "2026-03-10T02:29:59Z", "WEB-01", "pcap:flow", "Last HTTP response from shop-web before gap"),
        (SHA_B, "packet 1402", "2026-03-10T14:09:30Z", "WEB-01", "pcap:flow", "HTTP service answers again"),
    ]
    t0 = pd.Timestamp("2026-03-09T12:00:00Z")
    for i in range(extra):  # background lines spread over the day before the outage, deterministic
        rows.append((SHA_A if i % 2 else SHA_B, f"line {1000 + i}", (t0 + pd.Timedelta(seconds=37 * i)).isoformat(),
                     f"HOST-{i % 7:02d}", "linux:syslog" if i % 3 else "pcap:flow", f"background event {i}"))
    out = []
    for sha, loc, t, host, dt, msg in rows:
        out.append({"event_id": _eid(sha, loc), "timestamp": int(pd.Timestamp(t).value // 1000), "message": msg,
                    "host": host, "data_type": dt, "evidence_sha256": sha, "locator": loc, "parser": "sample@1"})
    return out


def sample_storyline(case_id: str = "CTEST") -> Storyline:
    ev = sample_events()
    return Storyline(
        case_id=case_id,
        t0=Fact(name="t0", value="2026-03-09T22:05:11Z", confidence=0.9, cited_event_ids=[ev[0]["event_id"]]),
        initial_access=Fact(name="initial_access", value="exposed RDP", confidence=0.8, cited_event_ids=[ev[0]["event_id"]]),
        compromised_hosts=Fact(name="compromised_hosts", value=["WS-01", "WEB-01"], confidence=0.9,
                               cited_event_ids=[ev[1]["event_id"]]),
        malicious=Fact(name="malicious", value=True, confidence=0.95, cited_event_ids=[ev[1]["event_id"]]),
        gbt_category=Fact(name="gbt_category", value="MPRANS", confidence=0.8),
        impact=[Fact(name="encryption", value=["WEB-01"], confidence=0.9, cited_event_ids=[ev[1]["event_id"]])],
        outages=[Outage(service="shop-web", host="WEB-01", start=OUT_START, end=OUT_END, duration_hours=11.67,
                        basis="traffic gap", confidence=0.9, cited_event_ids=[ev[2]["event_id"], ev[3]["event_id"]])],
    )


def write_financials(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    idx = pd.date_range("2026-01-26T00:00:00Z", "2026-03-24T00:00:00Z", freq="h", inclusive="left")
    hour = idx.hour.to_numpy()
    base = 1000.0 + 800.0 * np.sin((hour - 6) / 24 * 2 * np.pi).clip(0)  # daytime peak, deterministic
    rev = base.copy()
    down = (idx >= pd.Timestamp(OUT_START).floor("h")) & (idx < pd.Timestamp(OUT_END).ceil("h"))
    rev[down] = 0.0
    pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "revenue": rev.round(2)}).to_csv(d / "revenue.csv", index=False)
    (d / "profile.yaml").write_text("currency: CNY\ngross_profit_rate: 0.4\nrevenue_service: shop-web\n", encoding="utf-8")
    (d / "ledger.csv").write_text(
        "invoice_id,vendor,category,amount,currency,date,description,betterment_amount\n"
        "INV-1,应急响应公司,incident_response,180000,CNY,2026-03-12,forensics and containment,0\n"
        "INV-2,Data Co,data_restoration,95000.5,CNY,2026-03-15,restore from backup,0\n"
        "INV-3,HW Co,hardware_replacement,260000,CNY,2026-03-16,new servers,40000\n", encoding="utf-8")
    (d / "claim.yaml").write_text(
        "claimed:\n  business_interruption: 20000\n  incident_response: 200000\n  data_restoration: 95000.5\n"
        "  hardware_replacement: 260000\n", encoding="utf-8")
    return d


def sample_adjustment(tmp: Path, storyline: Storyline | None = None) -> dict:
    from adjusters.adjust import adjust
    from adjusters.financials import load_financials
    from adjusters.policy import load_policy

    pol = load_policy(POLICY)
    fin = load_financials(write_financials(tmp / "financials"), pol)
    return adjust(storyline or sample_storyline(), pol, fin).model_dump(mode="json")


def sample_report_data(tmp: Path, extra_events: int = 0):
    from adjusters.policy import load_policy
    from adjusters.report.model import build_report_data

    story = sample_storyline()
    adj = sample_adjustment(tmp, story)
    rev = pd.read_csv(tmp / "financials" / "revenue.csv")
    evidence = [
        {"sha256": SHA_A, "size": 69632, "original_name": "Security.evtx", "evidence_type": "evtx", "source": "/mnt/ws01",
         "acquired_by": "张三", "added_at": "2026-03-11T08:00:00Z", "added_by": "tester",
         "custody": {"entries": 2, "first_at": "2026-03-11T08:00:00Z", "last_at": "2026-03-11T09:00:00Z",
                     "actions": {"evidence_added": 1, "ingested": 1}}},
        {"sha256": SHA_B, "size": 1048576, "original_name": "edge.pcap", "evidence_type": "pcap", "source": "/mnt/tap",
         "acquired_by": "Jane Roe", "added_at": "2026-03-11T08:05:00Z", "added_by": "tester", "custody": {}},
    ]
    versions = {"tool": "cyberclaim test", "ingestors": {"evtx": "1.0"}, "evidence_sha256": [SHA_A, SHA_B]}
    return build_report_data({"id": "CTEST", "title": "测试案件", "insured": None}, evidence, {"ok": True, "entries": 3},
                             storyline=story, events=sample_events(extra_events), adjustment=adj, policy=load_policy(POLICY),
                             revenue=rev, versions=versions, revenue_service="shop-web")
