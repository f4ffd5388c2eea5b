"""A Storyline from a scenario's truth.json facts (confidence 1): to check the
adjusters against the known answer without going through ingestion.

truth.json keys follow the Storyline field names; the few that differ
(`fraudulent_transfers`, exfiltration's `dst_ip`/`payload_bytes`) are mapped here.
"""
from __future__ import annotations

from forensics.storyline_model import Exfiltration, Fact, Outage, Storyline

_FLAGS = ("infrastructure_outage", "known_before_inception", "unencrypted_portable_device", "insider_dishonesty",
          "bodily_injury")


def _fact(name: str, value) -> Fact:
    return Fact(name=name, value=value, confidence=1.0, cited_event_ids=[f"truth:{name}"])


def storyline_from_truth(truth: dict, case_id: str | None = None) -> Storyline:
    kw: dict = {"case_id": case_id or truth.get("scenario", "truth")}
    for k in ("t0", "discovery", "containment", "malicious", "operator_error", "extortion", "attribution",
              "dependent_provider", "gbt_category"):
        if truth.get(k) is not None:
            kw[k] = _fact(k, truth[k])
    if truth.get("initial_access") is not None:
        kw["initial_access"] = _fact("initial_access", truth["initial_access"])
    if truth.get("compromised_hosts"):
        kw["compromised_hosts"] = _fact("compromised_hosts", truth["compromised_hosts"])
    if truth.get("fraudulent_transfers"):
        kw["social_engineering"] = _fact("social_engineering", {"fraudulent_transfers": truth["fraudulent_transfers"]})
    elif truth.get("social_engineering") is not None:
        kw["social_engineering"] = _fact("social_engineering", truth["social_engineering"])
    kw["outages"] = [Outage(service=o["service"], host=o.get("host"), start=o["start"], end=o.get("end"),
                            basis=o.get("basis", ""), confidence=1.0, cited_event_ids=["truth:outage"])
                     for o in truth.get("outages") or []]
    kw["exfiltration"] = [Exfiltration(destination=x.get("dst_ip") or x.get("destination") or "",
                                       bytes=int(x.get("payload_bytes") or x.get("bytes") or 0),
                                       source_hosts=[x["source_host"]] if x.get("source_host") else [],
                                       first_seen=x.get("start"), cited_event_ids=["truth:exfiltration"])
                          for x in truth.get("exfiltration") or []]
    kw["exfiltrated_bytes"] = int(truth.get("exfiltrated_bytes") or 0)
    kw["records_affected"] = {k: int(v) for k, v in (truth.get("records_affected") or {}).items()}
    kw["facts"] = [_fact(f, truth[f]) for f in _FLAGS if truth.get(f)]
    return Storyline(**kw)
