"""Orchestration overhead probe: windmill-benchmarks' two shapes, one job each.

The code location ``runners/dagster/overhead.py`` starts ``dagster dev`` with instead of
the benchmarked pipeline (``definitions.py``). Per shape of ``SHAPES``
(``orchbench.overhead.SHAPES`` written out: this file is loaded in ``.venvs/dagster``; a
unit test keeps the two equal), one job ``orchbench_overhead_<shape>`` of ``tasks`` ops
named ``task_00``, ``task_01``, ... (invocations of one op computing ``fibo(n)`` and
returning it, aliased), op ``i`` after op ``i - 1`` through a ``Nothing`` input (an
ordering dependency that passes no data, as Airflow's ``>>`` does; Dagster's op graphs:
https://docs.dagster.io/guides/build/graphs, ``dagster.Nothing``). So
``orchbench_overhead_40x_fibo10`` is 40 x ``fibo(10)`` (microseconds each) and
``orchbench_overhead_10x_fibo33`` 10 x ``fibo(33)`` (about a second each). Each return
value is stored by the job's default IO manager (a pickle under the instance's storage
directory), where the probe reads it back. The executor is the profile's
(``definitions.EXECUTOR``, passed as ``ORCHBENCH_DAGSTER_EXECUTOR``): multiprocess (one
process per op) or in-process. Not part of the benchmarked pipeline.
"""

import os

from dagster import (
    Definitions,
    In,
    JobDefinition,
    Nothing,
    OpDefinition,
    in_process_executor,
    job,
    op,
)

# shape name: (tasks, fibo n); the job of a shape is JOB_PREFIX + shape name
SHAPES = {"40x_fibo10": (40, 10), "10x_fibo33": (10, 33)}
JOB_PREFIX = "orchbench_overhead_"
ENV_EXECUTOR = "ORCHBENCH_DAGSTER_EXECUTOR"  # multiprocess (Dagster's default) or in_process


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


def op_name(i: int) -> str:
    return f"task_{i:02d}"


def _fibo_op(n: int) -> OpDefinition:
    @op(name=f"fibo_{n}", ins={"after": In(Nothing)})
    def compute() -> int:
        return fibo(n)

    return compute


def _executor() -> str:
    executor = os.environ.get(ENV_EXECUTOR, "multiprocess")
    if executor not in ("multiprocess", "in_process"):
        raise ValueError(f"{ENV_EXECUTOR}={executor!r}: multiprocess or in_process")
    return executor


def _job(shape: str, tasks: int, n: int) -> JobDefinition:
    compute = _fibo_op(n)

    @job(
        name=JOB_PREFIX + shape,
        # None: the Definitions' default executor, multiprocess
        executor_def=in_process_executor if _executor() == "in_process" else None,
        tags={"orchbench/probe": "overhead", "orchbench/shape": shape},
    )
    def overhead() -> None:
        previous = None
        for i in range(tasks):
            step = compute.alias(op_name(i))
            previous = step() if previous is None else step(after=previous)

    return overhead


defs = Definitions(jobs=[_job(name, tasks, n) for name, (tasks, n) in SHAPES.items()])
