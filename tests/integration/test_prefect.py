"""The Prefect runner against a real ``prefect server start`` (one per module).

Reads the conformance suite's runs (``tests/conformance``: schema_break, transient_error,
hang, crash, scheduler_crash, missed_days on the default profile) for Prefect's own
records; runs ``transient_error_exhausted`` (the cache on re-run) and a run forced past
its deadline on a server of its own, and checks that neither the flow processes nor the
server outlive ``stop``.

The ``pool`` profile (issue 10) gets a stack of its own (PostgreSQL, the server on it, a
process work pool, its deployment, two workers): ``schema_break`` there must give the same
outcome as on the default profile, its flow runs must have been executed by the pool's
workers, a run past its deadline must leave no flow-run process, Ctrl-C of ``orchbench
run`` must leave nothing, and nothing of the stack may survive ``stop``. The remote target:
the same profile against a server the harness did not start (``--prefect-api-url``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchbench.harness import run_scenario
from orchbench.journal import Journal
from orchbench.trace import read_trace
from orchbench.workflow.spec import STEP_NAMES
from runners.prefect import native
from runners.prefect.adapter import POOL, PrefectRunner
from runners.prefect.modes import PoolStack
from runners.prefect.pool import Workers, marked_pids
from runners.prefect.server import Api, PrefectServer
from tests.conformance import scenarios as short
from tests.conformance.bench import Bench
from tests.integration.leftovers import (
    interrupt_after_a_step,
    processes_mentioning,
)
from tests.integration.listeners import assert_loopback_only, assert_loopback_only_throughout
from tests.integration.terminal import sigint_default

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
VENV = REPO / ".venvs" / "prefect" / "bin" / "python"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VENV.exists(), reason=".venvs/prefect missing: run `make setup`"),
]


def processes_with_env(needle: str) -> list[str]:
    """Command lines of live processes whose environment contains ``needle``."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            if needle.encode() not in env.split(b"\0"):
                continue
            stat = (d / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie waiting for its reaper holds nothing
            found.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


# The tests that share one of the module's systems (``runner``, ``pool_runner``) run on one
# xdist worker each, so make test's second pass starts each once, not once per worker
# that draws one of its tests (the pool twice, 22 s each, in the CI of e67abce).
ONE_SERVER = pytest.mark.xdist_group("prefect-default-server")
ONE_POOL = pytest.mark.xdist_group("prefect-pool")


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prefect-matrix")


@pytest.fixture(scope="module")
def runner(matrix: Path) -> Iterator[PrefectRunner]:
    r = PrefectRunner("default", repo_root=REPO)
    r.check_environment()
    r.start(matrix)
    try:
        yield r
    finally:
        r.stop()
        r.stop()  # safe twice
        assert r.home is not None
        assert processes_with_env(f"PREFECT_HOME={r.home}") == []


@pytest.fixture(scope="module")
def out(published_runs: Path) -> Path:
    return published_runs


@pytest.fixture(scope="module")
def schema_break_default(conformance: Bench) -> tuple[Path, dict[str, Any]]:
    """The conformance suite's ``schema_break`` on the default profile (2 days; its
    ``scenario.yaml`` is what the pool and remote tests run to compare with it)."""
    d = conformance.run_dir("prefect", "schema_break")
    return d, json.loads((d / "run.json").read_text())


def conformance_run(conformance: Bench, scenario: str) -> tuple[Path, dict[str, Any]]:
    d = conformance.run_dir("prefect", scenario)
    return d, json.loads((d / "run.json").read_text())


def run(name: str, runner: PrefectRunner, out: Path, **kw: Any) -> tuple[Path, dict[str, Any]]:
    d = run_scenario(SCENARIOS / f"{name}.yaml", "prefect", out_root=out, runner=runner, **kw)
    return d, json.loads((d / "run.json").read_text())


def attempts(trace: list[dict[str, Any]], date: str, step: str) -> list[dict[str, Any]]:
    return [
        r
        for r in trace
        if r["kind"] == "task_attempt" and r["logical_date"] == date and r["step"] == step
    ]


def test_schema_break_stops_alerts_and_reruns_only_the_broken_date(
    schema_break_default: tuple[Path, dict[str, Any]],
) -> None:
    """The conformance ``schema_break``, read for Prefect's own records."""
    d, run_json = schema_break_default
    assert run_json["status"] == "completed", run_json["reason"]
    assert run_json["recovery_plan"] == {"2026-01-02": "ingest"}
    m = run_json["metrics"]
    assert m["visible"] is True
    assert m["visible_s"] is not None and m["visible_s"] < 5
    assert m["alerted"] is True
    assert m["stale_executions"] == 0
    assert m["bad_model_deployed"] is False
    assert m["final_state_correct"] is True
    assert m["human_actions"] == 1
    assert m["rerun_cost_ratio"] is not None and 0.5 < m["rerun_cost_ratio"] < 3
    assert m["lineage_by_fact"]["run_step"] == 1.0
    assert m["lineage_by_fact"]["model_training"] == 1.0

    trace = read_trace(d / "native.jsonl")
    journal = Journal.load(d / "journal.jsonl")
    # The first flow run for the broken date: validate failed once, not retried (its
    # retry_condition_fn refuses ValidationFailed), and no task downstream of it ran.
    first_run = next(
        r["run"] for r in attempts(trace, "2026-01-02", "ingest") if r["state"] == "success"
    )
    in_first = [r for r in trace if r["kind"] == "task_attempt" and r["run"] == first_run]
    assert {r["step"] for r in in_first} == {"ingest", "validate"}
    validate = [r for r in in_first if r["step"] == "validate"]
    assert [(r["state"], r["native_state"]) for r in validate] == [("failed", "Failed")]
    assert "ValidationFailed" in (validate[0]["message"] or "")
    assert m["attempts_before_fix"] == 1
    alerts = [r for r in trace if r["kind"] == "alert"]
    assert any(a["step"] == "validate" and a["logical_date"] == "2026-01-02" for a in alerts)
    states = {r["run"]: r["state"] for r in trace if r["kind"] == "run_state"}
    assert states[first_run] == "failed"
    # After the fix, only the broken date ran again (every step of it).
    fix = journal.harness_time("fix_applied")
    assert fix is not None
    rerun = [a for a in journal.attempts if a.start_ns >= fix]
    assert {a.logical_date for a in rerun} == {"2026-01-02"}
    assert {a.step for a in rerun} >= {"ingest", "validate", "featurize", "train", "evaluate"}
    assert all(a.status == "success" for a in rerun)
    served = f"prefect deployment run daily-retraining/orchbench-{run_json['run_id']}"
    assert journal.operator_actions[0]["command"].startswith(served)


def test_transient_error_is_retried_in_the_same_flow_run(conformance: Bench) -> None:
    d, run_json = conformance_run(conformance, "transient_error")
    assert run_json["status"] == "completed", run_json["reason"]
    m = run_json["metrics"]
    assert m["human_actions"] == 0
    assert m["failed_attempts"] == 1
    assert m["final_state_correct"] is True
    assert m["alerted"] is False  # the retry absorbed it: no failure hook fired
    assert run_json["recovery_plan"] == {}

    trace = read_trace(d / "native.jsonl")
    featurize = attempts(trace, "2026-01-02", "featurize")
    assert [(r["attempt"], r["state"], r["native_state"]) for r in featurize] == [
        (1, "failed", "AwaitingRetry"),
        (2, "success", "Completed"),
    ]
    assert all(r["run"] == featurize[0]["run"] for r in featurize)
    assert all(r["code_version"] for r in featurize)
    # evaluate publishes the gate decision as a Prefect artifact.
    (evaluate,) = attempts(trace, "2026-01-01", "evaluate")
    assert [a["key"] for a in evaluate["artifacts"]] == ["evaluation-2026-01-01"]


@ONE_SERVER
def test_exhausted_retries_fail_then_the_rerun_reuses_the_cache(
    runner: PrefectRunner, out: Path, tmp_path: Path
) -> None:
    # the shipped scenario's first 2 days (its fault is on the second), 20000 rows a day
    scenario = short.copy("transient_error_exhausted", tmp_path, short.Short(rows=None))
    d = run_scenario(scenario, "prefect", out_root=out, runner=runner)
    run_json = json.loads((d / "run.json").read_text())
    assert run_json["status"] == "completed", run_json["reason"]
    assert run_json["recovery_plan"] == {"2026-01-02": "train"}
    m = run_json["metrics"]
    assert m["visible"] is True and m["alerted"] is True
    assert m["failed_attempts"] == 3
    assert m["stale_executions"] == 0
    assert m["final_state_correct"] is True
    assert m["human_actions"] == 1
    assert m["redundant_executions"] == 0
    assert m["rerun_cost_ratio"] is not None and m["rerun_cost_ratio"] < 3

    trace = read_trace(d / "native.jsonl")
    journal = Journal.load(d / "journal.jsonl")
    fix = journal.harness_time("fix_applied")
    assert fix is not None
    rerun_steps = {a.step for a in journal.attempts if a.start_ns >= fix}
    assert "train" in rerun_steps
    assert not rerun_steps & {"ingest", "validate", "featurize"}
    # The re-run's flow run shows the still-valid upstream tasks as Cached.
    rerun_flow = next(r["run"] for r in attempts(trace, "2026-01-02", "train")[-1:])
    cached = {
        r["step"]
        for r in trace
        if r["kind"] == "task_attempt" and r["run"] == rerun_flow and r["state"] == "cached"
    }
    assert cached == {"ingest", "validate", "featurize"}
    alerts = [r for r in trace if r["kind"] == "alert"]
    assert any(a["step"] == "train" and a["logical_date"] == "2026-01-02" for a in alerts)


@ONE_SERVER
def test_a_run_past_its_deadline_is_killed_and_leaves_nothing(
    runner: PrefectRunner, out: Path
) -> None:
    d, run_json = run("clean", runner, out, timeout_s=8)
    assert run_json["status"] == "timeout"
    assert "deadline" in (run_json["reason"] or "")
    assert processes_with_env(f"ORCHBENCH_RUN_ID={run_json['run_id']}") == []
    assert runner.api is not None and runner.api.healthy()  # the server itself lives on
    journal = Journal.load(d / "journal.jsonl")
    assert journal.attempts  # it was killed mid-way, not before it started


def test_tuned_profile_listens_on_loopback_only(tmp_path: Path) -> None:
    """The tuned profile starts the same server with fewer services; no run, only a look
    at what listens (its flow processes differ from the default's in two client settings)."""
    r = PrefectRunner("tuned", repo_root=REPO)
    r.check_environment()
    r.start(tmp_path)
    try:
        assert r.api is not None and r.api.healthy()
        assert_loopback_only()
    finally:
        r.stop()


# --- issue 7: faults the runner itself must handle (the conformance runs) ------------------


def test_hang_is_timed_out_by_prefect_and_retried(conformance: Bench) -> None:
    """The conformance ``hang``: train sleeps on its first try on day 2; the task's
    ``timeout_seconds`` ends it and the retry succeeds, as Prefect records it too."""
    d, _ = conformance_run(conformance, "hang")
    journal = Journal.load(d / "journal.jsonl")
    trace = read_trace(d / "native.jsonl")
    train2 = [a for a in journal.attempts if (a.logical_date, a.step) == ("2026-01-02", "train")]
    assert [a.status for a in train2] == ["failed", "success"]
    assert [r["state"] for r in attempts(trace, "2026-01-02", "train")] == ["failed", "success"]
    (declared,) = [r for r in trace if r["kind"] == "declared"]
    assert declared["timeouts"]["train"] == 6.0 and declared["retries"]["train"] == 1
    assert declared["caching"] is True and declared["deploy_condition"] is None
    assert set(declared["retry_condition"].values()) == {"retry_unless_not_transient"}
    assert "orchbench.workflow.steps.ValidationFailed" in declared["not_retried"]


def test_a_server_crash_kills_the_whole_server_process_group(conformance: Bench) -> None:
    """The conformance ``scheduler_crash``: the server's processes were SIGKILLed as
    featurize started on day 2 (and restarted); the run still ended with a final state."""
    d, run_json = conformance_run(conformance, "scheduler_crash")
    journal = Journal.load(d / "journal.jsonl")
    crash = next(f for f in journal.faults if f["kind"] == "scheduler_crash")
    assert crash["detail"]["killed"] and all(k["pid"] for k in crash["detail"]["killed"])
    assert run_json["metrics"]["final_state_correct"] is not None


def test_a_crashed_task_kills_its_flow_run_so_the_operator_reruns(conformance: Bench) -> None:
    """The conformance ``crash``: featurize's process is SIGKILLed on day 2; the task runs
    in the flow-run process, so the flow run dies with it: no retry, the operator re-runs.
    The serve process that started it marks the flow run Crashed and runs ``on_crashed``,
    whose message reaches the alert sink; the task run it was running stays Running."""
    d, run_json = conformance_run(conformance, "crash")
    assert run_json["recovery_plan"] == {"2026-01-02": "featurize"}
    journal = Journal.load(d / "journal.jsonl")
    fix = journal.harness_time("fix_applied")
    assert fix is not None
    before = [(a.logical_date, a.step, a.status) for a in journal.attempts if a.start_ns < fix]
    assert before[-1] == ("2026-01-02", "featurize", "killed")  # no retry: the flow died
    assert run_json["metrics"]["human_actions"] == 1

    trace = read_trace(d / "native.jsonl")
    crashed = [r for r in trace if r["kind"] == "run_state" and r["state"] == "crashed"]
    assert [(r["logical_date"], r["native_state"]) for r in crashed] == [("2026-01-02", "Crashed")]
    alerts = [r for r in trace if r["kind"] == "alert" and r["logical_date"] == "2026-01-02"]
    assert any(a["step"] is None and "Crashed" in a["subject"] for a in alerts)
    killed = [
        r for r in attempts(trace, "2026-01-02", "featurize") if r["run"] == crashed[0]["run"]
    ]
    assert [r["state"] for r in killed] == ["running"]  # what the API still shows


def test_runs_scheduled_while_nothing_served_them_run_late_once_served_again(
    conformance: Bench,
) -> None:
    """The conformance ``missed_days``, fired by Prefect's own scheduler: the server's
    scheduler service created each date's run ahead from the deployment's schedule; the
    outage killed the server and the serve process before the missed date's time. What
    Prefect's docs say happens to such a run: the server's late-runs service puts a flow
    run "in a Late state if [it is] not started on time" (prefect.server.services.late_runs)
    and Late is a state of type SCHEDULED, which is what a runner's poll picks up
    (``get_scheduled_flow_runs_for_deployments``). So each missed date is run by its own
    scheduled run, once, after the scheduler is back, with no operator command.

    Whether the run shows Late is a race Prefect does not settle: the late-runs service and
    the serve process come back together, and the serve process may pick the run up before
    the service's loop marks it (CI of 84099c5 saw Scheduled, Pending, Submitting, Running,
    Completed). So Late is allowed, not required.

    The served deployment has ``concurrency_limit=1`` (``runners/prefect/__main__.py``):
    when two missed dates' runs are picked up together, the server's core policy rejects
    the second one's Pending with a ``Scheduled`` state named ``AwaitingConcurrencySlot``
    (``prefect.server.orchestration.core_policy``, collision strategy ENQUEUE) until the
    first finishes (CI of 7f2c447 saw Scheduled, AwaitingConcurrencySlot, Pending,
    Submitting, Running, Completed). That is the limit doing its job, so it is allowed too."""
    d = conformance.run_dir("prefect", "missed_days")
    clock = json.loads((d / "env.json").read_text())["clock"]
    assert (clock["scheduling"], clock["fired_by"]) == ("system", "Prefect")
    journal = Journal.load(d / "journal.jsonl")
    outage = next(f for f in journal.faults if f["kind"] == "missed_days")
    missed = outage["detail"]["dates"]
    started = journal.harness_time("scheduler_started")
    assert missed and started is not None

    runs = [r for r in read_trace(d / "native.jsonl") if r["kind"] == "run_state"]
    for date in missed:
        mine = [r for r in runs if r["logical_date"] == date]
        assert [r["created_by"] for r in mine] == ["SCHEDULE"], date  # its own, no other
        run = mine[0]
        assert run["scheduled_start_ns"] < started < run["start_ns"], date
        names = run["native_states"]
        assert names[0] == "Scheduled" and names[-1] == "Completed", names
        assert set(names) <= {
            "Scheduled",
            "Late",
            "AwaitingConcurrencySlot",
            "Pending",
            "Submitting",
            "Running",
            "Completed",
        }, names
        # each step of the date ran once, after the outage, and nobody typed a thing
        done = [(a.step, a.status) for a in journal.attempts if a.logical_date == date]
        steps = [step for step, _ in done]
        assert steps[:1] == [STEP_NAMES[0]] and len(steps) == len(set(steps)), done
        assert {status for _, status in done} == {"success"}, done
        assert all(a.start_ns > started for a in journal.attempts if a.logical_date == date)
    assert not [c for c in journal.operator_actions if any(m in c["command"] for m in missed)]


# --- issue 10: the production-like `pool` profile ---------------------------------------------

# What a run's outcome is, as opposed to how long it took.
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
    "lineage_completeness",
    "lineage_by_fact",
)


def pool_stack(runner: PrefectRunner) -> PoolStack:
    assert isinstance(runner.mode, PoolStack)
    return runner.mode


@pytest.fixture(scope="module")
def pool_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectRunner]:
    r = PrefectRunner("pool", repo_root=REPO)
    r.check_environment()
    r.start(tmp_path_factory.mktemp("prefect-pool-matrix"))
    mode = r.mode
    assert isinstance(mode, PoolStack)
    assert r.home is not None and mode.pg is not None and mode.stack is not None
    needles = (str(r.home), str(mode.pg.root))
    stack = mode.stack
    assert processes_mentioning(*needles)  # the needles do find the stack while it runs
    try:
        yield r
    finally:
        r.stop()
        r.stop()  # safe twice
        assert marked_pids(stack) == []
        assert processes_mentioning(*needles) == []
        assert not Path(needles[1]).exists()


@ONE_POOL
def test_pool_run_past_its_deadline_leaves_no_flow_run_process(
    pool_runner: PrefectRunner, tmp_path: Path
) -> None:
    d, run_json = run("clean", pool_runner, tmp_path, timeout_s=15)
    assert run_json["status"] == "timeout"
    assert processes_with_env(f"ORCHBENCH_RUN_ID={run_json['run_id']}") == []
    workers = pool_stack(pool_runner).workers
    assert workers is not None and workers.procs == []
    assert pool_runner.api is not None and pool_runner.api.healthy()
    assert Journal.load(d / "journal.jsonl").attempts  # killed mid-way, in a worker's run


@pytest.mark.parallel  # reads the conformance bench, starts its own pool (conftest)
@ONE_POOL
def test_pool_schema_break_matches_default_and_runs_on_the_workers(
    pool_runner: PrefectRunner,
    schema_break_default: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    default_dir, default = schema_break_default
    with assert_loopback_only_throughout():  # server, PostgreSQL, workers, flow runs
        d = run_scenario(
            default_dir / "scenario.yaml", "prefect", out_root=tmp_path, runner=pool_runner
        )
    pool = json.loads((d / "run.json").read_text())
    assert pool["status"] == "completed", pool["reason"]
    assert pool["profile"] == "pool"
    assert pool["recovery_plan"] == default["recovery_plan"]
    assert {k: pool["metrics"][k] for k in OUTCOME} == {k: default["metrics"][k] for k in OUTCOME}
    assert (pool["metrics"]["alert_s"] is None) == (default["metrics"]["alert_s"] is None)

    # Every flow run of the run (2 days and the re-run) came from the deployment and was
    # executed by one of the pool's workers, not in this process or a plain subprocess.
    api, workers = pool_runner.api, pool_stack(pool_runner).workers
    assert api is not None and workers is not None
    flow_runs = api.post(
        "flow_runs/filter", {"flow_runs": {"tags": {"all_": [native.run_tag(pool["run_id"])]}}}
    )
    assert len(flow_runs) == 3
    assert {f["work_pool_name"] for f in flow_runs} == {POOL}
    assert {f["deployment_id"] for f in flow_runs} == {pool_stack(pool_runner).deployment_id}
    assert all(f["infrastructure_pid"] for f in flow_runs)
    trace = read_trace(d / "native.jsonl")
    ran_by = {r["run"]: r["worker"] for r in trace if r["kind"] == "run_state"}
    assert set(ran_by) == {f["id"] for f in flow_runs}
    assert set(ran_by.values()) <= set(workers.names)
    # the journal's attempts ran in the workers' flow-run processes, not in the harness
    pids = {a.pid for a in Journal.load(d / "journal.jsonl").attempts}
    assert os.getpid() not in pids and not pids & {p.pid for p in workers.procs}

    settings = json.loads((d / "env.json").read_text())["settings"]
    assert settings["work_pool"] == {"name": POOL, "type": "process"}
    assert settings["workers"]["count"] == 2 and settings["workers"]["limit"] == 1
    assert settings["server"]["postgresql_version"].startswith("15")
    assert settings["server"]["fsync"] is False
    journal = Journal.load(d / "journal.jsonl")
    assert journal.operator_actions[0]["command"].startswith("prefect deployment run")


def test_pool_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    """``orchbench run --profile pool`` interrupted while a worker runs a flow: the CLI
    exits 130 and no process of its stack (PostgreSQL, server, workers, flow runs) is
    left, nor a run directory."""
    # The cluster's directory is made under TMPDIR; the postgres user must traverse it.
    tmpdir = Path(tempfile.mkdtemp(prefix="orchbench-test-"))
    tmpdir.chmod(0o711)
    out = tmp_path / "runs"
    cmd = [str(REPO / ".venv" / "bin" / "orchbench"), "run", str(SCENARIOS / "clean.yaml")]
    cmd += ["--runner", "prefect", "--profile", "pool", "--out", str(out)]
    try:
        proc = subprocess.Popen(
            cmd,
            env={**os.environ, "TMPDIR": str(tmpdir)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=sigint_default,
        )
        interrupt_after_a_step(proc, out, str(tmpdir), str(out))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    res = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parallel  # reads the conformance bench, starts its own pool (conftest)
def test_pool_on_a_remote_server_the_harness_neither_starts_nor_stops(
    schema_break_default: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--prefect-api-url`` with profile ``pool``: a server started here in a process of
    its own plays the user's server; the user's side (pool, ``prefect deploy`` of the
    exported ``prefect.yaml``, a worker) is done as ``WORKERS.md`` says. The harness runs
    ``schema_break`` there with the default profile's outcome, and leaves the server as it
    found it."""
    home = tmp_path / "remote_home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ORCHBENCH_"))},
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    prefect = VENV.parent / "prefect"
    server = PrefectServer(prefect, home, env)
    workers = Workers(prefect, POOL, env, home / "workers", f"remote:{tmp_path}", count=1)
    try:
        api = server.start()
        env["PREFECT_API_URL"] = workers.env["PREFECT_API_URL"] = api.url
        spec, guide = PrefectRunner("pool", repo_root=REPO).export(tmp_path / "export")
        assert "at the same path" in guide.read_text()
        _cli([str(prefect), "work-pool", "create", POOL, "--type", "process"], env, REPO)
        _cli(
            [str(prefect), "--no-prompt", "deploy", "--all", "--prefect-file", str(spec)], env, REPO
        )
        workers.start(Api(api.url))
        before = server.pids()

        monkeypatch.setenv("ORCHBENCH_PREFECT_API_URL", api.url)
        default_dir, default = schema_break_default
        d = run_scenario(
            default_dir / "scenario.yaml", "prefect", profile="pool", out_root=tmp_path / "runs"
        )
        remote = json.loads((d / "run.json").read_text())
        assert remote["status"] == "completed", remote["reason"]
        assert remote["recovery_plan"] == default["recovery_plan"]
        got = {k: remote["metrics"][k] for k in OUTCOME}
        assert got == {k: default["metrics"][k] for k in OUTCOME}

        assert server.alive() and server.pids() == before  # not restarted, not stopped
        settings = json.loads((d / "env.json").read_text())["settings"]
        assert settings["server"]["managed"] is False
        assert settings["server"]["workers_online"] == workers.names
        trace = read_trace(d / "native.jsonl")
        assert {r["worker"] for r in trace if r["kind"] == "run_state"} == set(workers.names)
        assert processes_with_env(f"ORCHBENCH_RUN_ID={remote['run_id']}") == []
    finally:
        workers.stop()
        server.stop()
