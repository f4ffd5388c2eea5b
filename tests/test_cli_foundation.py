"""The `cyberclaim` console script: help everywhere, one clear line on bad input,
and a consistent case after a real SIGKILL or a full disk."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main

from tests.conftest import run_cli


def _all_command_paths():
    from app.cli import app

    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        out.append(path)
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])

    walk(root, [])
    return out


def test_help_on_every_command():
    from typer.testing import CliRunner

    from app.cli import app

    paths = _all_command_paths()
    assert ["case", "new"] in paths and ["evidence", "verify"] in paths and ["custody", "verify"] in paths
    runner = CliRunner()
    for path in paths:
        r = runner.invoke(app, path + ["--help"])
        assert r.exit_code == 0, (path, r.output)
        assert "Usage" in r.output


def _new_case(env=None) -> str:
    r = run_cli("case", "new", "Test case", "--insured", "ACME", "--json", env=env, check=True)
    return json.loads(r.stdout)["id"]


def _one_line_error(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_case_commands_and_json(cc_home):
    cid = _new_case()
    shown = json.loads(run_cli("case", "show", cid, "--json", check=True).stdout)
    assert shown["id"] == cid and shown["insured"] == "ACME" and shown["evidence"] == 0
    listed = json.loads(run_cli("case", "list", "--json", check=True).stdout)
    assert [c["id"] for c in listed] == [cid]


def test_bad_input_gives_one_clear_line(cc_home, tmp_path):
    cid = _new_case()
    _one_line_error(run_cli("case", "show", "NOSUCH"), "unknown case id")
    _one_line_error(run_cli("evidence", "add", cid, str(tmp_path / "missing.pcap")), "missing.pcap", "no such file")
    _one_line_error(run_cli("evidence", "add", cid, str(tmp_path)), "is a directory")
    _one_line_error(run_cli("events", cid, "--from", "yesterday"), "--from")


def test_unreadable_file(cc_home, tmp_path):
    secret = tmp_path / "secret.log"
    secret.write_text("x\n")
    secret.chmod(0)
    cid = _new_case()
    r = run_cli("evidence", "add", cid, str(secret))
    if os.geteuid() == 0:  # root reads anything: rerun without the capability to bypass file modes
        import shutil

        exe = Path(sys.executable).parent / "cyberclaim"
        r = subprocess.run([shutil.which("setpriv"), "--bounding-set=-dac_override,-dac_read_search", str(exe),
                            "evidence", "add", cid, str(secret)], capture_output=True, text=True)
    _one_line_error(r, "secret.log", "not readable")


def test_corrupted_database(cc_home):
    _new_case()
    db = cc_home / "cyberclaim.db"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    _one_line_error(run_cli("case", "list"), "cyberclaim.db")


def _evidence(cid):
    return json.loads(run_cli("evidence", "list", cid, "--json", check=True).stdout)


def test_disk_full_while_copying_leaves_no_partial_file_and_no_record(cc_home, tmp_path):
    cid = _new_case()
    big = tmp_path / "big.raw"
    big.write_bytes(os.urandom(8 << 20))

    def limit_file_size():  # the kernel refuses writes past 4 MiB, as a full disk would
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 << 20, 4 << 20))

    r = run_cli("evidence", "add", cid, str(big), preexec_fn=limit_file_size)
    _one_line_error(r, "big.raw", "nothing was registered")
    assert _evidence(cid) == []
    vault_files = [p for p in (cc_home / "vault").rglob("*") if p.is_file()]
    assert vault_files == [], vault_files
    ok = run_cli("evidence", "add", cid, str(big), check=True)  # and the disk "freed": it works
    assert len(_evidence(cid)) == 1, ok.stdout
    assert run_cli("custody", "verify", cid).returncode == 0


def test_sigkill_during_evidence_add_leaves_case_consistent(cc_home, tmp_path):
    cid = _new_case()
    big = tmp_path / "disk.img"
    with open(big, "wb") as f:  # large enough that the copy is still running when killed
        block = os.urandom(1 << 20)
        for _ in range(192):
            f.write(block)
    exe = Path(sys.executable).parent / "cyberclaim"
    incoming = cc_home / "vault" / ".incoming"
    for delay_s in (0.3, None):
        p = subprocess.Popen([str(exe), "evidence", "add", cid, str(big)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        if delay_s is None:  # kill while the temporary vault file is growing
            while time.time() < deadline and not any(f.stat().st_size > (8 << 20) for f in incoming.glob("*") if f.exists()):
                time.sleep(0.01)
        else:
            time.sleep(delay_s)
        p.send_signal(signal.SIGKILL)
        p.wait()
        items = _evidence(cid)
        assert len(items) in (0, 1)
        if items:
            assert items[0]["size"] == big.stat().st_size
        assert run_cli("evidence", "verify", cid).returncode == 0
        assert run_cli("custody", "verify", cid).returncode == 0
    run_cli("evidence", "add", cid, str(big), check=True)
    items = _evidence(cid)
    assert len(items) == 1 and items[0]["size"] == big.stat().st_size
    assert not any(incoming.glob("*")), "temporary files of killed copies are cleaned up"
    assert run_cli("evidence", "verify", cid).returncode == 0


def test_verify_cli_names_changed_item(cc_home, tmp_path):
    cid = _new_case()
    f = tmp_path / "auth.log"
    f.write_text("Mar  1 02:03:04 h sshd[1]: Accepted password for root from 10.0.0.1 port 22 ssh2\n")
    run_cli("evidence", "add", cid, str(f), check=True)
    sha = _evidence(cid)[0]["sha256"]
    vp = cc_home / "vault" / sha[:2] / sha
    os.chmod(vp, 0o644)
    vp.write_text("tampered\n")
    r = run_cli("evidence", "verify", cid)
    assert r.returncode == 1 and "auth.log" in r.stdout and "bytes changed" in r.stdout


def test_case_status_command(cc_home):
    cid = _new_case()
    assert run_cli("case", "status", cid, "on_hold", check=True).stdout.strip().endswith("on_hold")
    _one_line_error(run_cli("case", "status", cid, "bogus"), "unknown case status")
    assert json.loads(run_cli("case", "show", cid, "--json", check=True).stdout)["status"] == "on_hold"
