"""Airflow's orchestration overhead per task, measured the windmill-benchmarks way.

Method (windmill-labs/windmill-benchmarks, ``competitors/2026-09``): per shape of
``orchbench.overhead.SHAPES`` (40 sequential ``fibo(10)`` tasks; 10 sequential ``fibo(33)``
tasks), one DAG (``dags/orchbench_overhead.py``: ``orchbench_overhead_<shape>``); one
discarded warm-up run, then 5 measured runs; every number comes from Airflow's own
timestamps (task instances' ``queued_when``, ``start_date``, ``end_date`` from the REST
API), never from a wall clock in the harness. A run's total is the last task's end minus
the first task's queued time. Each profile's stack (``stack.py``, as the scenario runs
start it) is started once and runs both shapes. This module only measures; the figures
(``probe_s_per_task`` = median total / tasks, and the medians of gap, dispatch and
execution over all tasks) are computed by ``orchbench.overhead.probe_summary``. Execution
is started to ended: process start, DAG parse, the task, state writes. Checked as windmill
does: every task succeeded on try 1, returned ``fibo(n)`` of its shape (its XCom), and
started after the previous task ended.

    .venv/bin/python -m runners.airflow.overhead [--profiles default,tuned,celery] [--shapes ...]

writes ``results/overhead/airflow.json`` (``orchbench.overhead.probe_main``); the runner
copies its profile's short-shape entry into each run's ``env.json``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchbench.overhead import Shape, probe_main, shape_entry
from runners.airflow.api import AirflowAPI, q
from runners.airflow.native import to_ns
from runners.airflow.stack import PROFILES, new_stack

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "results" / "overhead" / "airflow.json"
DAG_FILE = Path(__file__).resolve().parent / "dags" / "orchbench_overhead.py"
PROBED: dict[str, tuple[str, ...]] = {"airflow": ("default", "tuned", "celery")}
UNMEASURED: dict[str, dict[str, str]] = {"airflow": {}}
METHOD = (
    "Airflow's own task-instance timestamps (REST API): queued = queued_when, started = "
    "start_date, completed = end_date; {executor}"
)
EXECUTORS = {
    "LocalExecutor": "LocalExecutor starts a process per task",
    "CeleryExecutor": (
        "CeleryExecutor: the scheduler sends each task to Redis, a Celery worker's pool "
        "process runs it"
    ),
}


def method(profile: str) -> str:
    """The probe's method line for ``profile`` (its executor's way of running a task)."""
    executor = PROFILES[profile].get("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    return METHOD.format(executor=EXECUTORS[executor])


def dag_id(shape: Shape) -> str:
    """The shape's probe DAG (``dags/orchbench_overhead.py``)."""
    return f"orchbench_overhead_{shape.name}"


def task_times(tis: list[dict[str, Any]], values: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """One run's per-task timings (seconds from the first task's queued time) from its
    task instances (REST records) and their XCom return values by task id, checked: the
    shape's task count, each succeeded on try 1, returned ``shape.expected`` and started
    after the previous one ended (AssertionError otherwise)."""
    tis = sorted(tis, key=lambda t: t["task_id"])
    expected = shape.expected  # computed once: fibo(33) takes about a second
    if len(tis) != shape.tasks:
        raise AssertionError(f"expected {shape.tasks} task instances, got {len(tis)}")
    for t in tis:
        if t["state"] != "success" or t["try_number"] != 1:
            raise AssertionError(f"{t['task_id']}: {t['state']} on try {t['try_number']}")
        value = values.get(t["task_id"])
        if value is None or int(value) != expected:
            raise AssertionError(f"{t['task_id']} returned {value!r}, expected {expected}")
    queued = [to_ns(t["queued_when"]) or 0 for t in tis]
    started = [to_ns(t["start_date"]) or 0 for t in tis]
    ended = [to_ns(t["end_date"]) or 0 for t in tis]
    t0 = queued[0]
    for i in range(1, shape.tasks):  # sequential, as the DAG says (windmill's validation)
        if started[i] < ended[i - 1]:
            raise AssertionError(f"task {i} started before task {i - 1} ended")
    return {
        "total_s": (max(ended) - t0) / 1e9,
        "queued_s": [(v - t0) / 1e9 for v in queued],
        "started_s": [(v - t0) / 1e9 for v in started],
        "completed_s": [(v - t0) / 1e9 for v in ended],
    }


def one_run(api: AirflowAPI, shape: Shape, timeout: float = 600.0) -> dict[str, Any]:
    """Trigger the shape's DAG once, wait, and return its checked per-task timings."""
    dag = dag_id(shape)
    rid = api.post(f"/dags/{dag}/dagRuns", {"logical_date": None})["dag_run_id"]
    deadline = time.monotonic() + timeout
    while api.get(f"/dags/{dag}/dagRuns/{q(rid)}")["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag} run {rid} did not finish in {timeout:.0f} s")
        time.sleep(0.5)
    base = f"/dags/{dag}/dagRuns/{q(rid)}/taskInstances"
    tis = list(api.paged(base, "task_instances"))
    values = {
        t["task_id"]: api.get(f"{base}/{t['task_id']}/xcomEntries/return_value")["value"]
        for t in tis
        if t["state"] == "success"
    }
    return {"dag_run_id": rid, **task_times(tis, values, shape)}


def measure(
    profile: str, shapes: Sequence[Shape], runs: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Start ``profile``'s stack once, run each shape on it, stop it."""
    venv = REPO / ".venvs" / "airflow"
    if not (venv / "bin" / "airflow").is_file():
        raise SystemExit(f"error: {venv} is missing: run `make setup`")
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="orchbench-airflow-overhead-") as tmp:
        stack = new_stack(Path(tmp) / "airflow", profile, venv)
        try:
            stack.start()
            api = stack.api()
            for shape in shapes:
                stack.wait_dag(dag_id(shape), time.monotonic() + 120)
                for _ in range(warmup):
                    one_run(api, shape)
                measured = [one_run(api, shape) for _ in range(runs)]
                out[shape.name] = shape_entry(
                    measured, shape, profile, PROFILES[profile], method(profile)
                )
        finally:
            stack.kill()
    return out


def runner_of(profile: str) -> Any:
    from runners.airflow.adapter import AirflowRunner

    return AirflowRunner(profile, REPO)


def main(argv: list[str] | None = None) -> int:
    return probe_main(
        "airflow",
        PROBED["airflow"],
        measure,
        runner_of,
        OUT,
        argv,
        doc=__doc__,
        unmeasured=UNMEASURED["airflow"],
    )


if __name__ == "__main__":
    sys.exit(main())
