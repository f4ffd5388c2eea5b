"""What every scenario does the same way: the output layout, the evidence
manifest, seeded randomness, and the last step that writes policy, financials
and truth.json (with the expected payables from scenarios.payable)."""
from __future__ import annotations

import hashlib
import heapq
import json
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from scenarios import payable
from scenarios.writers import financials as fin_writer
from scenarios.writers import logs, memory, pcap, policy as policy_writer, revenue, winevents
from scenarios.writers.clock import iso

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_address(payload20: bytes, hrp: str = "bc") -> str:
    """A well-formed P2WPKH address (BIP 173 checksum), so wallet detectors can validate it."""
    def polymod(values):
        gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
        chk = 1
        for v in values:
            b = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (b >> i) & 1 else 0
        return chk
    acc, bits, data = 0, 0, [0]  # witness version 0
    for byte in payload20:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    hrp_exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = polymod(hrp_exp + data + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


class Builder:
    """One scenario being generated into `out`."""

    def __init__(self, name: str, out: Path, seed: int, scale: int) -> None:
        self.name, self.out, self.seed, self.scale = name, out, seed, max(1, int(scale))
        self.evidence_dir = out / "evidence"
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        self.rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        self.ff = pcap.FrameFactory()
        self.filler = pcap.Filler(seed)
        self.manifest: list[dict] = []
        self.memory_truth: list[dict] = []
        self._seq = 0

    def seq(self) -> int:
        """A global ordering number for authored events (ties keep authoring order)."""
        self._seq += 1
        return self._seq

    def _record(self, path: Path, kind: str, description: str, **extra) -> None:
        self.manifest.append({"file": str(path.relative_to(self.out)), "kind": kind, "description": description,
                              **extra})

    def capture(self, filename: str, description: str, *streams: Iterable[pcap.Session], fmt: str = "pcap") -> dict:
        path = self.evidence_dir / filename
        merged = heapq.merge(*streams, key=lambda s: s[0])
        stats = pcap.write_capture(path, merged, fmt)
        self._record(path, fmt, description, packets=stats["packets"],
                     first=iso(stats["first_us"]), last=iso(stats["last_us"]))
        return stats

    def text_log(self, filename: str, kind: str, description: str, *streams: Iterable[logs.Line], **extra) -> int:
        path = self.evidence_dir / filename
        n = logs.write_lines(path, *streams)
        self._record(path, kind, description, lines=n, **extra)
        return n

    def win_events(self, filename: str, description: str, *streams: Iterable[winevents.WinEvent],
                   xml: bool = False) -> int:
        path = self.evidence_dir / filename
        write = winevents.write_xml if xml else winevents.write_jsonl
        n = write(path, *streams)
        self._record(path, "windows_events_xml" if xml else "windows_events_jsonl", description, records=n)
        return n

    def memory_image(self, filename: str, description: str, artifacts: list[memory.Artifact]) -> None:
        path = self.evidence_dir / filename
        placed = memory.place(artifacts, self.seed)
        info = memory.write_image(path, placed, self.seed, self.scale)
        self._record(path, "raw_memory", description, size=info["size"])
        for e in memory.truth_entries(placed):
            self.memory_truth.append({"image": str(path.relative_to(self.out)), **e})

    def document(self, filename: str, description: str, text: str) -> None:
        path = self.evidence_dir / filename
        path.write_text(text, encoding="utf-8", newline="\n")
        self._record(path, "document", description)

    def finish(self, *, policy: dict, fin: fin_writer.Financials, revenue_model: revenue.RevenueModel,
               bi_outage: tuple[int, int] | None, coverage: dict[str, str], personal_records: int,
               truth: dict) -> dict:
        """Write policy, financials and truth.json; returns the truth."""
        policy_writer.write(self.out / "policy.yaml", policy)
        anchor = bi_outage[0] if bi_outage else truth["_anchor_us"]
        start, end = revenue.history_window(anchor)
        hours, rev = revenue.hourly_series(revenue_model, start, end, [bi_outage] if bi_outage else [], self.seed)
        fin_writer.write(self.out / "financials", fin, hours, rev)
        series = dict(zip(hours.tolist(), rev.tolist()))
        gross, bi_detail = self._gross(policy, fin, series, bi_outage, personal_records)
        expected = payable.apply_terms(policy, gross, coverage)
        out = {k: v for k, v in truth.items() if not k.startswith("_")}
        out.update({
            "scenario": self.name, "seed": self.seed, "scale": self.scale,
            "expected_coverage": coverage, "expected_payable": expected,
            "gross_loss_before_terms": {k: round(v, 2) for k, v in gross.items()},
            "business_interruption_detail": bi_detail,
            "memory_artifacts": self.memory_truth,
            "evidence": self._manifest_with_hashes(),
        })
        (self.out / "truth.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return out

    def _gross(self, policy: dict, fin: fin_writer.Financials, series: dict, bi_outage, personal_records: int):
        covered_betterment = bool(policy.get("hardware_improvement_covered", False))
        gross: dict[str, float] = {}
        bi_detail = None
        for s in policy["sections"]:
            name = s["name"]
            if name in ("business_interruption", "dependent_business_interruption"):
                if bi_outage:
                    bi_detail = payable.business_interruption(s, fin.profile, series, *bi_outage)
                    gross[name] = bi_detail["amount"]
                    bi_detail = {k: round(v, 2) if isinstance(v, float) else v for k, v in bi_detail.items()}
                else:
                    gross[name] = 0.0
            elif name == "notification_costs":
                gross[name] = payable.notification_costs(s, fin, not covered_betterment)
            elif name in payable.COST_HEADS:
                gross[name] = fin.ledger_total(name, not covered_betterment)
            elif name == "extortion":
                gross[name] = payable.extortion(fin, policy["jurisdiction"])
            elif name == "funds_transfer_fraud":
                gross[name] = payable.funds_transfer_fraud(fin)
            elif name == "privacy_liability":
                gross[name] = payable.privacy_liability(s, personal_records)
            else:  # third-party liability heads: settlements paid to claimants
                gross[name] = payable.settlements(fin)
        return gross, bi_detail

    def _manifest_with_hashes(self) -> list[dict]:
        for m in self.manifest:
            h = hashlib.sha256()
            with open(self.out / m["file"], "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            m["sha256"] = h.hexdigest()
        return self.manifest


class WinLog:
    """Authored Windows events per host, written one JSONL file per host with benign service logons mixed in."""

    def __init__(self, b: Builder, domain: str) -> None:
        self.b, self.domain = b, domain
        self.by_host: dict[str, list[winevents.WinEvent]] = {}

    def ev(self, t: int, host: str, provider: tuple[str, str], eid: int, data: dict) -> None:
        self.by_host.setdefault(host, []).append(
            winevents.WinEvent(t, self.b.seq(), f"{host}.{self.domain}", provider, eid, data))

    def proc(self, t: int, host: str, image: str, cmd: str, parent: str = "C:\\Windows\\explorer.exe",
             user: str = "NT AUTHORITY\\SYSTEM") -> int:
        """Process creation as both Security 4688 and Sysmon 1."""
        pid = int(self.b.rng.integers(1000, 9000))
        self.ev(t, host, winevents.SECURITY, 4688, {
            "SubjectUserName": user.split("\\")[-1], "NewProcessId": hex(pid), "NewProcessName": image,
            "CommandLine": cmd, "ParentProcessName": parent})
        self.ev(t + 50_000, host, winevents.SYSMON, 1, {
            "UtcTime": iso(t).replace("T", " ").replace("Z", ""), "ProcessId": pid, "Image": image, "CommandLine": cmd,
            "User": user, "ParentImage": parent, "Hashes": f"SHA256={self.b.filler.take(pid * 31, 32).hex().upper()}"})
        return pid

    def write(self, start: int, end: int, account: str, source_ip: str) -> None:
        from scenarios.background import windows_service_logons
        for i, (host, evs) in enumerate(sorted(self.by_host.items())):
            evs.sort()
            bg = windows_service_logons(self.b.rng, [f"{host}.{self.domain}"], account, source_ip, start, end, 1,
                                        self.b.scale, 10_000_000 * (i + 1))
            self.b.win_events(f"winevents_{host}.jsonl", f"{host}: Security, System and Sysmon events (JSON lines)",
                              iter(evs), bg)
