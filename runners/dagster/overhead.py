"""Dagster's orchestration overhead per task, measured the windmill-benchmarks way.

Method (as ``runners/airflow/overhead.py``): per shape of ``orchbench.overhead.SHAPES`` (40
sequential ``fibo(10)`` ops; 10 sequential ``fibo(33)`` ops), one job of the probe's code
location (``overhead_job.py``: ``orchbench_overhead_<shape>``); one discarded warm-up run,
then 5 measured runs, per profile, each profile deployed once for both shapes, as its
scenario runs deploy it (``dagster dev`` with the
profile's ``dagster.yaml``, ``services.py``; production's PostgreSQL cluster, the
runner's ``start``; the profile's executor, ``definitions.EXECUTOR``), with the probe's
code location instead of the pipeline's. Runs are launched over GraphQL (the daemon's run
queue dequeues them, as the scenario runs'); every time comes from Dagster's own event
log (each event's timestamp, read back with Dagster's Python API in ``.venvs/dagster``:
``native.probe_runs``), never from a wall clock here. Per op:

- queued: ``STEP_WORKER_STARTING``, the multiprocess executor in the run worker hands the
  op to a new process ("Launching subprocess"); the in-process executor starts no process
  and records no hand-off, so there queued = started (dispatch 0 by definition);
- started: ``STEP_START``, the op's own process (or the run worker) begins the op;
- completed: ``STEP_SUCCESS``, after the op returned and the IO manager stored its value.

So dispatch (queued to started) is the op's process start: a new interpreter (``spawn``),
importing Dagster, loading the code location, its ``STEP_WORKER_STARTED`` and
``STEP_START`` writes. Execution (started to completed) is the op, its output's type
check, the IO manager's pickle write and the event writes. The gap (one op's completion to
the next one's queueing) is the step process's exit and the executor's loop noticing it.
A run's total is the last op's completion minus the first op's queueing: the run's launch
(queue, dequeue, run worker start) is outside it, as in Airflow's probe; its events are
kept in ``raw`` (``run_events_s``). Checked as windmill does: the run succeeded, every op
succeeded on its first try (no retry or failure event), returned the shape's ``fibo(n)``
(the value its IO manager stored), and op ``i`` started after op ``i - 1`` completed.
Figures: ``orchbench.overhead.probe_summary``.

    .venv/bin/python -m runners.dagster.overhead [--profiles default,tuned,production]

writes ``results/overhead/dagster.json`` (``orchbench.overhead.probe_main``).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchbench.card import source_literal
from orchbench.overhead import Shape, probe_main, shape_entry
from runners.dagster.graphql import TERMINAL, Api
from runners.dagster.services import START_TIMEOUT_S, DagsterDev, clean_env

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "results" / "overhead" / "dagster.json"
DEFINITIONS_FILE = REPO / "runners" / "dagster" / "definitions.py"
# the probe's code location, and its own constants (read, not imported: it imports Dagster)
PROBE_MODULE = "runners.dagster.overhead_job"
PROBE_FILE = REPO / "runners" / "dagster" / "overhead_job.py"
# shape name: (tasks, fibo n), as orchbench.overhead.SHAPES (a unit test keeps them equal)
JOB_SHAPES: dict[str, tuple[int, int]] = source_literal(PROBE_FILE, "SHAPES")
JOB_PREFIX: str = source_literal(PROBE_FILE, "JOB_PREFIX")
ENV_EXECUTOR: str = source_literal(PROBE_FILE, "ENV_EXECUTOR")
PROBED: dict[str, tuple[str, ...]] = {"dagster": ("default", "tuned", "production")}
UNMEASURED: dict[str, dict[str, str]] = {"dagster": {}}
METHOD = (
    "Dagster's own event log: queued = STEP_WORKER_STARTING (the multiprocess executor "
    "hands the op to a new process; on the in-process executor none, queued = STEP_START), "
    "started = STEP_START, completed = STEP_SUCCESS"
)
DB = "dagster_overhead"  # production: the probe's database in the runner's cluster
RUN_TIMEOUT_S = 900.0
POLL_S = 0.5

QUEUED = "STEP_WORKER_STARTING"
STARTED = "STEP_START"
COMPLETED = "STEP_SUCCESS"
NOT_FIRST_TRY = frozenset({"STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_FAILURE"})
RUN_EVENTS = ("RUN_ENQUEUED", "RUN_DEQUEUED", "RUN_STARTING", "RUN_START", "RUN_SUCCESS")


def job_name(shape: Shape) -> str:
    """The shape's job in the probe's code location."""
    return JOB_PREFIX + shape.name


def step_keys(shape: Shape) -> list[str]:
    """The shape's job's step keys, in order (``overhead_job.op_name``)."""
    return [f"task_{i:02d}" for i in range(shape.tasks)]


def task_times(
    record: dict[str, Any], steps: list[str], worker: bool, expected: Any
) -> dict[str, Any]:
    """One run's per-op timings (seconds from the first op's queueing) from its event
    records (``native.probe_runs``: ``status``, ``events`` of ``type``/``step``/``t``,
    ``values``). ``worker``: the executor starts a process per op (queued is its
    ``STEP_WORKER_STARTING``, which must be there); otherwise queued = started. Every op
    must have stored ``expected``. Raises AssertionError when a check fails (module
    docstring)."""
    rid = record.get("run_id")
    if record.get("status") != "SUCCESS":
        raise AssertionError(f"run {rid}: {record.get('status')}, not SUCCESS")
    first: dict[tuple[str, str | None], float] = {}
    for e in record["events"]:
        kind, step = e["type"], e["step"]
        if step is not None and kind in NOT_FIRST_TRY:
            raise AssertionError(f"run {rid}: {step} has {kind}: not a success on try 1")
        if step is not None and (kind, step) in first and kind in (QUEUED, STARTED, COMPLETED):
            raise AssertionError(f"run {rid}: {step} has {kind} twice")
        first.setdefault((kind, step), float(e["t"]))
    queued, started, completed = [], [], []
    for step in steps:
        s, c = first.get((STARTED, step)), first.get((COMPLETED, step))
        q = first.get((QUEUED, step)) if worker else s
        if q is None or s is None or c is None:
            raise AssertionError(f"run {rid}: {step} lacks a queued, start or success event")
        value = record["values"].get(step)
        if value != expected:
            raise AssertionError(f"run {rid}: {step} stored {value!r}, expected {expected}")
        queued.append(q)
        started.append(s)
        completed.append(c)
    for i in range(1, len(steps)):  # sequential, as the job says (windmill's validation)
        if started[i] < completed[i - 1]:
            raise AssertionError(f"run {rid}: {steps[i]} started before {steps[i - 1]} ended")
    t0 = queued[0]
    return {
        "run_id": rid,
        "total_s": max(completed) - t0,
        "queued_s": [v - t0 for v in queued],
        "started_s": [v - t0 for v in started],
        "completed_s": [v - t0 for v in completed],
        "run_events_s": {
            k: round(first[(k, None)] - t0, 4) for k in RUN_EVENTS if (k, None) in first
        },
    }


def executor_of(profile: str) -> str:
    """The profile's executor, from the pipeline's definitions file (not imported)."""
    return str(source_literal(DEFINITIONS_FILE, "EXECUTOR")[profile])


def profile_settings(profile: str) -> dict[str, Any]:
    """What the profile sets that bears on the probe (the report shows it as k=v)."""
    from runners.dagster.services import (
        DAGSTER_DEQUEUE_S,
        DAGSTER_POLL_S,
        TUNED_DEQUEUE_S,
        TUNED_POLL_S,
    )

    tuned = profile == "tuned"
    return {
        "executor": executor_of(profile),
        "storage": "postgresql (fsync off)" if profile == "production" else "sqlite",
        "dequeue_interval_s": TUNED_DEQUEUE_S if tuned else DAGSTER_DEQUEUE_S,
        "run_monitoring_poll_s": TUNED_POLL_S if tuned else DAGSTER_POLL_S,
    }


def launch_and_wait(api: Api, location: str, shape: Shape, tag: str) -> str:
    """Launch one run of the shape's job and wait until Dagster shows it ended; its id."""
    job = job_name(shape)
    run_id = api.launch(location, job, {"orchbench/probe": tag})
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = next((r for r in api.runs() if r["runId"] == run_id), None)
        if run is not None and run["status"] in TERMINAL:
            return run_id
        if time.monotonic() > deadline:
            raise TimeoutError(f"{job} run {run_id} did not end in {RUN_TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)


def read_runs(python: Path, env: dict[str, str], run_ids: list[str]) -> list[dict[str, Any]]:
    """The runs' event records, read in the system's venv (``native.probe_runs``)."""
    res = subprocess.run(
        [str(python), "-m", "runners.dagster", "probe-runs", *run_ids],
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"reading the probe's runs failed: {res.stderr[-500:]}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def measure(
    profile: str, shapes: Sequence[Shape], runs: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Deploy ``profile`` once as the runner does, run each shape's job on it, read
    Dagster's records."""
    with tempfile.TemporaryDirectory(prefix="orchbench-dagster-overhead-") as tmp:
        return _measure(profile, shapes, runs, warmup, Path(tmp))


def _measure(
    profile: str, shapes: Sequence[Shape], runs: int, warmup: int, tmp: Path
) -> dict[str, dict[str, Any]]:
    from runners.dagster.adapter import DagsterRunner

    runner = DagsterRunner(profile, REPO)
    runner.check_environment()
    runner.start(tmp)  # production: the runner's PostgreSQL cluster
    dev: DagsterDev | None = None
    try:
        db = None
        if runner.pg is not None:
            runner.pg.create_database(DB)
            db = {
                "username": runner.pg.superuser,
                "hostname": "127.0.0.1",
                "port": runner.pg.port,
                "db_name": DB,
            }
        home = tmp / "dagster_home"
        (home / "home").mkdir(parents=True, exist_ok=True)
        executor = executor_of(profile)
        env = {
            **clean_env(),
            "HOME": str(home / "home"),
            "PYTHONUNBUFFERED": "1",
            ENV_EXECUTOR: executor,
        }
        dev = DagsterDev(
            runner.python(),
            home,
            env,
            REPO,
            tmp / "dagster-dev.log",
            profile=profile,
            postgres_db=db,
            module=PROBE_MODULE,
        )
        location = dev.start(time.monotonic() + START_TIMEOUT_S)
        ids: dict[str, list[str]] = {}
        measured_at: dict[str, str] = {}
        for shape in shapes:
            for _ in range(warmup):
                launch_and_wait(dev.api, location, shape, "warmup")
            ids[shape.name] = [
                launch_and_wait(dev.api, location, shape, "measured") for _ in range(runs)
            ]
            measured_at[shape.name] = dt.datetime.now(dt.UTC).isoformat()
        dev.stop()
        every = [i for shape_ids in ids.values() for i in shape_ids]
        records = read_runs(runner.python(), {**env, "DAGSTER_HOME": str(home)}, every)
        versions = runner.versions()
    except BaseException:
        log = tmp / "dagster-dev.log"
        if log.is_file():  # the temp dir goes with the failure: show the end of its log
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if dev is not None:
            dev.stop()
        runner.stop()
    worker = executor == "multiprocess"
    by_id = {r.get("run_id"): r for r in records}
    out: dict[str, dict[str, Any]] = {}
    for shape in shapes:
        missing = [i for i in ids[shape.name] if i not in by_id]
        if missing:
            raise AssertionError(f"no event records read for runs {missing}")
        expected = shape.expected  # once: fibo(33) takes about a second
        measured = [
            task_times(by_id[i], step_keys(shape), worker, expected) for i in ids[shape.name]
        ]
        out[shape.name] = shape_entry(
            measured,
            shape,
            profile,
            profile_settings(profile),
            METHOD,
            measured_at=measured_at[shape.name],
            versions=versions,
        )
    return out


def runner_of(profile: str) -> Any:
    from runners.dagster.adapter import DagsterRunner

    return DagsterRunner(profile, REPO)


def main(argv: list[str] | None = None) -> int:
    return probe_main(
        "dagster",
        PROBED["dagster"],
        measure,
        runner_of,
        OUT,
        argv,
        doc=__doc__,
        unmeasured=UNMEASURED["dagster"],
    )


if __name__ == "__main__":
    sys.exit(main())
