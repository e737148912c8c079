"""Orchestration overhead probe: windmill-benchmarks' two shapes, one DAG each.

``orchbench_overhead_40x_fibo10``: 40 sequential tasks each computing ``fibo(10)``
(microseconds), so a run's duration is almost all Airflow: scheduling, dispatch, process
start, state writes. ``orchbench_overhead_10x_fibo33``: 10 sequential tasks each computing
``fibo(33)`` (about a second). ``SHAPES`` is ``orchbench.overhead.SHAPES`` written out (this
file is loaded standalone by Airflow; a unit test keeps the two equal).
``runners/airflow/overhead.py`` triggers them and reads Airflow's own timestamps. Not part
of the benchmarked pipeline.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import dag, task

# shape name: (tasks, fibo n); the DAG of a shape is orchbench_overhead_<shape name>
SHAPES = {"40x_fibo10": (40, 10), "10x_fibo33": (10, 33)}


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


def overhead_dag(shape: str, steps: int, fibo_n: int) -> None:
    @dag(
        dag_id=f"orchbench_overhead_{shape}",
        schedule=None,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        tags=["orchbench", "overhead"],
    )
    def overhead() -> None:
        previous = None
        for i in range(steps):

            @task(task_id=f"task_{i:02d}")
            def compute() -> int:
                return fibo(fibo_n)

            current = compute()
            if previous is not None:
                previous >> current
            previous = current

    overhead()


for _name, (_steps, _n) in SHAPES.items():
    overhead_dag(_name, _steps, _n)
