"""The scale jobs (``orchbench scale``; ``runners/dagster/scale.py`` drives them): the code
location the scale engine's ``dagster dev`` serves instead of the benchmarked pipeline.

Loaded in ``.venvs/dagster`` only (imports Dagster). Op jobs, as Dagster's docs write a
runtime fan-out and a partitioned job of ops:

- ``orchbench_scale_fanout``: ``items`` yields one ``DynamicOutput`` per item (``DynamicOut``;
  ``n`` and the logical date from its op config), ``scale_task`` is mapped over them
  (``.map``) and ``done`` takes the collected results (``.collect()``): one run, N parallel
  op invocations, each its own step (https://docs.dagster.io/api/dynamic,
  https://docs.dagster.io/guides/build/ops/dynamic-graphs).
- ``orchbench_scale_daily``: one op, ``daily_task``, in a job with daily partitions
  (``DailyPartitionsDefinition`` from ``FIRST_DATE``), run for a partition (tag
  ``dagster/partition``, what the UI's launch of a partition and a backfill's runs carry)
  and journaling the partition's date
  (https://docs.dagster.io/guides/build/partitions-and-backfills/partitioning-ops).

Both jobs run on the executor of the runner's profile, chosen by the pipeline's own rule
(``definitions.py``): ``ORCHBENCH_DAGSTER_PROFILE`` (default ``default``; the engine sets
it as the adapter's ``run_env`` does) picks ``definitions.EXECUTOR[profile]``, read from
that file (not imported: it builds the pipeline): ``multiprocess`` keeps the default
executor of a ``Definitions`` object (one process per step; default, production),
``in_process`` sets ``in_process_executor`` (every step in the run worker; tuned). Every
task is the synthetic ``orchbench.scale`` task (``run_task``); the journal, engine and
point come from the run's tags (``TAG_*``), which a launch and a backfill both set on
every run, as the Airflow scale DAGs read them from the run's conf.

    python -m runners.dagster.scale_job limits '<the fan-out run config, JSON>'

prints, as JSON, the limits the engine's parallelism comes from, read from Dagster as the
runs get them (with ``DAGSTER_HOME`` and the environment of ``dagster dev``): the fan-out
job's executor built from the run config the engine launches it with, as the run worker
builds it (``create_executor``), and the instance's run coordinator and run queue (with
its storage and run monitoring interval, for the point's settings).
"""

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from dagster import (
    Config,
    DailyPartitionsDefinition,
    Definitions,
    DynamicOut,
    DynamicOutput,
    OpExecutionContext,
    in_process_executor,
    job,
    op,
)

from orchbench.card import source_literal

FIRST_DATE = "2026-01-01"  # orchbench.scale.FIRST_DATE
FANOUT_JOB = "orchbench_scale_fanout"
DAILY_JOB = "orchbench_scale_daily"
# the run tags every task reads its journal, engine and point from; TAG_SAMPLE marks the
# runs of one sample (the engine finds them by it)
TAG_JOURNAL = "orchbench/scale-journal"
TAG_ENGINE = "orchbench/scale-engine"
TAG_POINT = "orchbench/scale-point"
TAG_SAMPLE = "orchbench/scale-sample"
# the pipeline's profile rule (its variable and each profile's executor), read from it
DEFINITIONS_FILE = Path(__file__).resolve().with_name("definitions.py")
ENV_PROFILE: str = source_literal(DEFINITIONS_FILE, "ENV_PROFILE")
EXECUTOR: dict[str, str] = source_literal(DEFINITIONS_FILE, "EXECUTOR")


def _profile() -> str:
    """The runner's profile, as ``definitions._profile`` reads it."""
    profile = os.environ.get(ENV_PROFILE, "default")
    if profile not in EXECUTOR:
        raise ValueError(f"{ENV_PROFILE}={profile!r}: not one of {sorted(EXECUTOR)}")
    return profile


PROFILE = _profile()
# None: the Definitions' default executor, multiprocess (as definitions.daily)
EXECUTOR_DEF = in_process_executor if EXECUTOR[PROFILE] == "in_process" else None


def _task(context: OpExecutionContext, item: int, logical_date: str) -> None:
    from orchbench.scale import run_task

    tags = context.run.tags
    run_task(
        tags[TAG_JOURNAL],
        engine=tags[TAG_ENGINE],
        point=tags[TAG_POINT],
        item=item,
        logical_date=logical_date,
    )


class FanoutConfig(Config):
    n: int
    logical_date: str = FIRST_DATE


@op(out=DynamicOut(int))
def items(config: FanoutConfig) -> Any:
    for i in range(config.n):
        yield DynamicOutput(i, mapping_key=str(i))


@op
def scale_task(context: OpExecutionContext, config: FanoutConfig, item: int) -> int:
    _task(context, item, config.logical_date)
    return item


@op
def done(results: list[int]) -> int:
    return len(results)


@job(name=FANOUT_JOB, tags={"orchbench/scale": "fanout"}, executor_def=EXECUTOR_DEF)
def scale_fanout() -> None:
    done(items().map(scale_task).collect())


DAILY = DailyPartitionsDefinition(start_date=FIRST_DATE)


@op
def daily_task(context: OpExecutionContext) -> None:
    date = context.partition_key
    item = (dt.date.fromisoformat(date) - dt.date.fromisoformat(FIRST_DATE)).days
    _task(context, item, date)


@job(
    name=DAILY_JOB,
    partitions_def=DAILY,
    tags={"orchbench/scale": "daily"},
    executor_def=EXECUTOR_DEF,
)
def scale_daily() -> None:
    daily_task()


defs = Definitions(jobs=[scale_fanout, scale_daily])


def limits(fanout_run_config: dict[str, Any]) -> dict[str, Any]:
    """What limits the scale shapes' parallelism, read from Dagster in this environment;
    the fan-out job's executor as a run with ``fanout_run_config`` gets it."""
    import multiprocessing

    from dagster import DagsterInstance
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.executor.init import InitExecutorContext
    from dagster._core.system_config.objects import ResolvedRunConfig
    from dagster._daemon.controller import DEFAULT_DAEMON_INTERVAL_SECONDS

    fanout = defs.get_job_def(FANOUT_JOB)
    resolved = ResolvedRunConfig.build(fanout, fanout_run_config)
    engine_config = resolved.execution.execution_engine_config
    out: dict[str, Any] = {
        "profile": PROFILE,
        "executor.definition": fanout.executor_def.name,
        "executor.config": engine_config,
        "cpu_count": multiprocessing.cpu_count(),
        "env.DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT": os.getenv(
            "DAGSTER_MULTIPROCESS_EXECUTOR_MAX_CONCURRENT"
        ),
        "backfill_daemon.interval_s": DEFAULT_DAEMON_INTERVAL_SECONDS,
    }
    with DagsterInstance.get() as instance:
        # as ``create_executor`` (dagster/_core/execution/context_creation_job.py) builds it
        # in the run worker
        creation = fanout.executor_def.executor_creation_fn
        assert creation is not None
        executor = creation(
            InitExecutorContext(
                job=InMemoryJob(fanout),
                executor_def=fanout.executor_def,
                executor_config=engine_config,
                instance=instance,
            )
        )
        out["executor"] = type(executor).__name__
        out["executor.max_concurrent"] = getattr(executor, "_max_concurrent", None)
        out["executor.tag_concurrency_limits"] = getattr(executor, "_tag_concurrency_limits", [])
        coordinator = instance.run_coordinator
        out["run_coordinator"] = type(coordinator).__name__
        out["run_launcher"] = type(instance.run_launcher).__name__
        queue = instance.get_concurrency_config().run_queue_config
        out["run_queue.max_concurrent_runs"] = None if queue is None else queue.max_concurrent_runs
        out["run_queue.tag_concurrency_limits"] = (
            [] if queue is None else [dict(t) for t in queue.tag_concurrency_limits or []]
        )
        out["run_queue.dequeue_interval_s"] = getattr(coordinator, "dequeue_interval_seconds", None)
        out["run_monitoring.enabled"] = instance.run_monitoring_enabled
        out["run_monitoring.poll_interval_s"] = instance.run_monitoring_poll_interval_seconds
        out["storage.runs"] = type(instance.run_storage).__name__
        out["storage.event_log"] = type(instance.event_log_storage).__name__
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "limits":
        print("usage: python -m runners.dagster.scale_job limits RUN_CONFIG_JSON", file=sys.stderr)
        return 2
    print(json.dumps(limits(json.loads(args[1])), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
