"""Orchestration overhead probe: 40 sequential trivial tasks (windmill-benchmarks' shape).

Each task computes ``fibo(10)`` (microseconds), so a run's duration is almost all Airflow:
scheduling, dispatch, process start, state writes. ``runners/airflow/overhead.py`` triggers
it and reads Airflow's own timestamps. Not part of the benchmarked pipeline.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

STEPS = 40
FIBO_N = 10


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


@dag(
    dag_id=f"orchbench_overhead_{STEPS}",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["orchbench", "overhead"],
)
def overhead() -> None:
    previous = None
    for i in range(STEPS):

        @task(task_id=f"task_{i:02d}")
        def compute() -> int:
            return fibo(FIBO_N)

        current = compute()
        if previous is not None:
            previous >> current
        previous = current


overhead()
