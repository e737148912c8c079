"""Airflow's orchestration overhead per task, measured the windmill-benchmarks way.

Method (windmill-labs/windmill-benchmarks, ``competitors/2026-09``): one DAG of 40
sequential tasks each computing ``fibo(10)`` (microseconds of work); one discarded warm-up
run, then 5 measured runs; every number comes from Airflow's own timestamps (task
instances' ``queued_when``, ``start_date``, ``end_date`` from the REST API), never from a
wall clock in the harness. A run's total is the last task's end minus the first task's
queued time. This module only measures; the figures (``probe_s_per_task`` = median total
/ 40, and the medians of gap, dispatch and execution over all tasks) are computed by
``orchbench.overhead.probe_summary``. Execution is started to ended: process start, DAG
parse, the task, state writes. Checked as windmill does: every task succeeded on try 1 and
returned fibo(10)=55.

    .venv/bin/python -m runners.airflow.overhead [--profiles default,tuned] [--runs 5]

writes ``results/overhead/airflow.json``; the runner copies its profile's entry into each
run's ``env.json`` (``settings.probe_s_per_task``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orchbench.overhead import probe_summary, stamp_probe
from runners.airflow.api import AirflowAPI, q
from runners.airflow.native import to_ns
from runners.airflow.stack import PROFILES, AirflowStack, new_stack

DAG_ID = "orchbench_overhead_40"
STEPS = 40
EXPECTED = 55  # fibo(10)
REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "results" / "overhead" / "airflow.json"
SOURCE = "windmill-labs/windmill-benchmarks competitors/2026-09 (fibonacci_40_10)"


def one_run(api: AirflowAPI, timeout: float = 600.0) -> dict[str, Any]:
    """Trigger the probe DAG once, wait, and return its per-task timings (seconds)."""
    run = api.post(f"/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    rid = run["dag_run_id"]
    deadline = time.monotonic() + timeout
    while api.get(f"/dags/{DAG_ID}/dagRuns/{q(rid)}")["state"] not in ("success", "failed"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{DAG_ID} run {rid} did not finish in {timeout:.0f} s")
        time.sleep(0.5)
    base = f"/dags/{DAG_ID}/dagRuns/{q(rid)}/taskInstances"
    tis = sorted(api.paged(base, "task_instances"), key=lambda t: t["task_id"])
    if len(tis) != STEPS:
        raise AssertionError(f"expected {STEPS} task instances, got {len(tis)}")
    for t in tis:
        if t["state"] != "success" or t["try_number"] != 1:
            raise AssertionError(f"{t['task_id']}: {t['state']} on try {t['try_number']}")
        value = api.get(f"{base}/{t['task_id']}/xcomEntries/return_value")["value"]
        if int(value) != EXPECTED:
            raise AssertionError(f"{t['task_id']} returned {value!r}, expected {EXPECTED}")
    queued = [to_ns(t["queued_when"]) or 0 for t in tis]
    started = [to_ns(t["start_date"]) or 0 for t in tis]
    ended = [to_ns(t["end_date"]) or 0 for t in tis]
    t0 = queued[0]
    for i in range(1, STEPS):  # sequential, as the DAG says (windmill's validation)
        if started[i] < ended[i - 1]:
            raise AssertionError(f"task {i} started before task {i - 1} ended")
    return {
        "dag_run_id": rid,
        "total_s": (max(ended) - t0) / 1e9,
        "queued_s": [(v - t0) / 1e9 for v in queued],
        "started_s": [(v - t0) / 1e9 for v in started],
        "completed_s": [(v - t0) / 1e9 for v in ended],
    }


def measure(stack: AirflowStack, runs: int = 5, warmup: int = 1) -> dict[str, Any]:
    api = stack.api()
    stack.wait_dag(DAG_ID, time.monotonic() + 120)
    for _ in range(warmup):
        one_run(api)
    measured = [one_run(api) for _ in range(runs)]
    return {
        **probe_summary(measured, STEPS),
        "profile": stack.profile,
        "profile_settings": PROFILES[stack.profile],
        "method": (
            f"{SOURCE}: {STEPS} sequential fibo(10) tasks, {warmup} warm-up + {runs} runs, "
            "Airflow's own task-instance timestamps; probe_s_per_task = median total / tasks"
        ),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(),
        "raw": measured,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.airflow.overhead", description=__doc__)
    ap.add_argument("--profiles", default="default,tuned")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    venv = REPO / ".venvs" / "airflow"
    if not (venv / "bin" / "airflow").is_file():
        print(f"error: {venv} is missing: run `make setup`", file=sys.stderr)
        return 2
    from orchbench.rundir import write_json
    from runners.airflow.adapter import AirflowRunner

    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for profile in args.profiles.split(","):
        with tempfile.TemporaryDirectory(prefix="orchbench-airflow-overhead-") as tmp:
            stack = new_stack(Path(tmp) / "airflow", profile, venv)
            try:
                stack.start()
                res = measure(stack, args.runs, args.warmup)
            finally:
                stack.kill()
        results[profile] = stamp_probe(res, AirflowRunner(profile, REPO))
        print(
            f"{profile}: probe {res['probe_s_per_task'] * 1000:.0f} ms/task "
            f"(median total {res['median_total_s']} s, gap {res['median_gap_s']} s)",
            file=sys.stderr,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, results)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
