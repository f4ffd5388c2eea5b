"""Batch reprocessing: cache hits, byte-identical results, causes in the diff, failures that stay local,
a real Dask LocalCluster and a scheduler + worker started as separate processes, real SIGKILLs."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import delete, func, select

from tests.conftest import run_cli

SMALL = ("web01_access.log", "web01_admin_access.log", "platform_syslog.log", "edge-fw_firewall.log")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Path:
    import scenarios

    return scenarios.generate("telecom_ddos_tamper", tmp_path_factory.mktemp("sc") / "telecom", seed=3, scale=1)


@pytest.fixture()
def home(monkeypatch):
    """A private home on tmpfs when there is one: SQLite fsyncs per transaction dominate otherwise."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    d = Path(tempfile.mkdtemp(prefix="cc-reprocess-", dir=base))
    monkeypatch.setenv("CYBERCLAIM_HOME", str(d))
    monkeypatch.delenv("CYBERCLAIM_DB_URL", raising=False)
    monkeypatch.setenv("CYBERCLAIM_USER", "tester")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def make_case(scenario: Path, files=SMALL, title="telecom") -> str:
    from case_store import cases

    c = cases.create_case(title, policy=scenario / "policy.yaml", financials=scenario / "financials")
    for name in files:
        cases.add_evidence(c.id, scenario / "evidence" / name)
    return c.id


def inline(**kw):
    from case_store.reprocess import reprocess
    from forensics.executors import InlineExecutor

    def go(ids, **more):
        with InlineExecutor() as ex:
            return {o.case_id: o for o in reprocess(ids, ex, **{**kw, **more}).outcomes}
    return go


def run_row(run_id: int):
    from case_store.db import session
    from case_store.models import Run

    with session() as s:
        return s.get(Run, run_id)


def test_unchanged_reprocess_is_a_cache_hit_with_identical_bytes(home, scenario):
    cid = make_case(scenario)
    go = inline()
    first = go([cid])[cid]
    assert first.status == "new" and first.ran == first.units > 0 and first.cached == 0
    assert first.payable is not None and first.payable > 0
    second = go([cid])[cid]
    assert second.status == "unchanged" and second.ran == 0 and second.cached == second.units
    third = go([cid], recompute=True)[cid]  # storyline and adjustment really recomputed
    a, b, c = (run_row(o.run_id) for o in (first, second, third))
    assert a.result == b.result == c.result  # byte-identical canonical JSON
    assert a.result_sha256 == c.result_sha256 and json.loads(c.diff)["changed"] is False
    assert a.status == b.status == c.status == "done"


def test_bad_evidence_fails_that_case_and_the_batch_goes_on(home, scenario):
    from case_store import vault
    from case_store.cases import list_evidence

    # different files: the vault is content-addressed, a shared file would be damaged for both cases
    good, bad = make_case(scenario, SMALL[:3], title="good"), make_case(scenario, SMALL[3:], title="bad")
    victim = list_evidence(bad)[0]
    p = vault.vault_path(victim.sha256)
    os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)
    with open(p, "r+b") as f:
        f.write(b"X")
    out = inline()([bad, good])
    assert out[good].status == "new"
    assert out[bad].status == "failed" and "evidence verification failed" in out[bad].error
    assert victim.original_name in out[bad].error
    r = run_row(out[bad].run_id)
    assert r.status == "failed" and r.result is None and victim.original_name in r.error


def test_ingestor_version_bump_reingests_only_its_units_and_diff_names_the_cause(home, scenario, monkeypatch):
    from forensics.ingestors.textlog import TextLogIngestor

    cid = make_case(scenario)
    go = inline()
    first = go([cid])[cid]
    monkeypatch.setattr(TextLogIngestor, "version", "9.9.9")
    second = go([cid])[cid]
    assert second.ran == len(SMALL)  # one textlog unit per log; the YARA units stay cached
    assert second.cached == first.units - len(SMALL)
    d = second.diff
    bumps = [c for c in d["causes"] if c["kind"] == "ingestor_version"]
    assert [(c["ingestor"], c["after"]) for c in bumps] == [("textlog", "9.9.9")]
    ev = {(c["parser"], c["change"]): c["count"] for c in d["causes"] if c["kind"] == "events" and "parser" in c}
    added, removed = ev.get(("textlog@9.9.9", "added")), [v for (p, ch), v in ev.items() if ch == "removed" and p.startswith("textlog@")]
    assert added and removed and added == removed[0]  # same lines, new ids (the id includes the parser version)
    assert not [c for c in d["causes"] if c["kind"] in ("rule_pack", "policy", "financials")]


def test_rule_pack_change_reruns_only_the_yara_units(home, scenario, tmp_path):
    cid = make_case(scenario)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yar").write_text('rule admin_page { strings: $a = "/admin" condition: $a }\n')
    go = inline(options={"yara_rules": [str(rules)]})
    go([cid])
    (rules / "a.yar").write_text('rule admin_page { strings: $a = "/admin" condition: $a }\nrule login { strings: $a = "login" condition: $a }\n')
    out = go([cid])[cid]
    assert out.ran == len(SMALL) and out.cached == len(SMALL)  # only the YARA scans ran again
    assert [c for c in out.diff["causes"] if c["kind"] == "rule_pack" and c["pack"] == "yara"]


def test_policy_change_changes_figures_and_names_the_document(home, scenario, tmp_path):
    import re

    from case_store import cases

    cid = make_case(scenario)
    go = inline()
    first = go([cid])[cid]
    assert first.payable > 0
    text = (scenario / "policy.yaml").read_text(encoding="utf-8")
    cap = round(first.payable / 2, 2)  # an aggregate limit below what was payable must cap the total at it
    new_text, n = re.subn(r"(?m)^aggregate_limit:.*$", f"aggregate_limit: {cap}", text)
    assert n == 1
    (tmp_path / "policy.yaml").write_text(new_text, encoding="utf-8")
    cases.set_inputs(cid, policy=tmp_path / "policy.yaml")
    second = go([cid])[cid]
    assert second.status == "changed" and second.ran == 0
    assert [c for c in second.diff["causes"] if c["kind"] == "policy"]
    tot = second.diff["totals"]["payable"]
    assert tot["before"] == first.payable and tot["after"] == cap == second.payable
    assert tot["delta"] == round(cap - first.payable, 2)


def test_unit_with_parquet_but_no_row_and_row_without_parquet_rerun_without_duplicates(home, scenario):
    from case_store.db import session
    from case_store.eventstore import case_parquet_files
    from case_store.models import IngestResult

    cid = make_case(scenario)
    go = inline()
    go([cid])
    with session() as s:
        rows = list(s.execute(select(IngestResult).where(IngestResult.parser.like("textlog@%")).order_by(IngestResult.id)).scalars())
        s.execute(delete(IngestResult).where(IngestResult.id == rows[0].id))  # driver died after the file, before the row
    Path(rows[1].parquet_path).unlink()  # the row survived, the file did not
    out = go([cid])[cid]
    assert out.ran == 2 and out.status == "unchanged"
    with session() as s:
        n = s.execute(select(func.count()).select_from(IngestResult).where(IngestResult.parser.like("textlog@%"))).scalar()
    assert n == len(SMALL)
    files = case_parquet_files(cid)
    total, distinct = duckdb.connect().execute(f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet({files!r})").fetchone()
    assert total == distinct > 0


def _suicide_once(marker: str, value: int) -> int:
    if not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return value


def test_local_pool_survives_a_sigkilled_worker(tmp_path):
    from forensics.executors import LocalExecutor

    with LocalExecutor(2) as ex:
        for i in range(6):
            ex.submit(i, _suicide_once, str(tmp_path / "killed"), i)
        got = {d.tag: (d.value, d.error) for d in ex.completed()}
    assert (tmp_path / "killed").exists()
    assert {k: v for k, (v, e) in got.items()} == {i: i for i in range(6)}


def test_dask_local_cluster(home, scenario):
    from distributed import Client, LocalCluster

    from case_store.reprocess import reprocess
    from forensics.executors import DaskExecutor

    # both cases hold the same two logs: each unit runs once in the batch, the other case takes its result
    ids = [make_case(scenario, SMALL[:2], title=f"c{i}") for i in range(2)]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        ex = DaskExecutor(client=client)
        ex.check_environment()
        out = {o.case_id: o for o in reprocess(ids, ex).outcomes}
        assert {o.status for o in out.values()} == {"new"}
        workers = set(client.run(os.getpid).values())
    assert len(workers) == 2 and os.getpid() not in workers
    a, b = out[ids[0]], out[ids[1]]
    assert a.units == b.units == 4 and a.ran + b.ran == 4 and a.cached + b.cached == 4
    again = inline()(ids, recompute=True)  # recomputed in this process: the cluster's bytes again
    for cid in ids:
        assert again[cid].status == "unchanged" and again[cid].result_sha256 == out[cid].result_sha256
    assert out[ids[0]].result_sha256 != out[ids[1]].result_sha256  # the case id is part of the result


def _start(cmd, env, log):
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_dask_scheduler_and_worker_as_separate_processes(home, scenario, tmp_path, monkeypatch):
    from case_store.reprocess import list_runs

    cid = make_case(scenario, SMALL[1:3])
    sched_file = tmp_path / "scheduler.json"
    env = dict(os.environ, CYBERCLAIM_HOME=str(home))
    bindir = Path(sys.executable).parent
    log = open(tmp_path / "dask.log", "w")
    sched = _start([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(sched_file)], env, log)
    worker = None
    try:
        deadline = time.time() + 60
        address = None
        while address is None and time.time() < deadline:  # the file may be seen before it is fully written
            try:
                address = json.loads(sched_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.2)
        assert address, "the scheduler did not start"
        worker = _start([str(bindir / "dask"), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                         "--nworkers", "1", "--no-dashboard"], env, log)
        # no waiting for the worker here: the driver waits for the cluster's first worker itself
        r = run_cli("reprocess", cid, "--scheduler", address, "--json", env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        summary = json.loads(r.stdout)
        assert summary["totals"]["new"] == 1 and address in summary["where"]
        # a worker that sees another home is refused before any work is sent
        from case_store import CyberclaimError
        from forensics.executors import make_executor

        monkeypatch.setenv("CYBERCLAIM_HOME", str(tmp_path / "other"))
        with pytest.raises(CyberclaimError, match="CYBERCLAIM_HOME"):
            make_executor(scheduler=address)
        monkeypatch.setenv("CYBERCLAIM_HOME", str(home))
    finally:
        for p in (worker, sched):
            if p is not None:
                _stop(p)
        log.close()
    runs = list_runs(cid)
    assert runs[-1].status == "done" and runs[-1].result_sha256 == summary["cases"][0]["result_sha256"]


def _unit_rows() -> dict[tuple, int]:
    """Ingest results of units (Sigma excluded: it is per item, not a unit) -> row id."""
    from case_store.db import session
    from case_store.models import IngestResult

    with session() as s:
        return {(r.evidence_sha256, r.parser, r.config_hash): r.id for r in s.execute(select(IngestResult)).scalars()
                if not r.parser.startswith("sigma@")}


def _pool_workers(driver: int) -> list[int]:
    """The spawned pool workers among a driver's children (not its resource tracker)."""
    out = []
    try:
        kids = Path(f"/proc/{driver}/task/{driver}/children").read_text().split()
    except OSError:
        return out
    for k in kids:
        try:
            if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes():
                out.append(int(k))
        except OSError:
            pass
    return out


def _kill_group(pgid: int, p: subprocess.Popen) -> None:
    """SIGKILL a process group, then unlink the named semaphores its processes had mapped: their
    resource tracker dies with them, and /dev/shm would keep the names until the next boot."""
    sems = set()
    for k in os.listdir("/proc"):
        try:
            if k.isdigit() and os.getpgid(int(k)) == pgid:
                sems |= {ln.split()[-1] for ln in Path(f"/proc/{k}/maps").read_text().splitlines()
                         if "/dev/shm/sem." in ln}
        except (OSError, ProcessLookupError):
            pass
    os.killpg(pgid, signal.SIGKILL)
    p.wait()
    for name in sems:
        try:
            os.unlink(name)
        except OSError:
            pass


def test_driver_sigkill_mid_batch_then_resume_with_a_worker_killed(home, scenario):
    """SIGKILL the driver (and its pool) mid-batch; the next batch resumes: runs left "running" are
    abandoned, no recorded unit runs again, and a pool worker SIGKILLed during the resumed batch costs
    nothing but a resubmission. No duplicated events; the resumed result is the recomputed one."""
    from case_store.db import session
    from case_store.eventstore import case_parquet_files
    from case_store.models import Run

    ids = [make_case(scenario, ("edge.pcapng", SMALL[0]), title="big"), make_case(scenario, SMALL[1:], title="small")]
    env = dict(os.environ, CYBERCLAIM_HOME=str(home))
    exe = Path(sys.executable).parent / "cyberclaim"
    p = subprocess.Popen([str(exe), "reprocess", *ids, "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and p.poll() is None and len(_unit_rows()) < 3:
            time.sleep(0.05)
        assert p.poll() is None, "the batch finished before it could be killed"
        _kill_group(p.pid, p)  # the driver and its pool, mid-batch
    finally:
        if p.poll() is None:
            _kill_group(p.pid, p)
    with session() as s:
        left = [r.id for r in s.execute(select(Run).where(Run.status == "running")).scalars()]
    before = _unit_rows()
    assert left, "a killed driver leaves its runs 'running'"

    r = subprocess.Popen([str(exe), "reprocess", *ids, "--workers", "2", "--json"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    killed = None
    try:
        deadline = time.time() + 120
        while killed is None and r.poll() is None and time.time() < deadline:
            workers = _pool_workers(r.pid)
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
            time.sleep(0.02)
        out, err = r.communicate(timeout=300)
    finally:
        if r.poll() is None:
            os.killpg(r.pid, signal.SIGKILL)
            r.wait()
    assert killed, "no pool worker of the resumed batch was seen"
    assert r.returncode == 0, out + err
    summary = json.loads(out)
    assert summary["totals"]["failed"] == 0
    resumed = {c["case"]: c for c in summary["cases"]}
    after = _unit_rows()
    assert {k: after.get(k) for k in before} == before  # every unit recorded before the kill: not run again
    assert sum(c["cached"] for c in resumed.values()) >= len(before)
    with session() as s:
        statuses = {r.id: r.status for r in s.execute(select(Run)).scalars()}
    assert all(statuses[i] == "abandoned" for i in left)
    for cid in ids:
        files_ = case_parquet_files(cid)
        total, distinct = duckdb.connect().execute(f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet({files_!r})").fetchone()
        assert total == distinct > 0  # no duplicated events
    again = inline()(ids, recompute=True)  # recomputed from the stored events: the resumed result again
    for cid in ids:
        assert again[cid].status == "unchanged" and again[cid].result_sha256 == resumed[cid]["result_sha256"]


def test_cli_runs_and_diff(home, scenario):
    cid = make_case(scenario, SMALL[:2])
    env = dict(os.environ, CYBERCLAIM_HOME=str(home))
    go = inline()
    go([cid])
    go([cid], recompute=True)
    dry = run_cli("reprocess", "--all", "--dry-run", "--json", env=env, check=True)
    plan = json.loads(dry.stdout)["cases"][0]
    assert plan["status"] == "planned" and plan["ran"] == 0 and plan["cached"] == plan["units"] == 4
    runs = json.loads(run_cli("runs", cid, "--json", env=env, check=True).stdout)
    assert [r["status"] for r in runs] == ["done", "done"] and runs[0]["result_sha256"] == runs[1]["result_sha256"]
    d = json.loads(run_cli("diff", cid, str(runs[0]["run"]), str(runs[1]["run"]), "--json", env=env, check=True).stdout)
    assert d["changed"] is False and d["figures"] == [] and d["coverage"] == []
    bad = run_cli("diff", cid, "1", "999", env=env)
    assert bad.returncode == 2 and "no run 999" in bad.stderr
