"""The capture split over several processes gives exactly the single-process records, in order."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.pcap import generate
from forensics.events import Event
from forensics.ingestors.base import IngestContext
from forensics.ingestors.pcap import PcapIngestor
from tests.test_pcap_corpus import CAPTURES
from tests.test_pcap_fuzz import CAPTURES as FUZZ_CAPTURES

SINGLE = {"workers": 1}
FORKED = {"workers": 2, "min_bytes": 0}
# idle sweeps every few packets with tiny timeouts, so flows close mid-capture in every worker
SWEEPY = {"flow_table": {"sweep_every_packets": 5, "tcp_idle_s": 1, "udp_idle_s": 1, "tcp_closed_idle_s": 0,
                         "other_idle_s": 1}}


def rows(path: Path, parallel: dict, extra: dict | None = None) -> list:
    ctx = IngestContext(path=path, evidence_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                        evidence_type="pcap", display_name=path.name,
                        options={"pcap": {"parallel": parallel, **(extra or {})}})
    return [r.to_row() if isinstance(r, Event) else r for r in PcapIngestor().ingest(ctx)]


def in_process(n: int) -> dict:
    return {"workers": n, "min_bytes": 0, "in_process": True}


@pytest.mark.parametrize("name", CAPTURES)
def test_corpus_same_records_split(corpus, name):
    path = corpus / name
    for extra in (None, SWEEPY):
        ref = rows(path, SINGLE, extra)
        assert rows(path, in_process(2), extra) == ref
        assert rows(path, in_process(3), extra) == ref
    assert rows(path, FORKED) == rows(path, SINGLE)


@pytest.fixture(scope="module")
def bench_capture(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("pcapsplit") / "bench.pcap"
    generate(p, 8)  # the benchmark's traffic mix: TLS bulk, carved HTTP/SMB2/SMTP transfers, DNS
    return p


def test_bench_capture_same_records_split(bench_capture):
    ref = rows(bench_capture, SINGLE)
    assert sum(isinstance(r, dict) and r["data_type"] == "network:flow" for r in ref) > 20
    assert rows(bench_capture, FORKED) == ref
    assert rows(bench_capture, in_process(2)) == ref
    assert rows(bench_capture, in_process(2), SWEEPY) == rows(bench_capture, SINGLE, SWEEPY)


def test_large_capture_takes_the_split_by_default(bench_capture, monkeypatch):
    from forensics.net import parallel
    started = []
    real = parallel.Workers.start
    monkeypatch.setattr(parallel.Workers, "start", classmethod(lambda cls, *a: started.append(a) or real(*a)))
    rows(bench_capture, {"min_bytes": 1_000_000})
    assert started  # the default worker count applies to a capture above the threshold
    started.clear()
    rows(bench_capture, {"min_bytes": 10_000_000})
    assert not started


mutation = st.tuples(st.integers(min_value=0, max_value=1 << 20), st.integers(min_value=0, max_value=255))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 1), flips=st.lists(mutation, max_size=8), cut=st.integers(0, 1 << 20),
       parts=st.integers(2, 3))
def test_damaged_captures_same_records_split(tmp_path, which, flips, cut, parts):
    data = bytearray(FUZZ_CAPTURES[which])
    for pos, val in flips:
        data[pos % len(data)] = val
    if cut % 3 == 0:
        data = data[: cut % (len(data) + 1)]
    p = tmp_path / "fuzz.cap"
    p.write_bytes(bytes(data))
    assert rows(p, in_process(parts)) == rows(p, SINGLE)
    assert rows(p, in_process(parts), SWEEPY) == rows(p, SINGLE, SWEEPY)


def test_damaged_capture_forked(tmp_path):
    data = bytearray(FUZZ_CAPTURES[0])
    data[len(data) // 2] ^= 0xFF
    p = tmp_path / "damaged.pcap"
    p.write_bytes(bytes(data[:-7]))
    ref = rows(p, SINGLE)
    assert any(not isinstance(r, dict) for r in ref)  # the damage is reported
    assert rows(p, FORKED) == ref


def _flatten(items) -> list:
    from forensics.net import capture
    out = []
    for it in items:
        if isinstance(it, capture.Batch):
            for k, o in enumerate(it.offs):
                sec, frac, cap, wire = __import__("struct").unpack_from(it.order + "IIII", it.buf, o)
                out.append((it.frame0 + k + 1, it.base + o, sec * 1_000_000 + frac // it.ns_div, it.linktype, wire,
                            bytes(it.buf[o + 16:o + 16 + cap])))
        else:
            out.append(it)
    return out


def _walk(reader, path: Path):
    from forensics.net import capture
    from forensics.net.decode import SUPPORTED_LINKTYPES
    info: dict = {}
    pk: list = []
    err = None
    with open(path, "rb") as f:
        try:
            for it in reader(f, info, SUPPORTED_LINKTYPES):
                pk += _flatten([it])
        except capture.CaptureDamage as e:
            err = (e.offset, e.reason)
    return pk, err, info


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 1), flips=st.lists(mutation, max_size=4), cut=st.integers(0, 1 << 20),
       window=st.sampled_from([1, 4096, 8192, 1 << 23]))
def test_batches_frame_like_packets(tmp_path, monkeypatch, which, flips, cut, window):
    """Batched framing (any window size, records across windows, damage handed over) = per-packet framing."""
    from forensics.net import capture
    monkeypatch.setattr(capture, "BATCH_READ", window)
    data = bytearray(FUZZ_CAPTURES[which])
    for pos, val in flips:
        data[pos % len(data)] = val
    if cut % 3 == 0:
        data = data[: cut % (len(data) + 1)]
    p = tmp_path / "frames.cap"
    p.write_bytes(bytes(data))
    assert _walk(capture.batches, p) == _walk(capture.packets, p)  # packets, damage, format details


def test_bulk_segments_are_deferred_on_the_bench_mix(bench_capture, monkeypatch):
    """The vectorised bulk accounting and the bulk feeding of HTTP and SMB2 bodies are really taken
    (so the equality tests above cover them)."""
    from forensics.net import bulk, sessions, smb
    applied, absorbed = [], {"http": 0, "smb": 0}
    real = bulk.apply
    monkeypatch.setattr(bulk, "apply", lambda fl, idx, v: applied.append(len(idx)) or real(fl, idx, v))
    few, real_few = [], bulk.apply_few
    monkeypatch.setattr(bulk, "apply_few", lambda fl, idx, *a: few.append(len(idx)) or real_few(fl, idx, *a))
    for name, cls in (("http", sessions.HttpSession), ("smb", smb.SmbSession)):
        def counting(self, fwd, pieces, _real=cls.absorb, _name=name):
            absorbed[_name] += len(pieces)
            return _real(self, fwd, pieces)
        monkeypatch.setattr(cls, "absorb", counting)
    assert rows(bench_capture, in_process(2)) == rows(bench_capture, SINGLE)
    assert sum(applied) > 1000 and sum(few) > 10  # long runs with numpy, short ones one by one
    assert absorbed["http"] > 500 and absorbed["smb"] > 500


def test_one_core_runs_the_same_split_in_process(bench_capture, monkeypatch):
    """The records depend on the configuration only: without a second core the parts run interleaved here."""
    from forensics.net import parallel
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    monkeypatch.setattr(parallel.Workers, "start", classmethod(lambda cls, *a: pytest.fail("forked on one core")))
    assert rows(bench_capture, {"workers": 2, "min_bytes": 0}) == rows(bench_capture, SINGLE)


def test_a_dead_worker_is_reported_not_raised(bench_capture, monkeypatch):
    import os
    from forensics.net import parallel
    monkeypatch.setattr(parallel, "_child", lambda conn, *a: os._exit(3))  # killed before saying anything
    got = rows(bench_capture, FORKED)
    assert len(got) == 1 and "worker" in got[0].reason and got[0].file == bench_capture.name


def _batches(path: Path):
    from forensics.net import capture
    from forensics.net.decode import SUPPORTED_LINKTYPES
    with open(path, "rb") as f:
        try:
            yield from (b for b in capture.batches(f, {}, SUPPORTED_LINKTYPES) if isinstance(b, capture.Batch))
        except capture.CaptureDamage:
            return


def test_routing_agrees_everywhere(bench_capture, corpus):
    """The numpy router, the per-packet glance and the router of decoded packets name the same owner."""
    from forensics.net import bulk, config, part
    from forensics.net.decode import Decoder
    for path in [bench_capture] + sorted((corpus / "pcap").glob("*.pcap")):
        for n in (2, 3):
            pa = part.PartAnalyzer(config.load(), "x", 0, n)
            dec = Decoder()
            for b in _batches(path):
                v = bulk.fields(b, n)
                for k, o in enumerate(b.offs):
                    data = bytes(b.buf[o + 16:o + 16 + int(v["cap"][k])])
                    glance = pa._route(b.linktype, data)
                    assert glance == (int(v["own"][k]) if v["fast"][k] else -1)
                    r = dec.decode(b.linktype, data, 0)
                    if glance >= 0 and r.__class__ is tuple:
                        assert part.owner_of(r, n) == glance
