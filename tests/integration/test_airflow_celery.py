"""``airflow --profile celery`` on the real stack: PostgreSQL, Redis, CeleryExecutor, two
``airflow celery worker`` processes beside api-server, scheduler and dag-processor.

The conformance suite's 2-day schema break on the ``default`` profile (LocalExecutor,
SQLite) runs again on ``celery``; the outcome metrics must be the same, the tasks must
have run on a Celery worker, and no process of the celery stack may be left, after a
normal stop and after a Ctrl-C of ``orchbench run``. Skipped without ``.venvs/airflow``,
PostgreSQL or Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchbench import harness
from orchbench.journal import Journal
from orchbench.runner import EnvironmentMissing
from runners.airflow.adapter import AirflowRunner
from runners.airflow.stack import CELERY_WORKERS, AirflowStack
from tests.conformance.bench import Bench
from tests.integration.leftovers import processes_mentioning
from tests.integration.listeners import assert_loopback_only_throughout
from tests.integration.terminal import sigint_default

REPO = Path(__file__).resolve().parents[2]
# The outcome metrics (timings, CPU and lineage are the deployment's, not the outcome)
OUTCOME = (
    "alerted",
    "visible",
    "stale_executions",
    "failed_attempts",
    "recovered",
    "human_actions",
    "bad_model_deployed",
    "final_state_correct",
    "steps_executed",
)
# "[<celery task id>] Executing workload in Celery: ... task_id='ingest' dag_id='...' ..."
WORKLOAD = re.compile(r"Executing workload in Celery: .*?task_id='(\w+)'.*?dag_id='([^']+)'")


def _problem() -> str | None:
    try:
        AirflowRunner("celery", repo_root=REPO).check_environment()
    except EnvironmentMissing as e:
        return str(e)
    return None


PROBLEM = _problem()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")]


def _schema_break_2d(tmp: Path) -> Path:
    """scenarios/schema_break.yaml cut to 2 days (the break is on day 2); the name stays,
    as the notebooks' ``small_scenario`` keeps it."""
    text = (REPO / "scenarios" / "schema_break.yaml").read_text()
    assert "\ndays: 3\n" in text
    path = tmp / "schema_break.yaml"
    path.write_text(text.replace("\ndays: 3\n", "\ndays: 2\n", 1))
    return path


def _hang(tmp: Path) -> Path:
    path = tmp / "hang_forever.yaml"
    path.write_text(
        "schema: orchbench.scenario/1\nname: hang_forever\n"
        "claim: a task that hangs while the harness is interrupted\ndays: 1\n"
        "data: {rows_per_day: 2000, seed: 3}\n"
        "policy: {retries: 0, retry_delay_s: 1, timeout_s: 600}\n"
        "faults:\n  - {kind: hang, day: 1, at: featurize, params: {attempts: 1}}\n"
    )
    return path


# --- processes --------------------------------------------------------------------------


def _starttime(pid: int) -> str | None:
    """The kernel's start time of a live (non-zombie) process: with the pid, its identity."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _title(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _snapshot(pids: list[int]) -> dict[int, tuple[str, str]]:
    out = {}
    for pid in pids:
        st = _starttime(pid)
        if st is not None:
            out[pid] = (st, _title(pid))
    return out


def _survivors(snap: dict[int, tuple[str, str]]) -> list[str]:
    return [f"{pid} {title[:80]}" for pid, (st, title) in snap.items() if _starttime(pid) == st]


def _stack_pids(stack: AirflowStack) -> list[int]:
    return [p.pid for p in stack.processes()] + stack.service_pids()


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (by parent pid, from /proc)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += [c for c, p in parent.items() if p == pid]
    return out


def _open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _assert_kinds(snap: dict[int, tuple[str, str]]) -> None:
    """The snapshot holds every kind of process of a celery stack (not a vacuous check)."""
    titles = " | ".join(t for _st, t in snap.values())
    for kind in ("postgres", "redis-server", "celery", "airflow scheduler", "api_server"):
        assert kind in titles, f"no {kind} process in {titles[:2000]}"


# --- the runs ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario(conformance: Bench) -> Path:
    """The conformance suite's 2-day ``schema_break`` as its Airflow run kept it."""
    return conformance.run_dir("airflow", "schema_break") / "scenario.yaml"


@pytest.fixture(scope="module")
def out_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def default_run(conformance: Bench) -> dict[str, Any]:
    """The same scenario on the default profile: the conformance suite's run."""
    run_dir = conformance.run_dir("airflow", "schema_break")
    return json.loads((run_dir / "run.json").read_text())


def _worker_workloads(stack: AirflowStack, dag_id: str) -> dict[str, list[str]]:
    """Per celery worker, the task ids of ``dag_id`` it executed (from its log)."""
    out = {}
    for i in range(1, CELERY_WORKERS + 1):
        text = (stack.home / "logs" / f"celery-worker-{i}.log").read_text(errors="replace")
        out[f"worker{i}"] = [t for t, d in WORKLOAD.findall(text) if d == dag_id]
    return out


@pytest.mark.parallel  # reads the conformance bench, starts its own stack (conftest)
def test_celery_profile_has_the_default_outcome_and_leaves_nothing(
    scenario: Path, out_root: Path, default_run: dict[str, Any], tmp_path: Path
) -> None:
    assert default_run["status"] == "completed", default_run["reason"]
    runner = AirflowRunner("celery", REPO)
    runner.check_environment()
    runner.start(tmp_path / "matrix")
    try:
        stack = runner.stack
        assert stack is not None
        assert stack.db is not None and stack.broker is not None
        ports = [stack.port, stack.db.port, stack.broker.port]
        with assert_loopback_only_throughout():  # the workers, PostgreSQL, Redis, ...
            run_dir = harness.run_scenario(scenario, "airflow", "celery", out_root, runner=runner)
        assert runner.dag_id is not None
        workloads = _worker_workloads(stack, runner.dag_id)
        snap = _snapshot(_stack_pids(stack))
        needles = [str(stack.home), str(stack.db.root)]
    finally:
        runner.abort()
        runner.stop()
        runner.stop()  # safe twice

    # nothing of the stack is left: no process, no listening port
    _assert_kinds(snap)
    assert _survivors(snap) == []
    assert processes_mentioning(*needles) == []
    assert [p for p in ports if _open(p)] == []

    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "completed", run["reason"]
    assert run["profile"] == "celery"
    got = {k: run["metrics"][k] for k in OUTCOME}
    want = {k: default_run["metrics"][k] for k in OUTCOME}
    assert got == want
    assert got["visible"] and got["final_state_correct"] and not got["bad_model_deployed"]
    assert run["recovery_plan"] == default_run["recovery_plan"] == {"2026-01-02": "ingest"}
    assert run["metrics"]["visible_s"] is not None

    # the tasks ran on the Celery workers: every journaled step attempt has its workload
    # in a worker's log (the LocalExecutor would leave the worker logs without one)
    journal = Journal.load(run_dir / "journal.jsonl")
    ran = sorted(a.step for a in journal.attempts)
    on_workers = sorted(t for ts in workloads.values() for t in ts if t != "deploy_gate")
    assert ran and on_workers == ran, workloads

    env = json.loads((run_dir / "env.json").read_text())
    s = env["settings"]
    assert s["executor"] == "CeleryExecutor" and s["metadata_db"] == "postgresql"
    assert s["celery_workers"] == 2 and s["worker_concurrency"] == 2
    assert s["postgresql"]["fsync"] is False and s["postgresql"]["version"].startswith("15")
    assert s["broker"]["kind"] == "redis" and s["broker"]["version"][0].isdigit()
    cfg = s["airflow_config"]
    assert cfg["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert cfg["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert cfg["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://127.0.0.1:")
    assert cfg["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    v = env["versions"]
    for pkg in ("celery", "apache-airflow-providers-celery", "redis-server", "postgresql"):
        assert v.get(pkg), pkg


def test_ctrl_c_during_a_celery_run_leaves_nothing(tmp_path: Path) -> None:
    """``orchbench run --profile celery``, interrupted while a task runs on a worker."""
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchbench", "run", str(_hang(tmp_path)), "--runner", "airflow",
         "--profile", "celery", "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=sigint_default,
    )  # fmt: skip
    try:
        end = time.monotonic() + 240
        snap: dict[int, tuple[str, str]] = {}
        while time.monotonic() < end and proc.poll() is None:
            tree = _descendants(proc.pid)
            if any(_title(p).startswith("airflow worker -- ") for p in tree):  # a task runs
                time.sleep(1.0)
                snap = _snapshot(_descendants(proc.pid))
                break
            time.sleep(0.5)
        assert snap, f"no task started: {proc.communicate(timeout=60)}"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        _stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert b"interrupted" in stderr
    _assert_kinds(snap)
    assert _survivors(snap) == []
    assert processes_mentioning(str(out)) == []
    assert not list(out.glob("*/airflow/*/run.json"))  # nothing half-written is published
