"""The real Debian 12 image (raw and ELF core of one moment) against truth.json.

truth.json comes from the guest itself (ps/netstat/proc typed into bash) and the
build scripts: an independent answer key. Both forms are decompressed once and
ingested once per module; the volatility identifier cache is kept in
.pytest_cache so only the first run pays for indexing the 38 MB ISF.
"""
from __future__ import annotations

import json
import lzma
import shutil
from pathlib import Path

import pytest

from forensics.events import Event, IngestError
from forensics.ingestors.base import IngestContext
from forensics.ingestors.memory import MemoryIngestor
from forensics.magic import detect_type, read_head

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.corpus, pytest.mark.slow]


def _decompress(src: Path, dst: Path) -> Path:
    with lzma.open(src) as fi, open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo, 1 << 22)
    return dst


@pytest.fixture(scope="module")
def linux(corpus, tmp_path_factory):
    d = corpus / "memory" / "linux"
    work = tmp_path_factory.mktemp("linuxmem")
    home = work / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("CYBERCLAIM_HOME", str(home))
    out = {"truth": json.loads((d / "truth.json").read_text())}
    for form, name in (("raw", "deb12-6.1.0-56-amd64-victim.raw.xz"), ("elf", "deb12-6.1.0-56-amd64-victim.elf.xz")):
        img = _decompress(d / "memory" / name, work / name.removesuffix(".xz"))
        etype = detect_type(read_head(img), img.name)
        ctx = IngestContext(img, f"{form:0<64}"[:64], etype, img.name, {
            "symbols": str(d / "symbols"), "volatility_cache": str(ROOT / ".pytest_cache" / "cyberclaim-volatility")})
        recs = list(MemoryIngestor().ingest(ctx))
        out[form] = {"path": img, "type": etype, "events": [r for r in recs if isinstance(r, Event)],
                     "errors": [r for r in recs if isinstance(r, IngestError)]}
    yield out
    mp.undo()


def _of(events, dt):
    return [e for e in events if e.data_type == dt]


@pytest.mark.parametrize("form", ["raw", "elf"])
def test_detected_types(linux, form):
    assert linux[form]["type"] == {"raw": "raw_memory", "elf": "elf_core"}[form]
    assert not [e for e in linux[form]["errors"] if "volatility" in e.reason or "symbols" in e.reason]


@pytest.mark.parametrize("form", ["raw", "elf"])
def test_every_process_and_command_line(linux, form):
    t = linux["truth"]["processes"]
    procs = {e.process_pid: e for e in _of(linux[form]["events"], "memory:process")}
    cmd = {e.process_pid: e.process_cmdline for e in _of(linux[form]["events"], "memory:cmdline")}
    for p in t["user_processes"]:
        ev = procs[p["pid"]]
        assert ev.process_name == p["comm"]
        assert ev.attributes["ppid"] == p["ppid"]
        assert ev.attributes["uid"] == p["uid"]
        assert cmd[p["pid"]] == " ".join(p["argv"])
        assert ev.process_cmdline == " ".join(p["argv"])
        assert ev.locator.startswith("phys=0x") and ";virt=0xffff" in ev.locator
    for k in t["kernel_threads"]:
        assert procs[k["pid"]].process_name == k["comm"]


def _ep(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


@pytest.mark.parametrize("form", ["raw", "elf"])
def test_every_socket(linux, form):
    conns = _of(linux[form]["events"], "memory:connection")
    for s in linux["truth"]["sockets"]:
        fds = s["fd"] if isinstance(s["fd"], list) else [s["fd"]]
        for fd in fds:
            cand = [c for c in conns if c.process_pid == s["pid"] and c.attributes["fd"] == fd]
            assert len(cand) == 1, s
            c = cand[0]
            assert c.attributes["family"] == s["family"]
            if s["family"] == "AF_UNIX":
                assert c.file_path == s["path"]
                continue
            assert (c.src_ip, c.src_port) == _ep(s["local"])
            assert (c.dst_ip, c.dst_port) == _ep(s["remote"])
            assert c.proto == s["proto"].lower()
            assert c.attributes["state"] == s["state"]


@pytest.mark.parametrize("form", ["raw", "elf"])
def test_bash_history(linux, form):
    from datetime import datetime

    bash = sorted(_of(linux[form]["events"], "memory:bash"), key=lambda e: (e.timestamp, e.locator))
    entries = linux["truth"]["bash_history"]["entries"]
    assert [e.process_cmdline for e in bash] == [x["command"] for x in entries]
    for ev, x in zip(bash, entries):
        assert ev.process_pid == linux["truth"]["bash_history"]["pid"]
        # bash keeps whole seconds of the moment Enter was pressed (host clock, independent)
        enter = datetime.fromisoformat(x["enter_pressed_host_utc_approx"].replace("Z", "+00:00")).timestamp()
        assert abs(ev.timestamp / 1e6 - enter) < 1.5


@pytest.mark.parametrize("form", ["raw", "elf"])
def test_injected_region_and_its_bytes(linux, form):
    kw = next(p for p in linux["truth"]["processes"]["user_processes"] if p["pid"] == 102)["rwx_mapping"]
    inj = _of(linux[form]["events"], "memory:injection")
    assert len(inj) == 1
    ev = inj[0]
    assert ev.process_pid == 102 and ev.attributes["protection"] == "rwx"
    assert ev.attributes["start"] == int(kw["start"], 16) and ev.attributes["end"] == int(kw["end"], 16)
    prefix = bytes.fromhex(kw["content_prefix_hex"])
    assert bytes.fromhex(ev.attributes["hexdump"]).startswith(prefix)
    # The locator's physical address holds those bytes in the raw image (guest-physical == file offset).
    phys = int(ev.locator.split(";")[0].removeprefix("phys="), 16)
    with open(linux["raw"]["path"], "rb") as f:
        f.seek(phys)
        assert f.read(len(prefix)) == prefix


@pytest.mark.parametrize("form", ["raw", "elf"])
def test_banner_module_and_indicators(linux, form):
    evs = linux[form]["events"]
    banners = _of(evs, "memory:banner")
    truth_banner = linux["truth"]["kernel"]["banner"]
    assert any(b.attributes["banner"].startswith(truth_banner) for b in banners)
    with open(linux["raw"]["path"], "rb") as f:
        for b in banners:  # the bytes at each banner's physical offset are the banner
            f.seek(int(b.locator.removeprefix("phys="), 16))
            assert f.read(len(b.attributes["banner"])).decode("latin-1") == b.attributes["banner"]
    assert [m.attributes["name"] for m in _of(evs, "memory:kmodule")] == linux["truth"]["kernel"]["modules_loaded"]
    ind = {(e.attributes["kind"], e.attributes["value"]) for e in _of(evs, "memory:indicator")}
    assert ("url", "http://203.0.113.50:8443/beacon") in ind
    assert ("ipv4", "10.0.2.100") in ind


def test_raw_and_elf_give_the_same_events(linux):
    def key(e):
        r = e.to_row()
        for k in ("event_id", "evidence_sha256"):
            r.pop(k)
        return json.dumps(r, sort_keys=True, default=str)

    raw = sorted(map(key, linux["raw"]["events"]))
    elf = sorted(map(key, linux["elf"]["events"]))
    assert raw == elf
    assert len(raw) > 150
