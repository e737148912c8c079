"""Orchestration overhead probe: 40 sequential trivial ops (windmill-benchmarks' shape).

The code location ``runners/dagster/overhead.py`` starts ``dagster dev`` with instead of
the benchmarked pipeline (``definitions.py``). One job of 40 ops, each computing
``fibo(10)`` (microseconds) and returning it; op ``i`` runs after op ``i - 1`` through a
``Nothing`` input (an ordering dependency that passes no data, as Airflow's ``>>`` does;
Dagster's op graphs: https://docs.dagster.io/guides/build/graphs, ``dagster.Nothing``).
Each return value is stored by the job's default IO manager (a pickle under the instance's
storage directory), where the probe reads it back. The executor is the profile's
(``definitions.EXECUTOR``, passed as ``ORCHBENCH_DAGSTER_EXECUTOR``): multiprocess (one
process per op) or in-process. Not part of the benchmarked pipeline.
"""

import os

from dagster import Definitions, In, Nothing, OpDefinition, in_process_executor, job, op

STEPS = 40
FIBO_N = 10
JOB = "orchbench_overhead_40"
ENV_EXECUTOR = "ORCHBENCH_DAGSTER_EXECUTOR"  # multiprocess (Dagster's default) or in_process


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


def op_name(i: int) -> str:
    return f"task_{i:02d}"


def _op(i: int) -> OpDefinition:
    @op(name=op_name(i), ins={"after": In(Nothing)})
    def compute() -> int:
        return fibo(FIBO_N)

    return compute


def _executor() -> str:
    executor = os.environ.get(ENV_EXECUTOR, "multiprocess")
    if executor not in ("multiprocess", "in_process"):
        raise ValueError(f"{ENV_EXECUTOR}={executor!r}: multiprocess or in_process")
    return executor


OPS = [_op(i) for i in range(STEPS)]


@job(
    name=JOB,
    # None: the Definitions' default executor, multiprocess
    executor_def=in_process_executor if _executor() == "in_process" else None,
    tags={"orchbench/probe": "overhead"},
)
def overhead() -> None:
    previous = None
    for compute in OPS:
        previous = compute() if previous is None else compute(after=previous)


defs = Definitions(jobs=[overhead])
