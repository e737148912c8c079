"""The scale pipelines (``orchbench.scale``) as ZenML pipelines, and their driver script.

Runs in ``.venvs/zenml`` only (imports zenml), one process per submission, on the
store the scale engine gives it (``ZENML_CONFIG_PATH``: the SQLite store and local
artifact store; on profile ``server`` also ``ZENML_STORE_URL``, the local server's;
``runners/zenml/scale.py``). Every task is the synthetic ``orchbench.scale``
task, run in-process by the step (``run_task_from_env``). **Caching is off** on both
pipelines (``enable_cache=False``, ZenML's documented switch,
https://docs.zenml.io/concepts/steps_and_pipelines/advanced_features.md "Caching"): with
ZenML's default a repeated date (``--repeat``, the warm-up) would be served from the
cache and its task would not run.

- ``scale_fanout``: a dynamic pipeline (``@pipeline(dynamic=True)``) as ZenML's docs
  write a map/reduce (https://docs.zenml.io/how-to/steps-pipelines/dynamic_pipelines,
  "Map/Reduce over collections"): ``fan_out(items)`` returns the list of items,
  ``scale_task.map(item=work, logical_date=unmapped(date))`` fans out one step per item
  (``unmapped``: the date is passed whole, not split character by character), and
  ``join`` takes the list of their outputs;
- ``scale_daily``: an ordinary (static) pipeline of one ``scale_task`` for a
  ``logical_date`` (backfill and concurrent runs).

    python -m runners.zenml.scale_pipeline fanout --items N --logical-date D
    python -m runners.zenml.scale_pipeline daily D [D ...]   # one run per date, in order
    python -m runners.zenml.scale_pipeline warm              # one daily run, one 1-item fan-out
    python -m runners.zenml.scale_pipeline workers           # JSON: the thread pools

``daily`` with several dates is a user's catch-up script: ``for date in dates:
scale_daily(logical_date=date)``, one run after another in one process. ``workers``
prints what the installed ZenML says about the thread pool a dynamic pipeline's
concurrent steps run on (``DynamicPipelineRunner.__init__``'s source and the
``ZENML_DYNAMIC_PIPELINE_WORKER_COUNT`` variable) and the default of a server's
``thread_pool_size``; the engine reads the numbers from it.
Exit 0 when every run completed, 1 when one failed (the rest are not started).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import sys
from pathlib import Path

from zenml import pipeline, step, unmapped

REPO = Path(__file__).resolve().parents[2]
WARM_DATE = "2025-12-31"  # the warm-up's date, before every point's (orchbench.scale.FIRST_DATE)
RUN_ENDED = "orchbench-zenml-scale: pipeline run"


@step
def fan_out(items: int) -> list[int]:
    """The step whose output the fan-out maps over: one item per task."""
    return list(range(items))


@step
def scale_task(item: int, logical_date: str) -> int:
    """One synthetic task (sleeps ``orchbench.scale.TASK_S`` and journals it)."""
    from orchbench.scale import run_task_from_env

    run_task_from_env(int(item), str(logical_date))
    return item


@step
def join(done: list[int]) -> int:
    """The reduce: how many tasks ended."""
    return len(done)


@pipeline(dynamic=True, enable_cache=False)
def scale_fanout(items: int, logical_date: str) -> None:
    work = fan_out(items)
    done = scale_task.map(item=work, logical_date=unmapped(logical_date))
    join(done)


@pipeline(enable_cache=False)
def scale_daily(logical_date: str) -> None:
    scale_task(item=0, logical_date=logical_date)


def _say(message: str) -> None:
    now = dt.datetime.now().isoformat(sep=" ", timespec="milliseconds")
    print(f"{now} - {message}", flush=True)


def _status(run_id: object) -> str:
    from zenml.client import Client

    run = Client().get_pipeline_run(str(run_id))
    return str(run.status.value if hasattr(run.status, "value") else run.status)


def _one(label: str, call: object) -> bool:
    """One pipeline run (``call()``); whether ZenML says it completed."""
    try:
        run = call()  # type: ignore[operator]
    except Exception as e:  # a failed step re-raises in the client after the run failed
        _say(f"{RUN_ENDED} {label} failed: {type(e).__name__}: {str(e)[:300]}")
        return False
    status = _status(run.id)
    _say(f"{RUN_ENDED} {label} {run.id} {run.name} {status}")
    return status == "completed"


def run_daily(dates: list[str]) -> int:
    for date in dates:
        if not _one(f"scale_daily {date}", lambda d=date: scale_daily(logical_date=d)):
            return 1
    return 0


def run_fanout(items: int, date: str) -> int:
    ok = _one(f"scale_fanout {items} {date}", lambda: scale_fanout(items=items, logical_date=date))
    return 0 if ok else 1


def workers() -> dict[str, object]:
    """What the installed ZenML says about the dynamic runner's thread pool, and the
    default size of a ZenML server's request thread pool (profile ``server``)."""
    from zenml.config.server_config import ServerConfiguration
    from zenml.constants import ENV_ZENML_DYNAMIC_PIPELINE_WORKER_COUNT
    from zenml.execution.pipeline.dynamic.runner import DynamicPipelineRunner

    return {
        "init_source": inspect.getsource(DynamicPipelineRunner.__init__),
        "module": DynamicPipelineRunner.__module__,
        "env_var": ENV_ZENML_DYNAMIC_PIPELINE_WORKER_COUNT,
        "env": os.environ.get(ENV_ZENML_DYNAMIC_PIPELINE_WORKER_COUNT),
        "server_thread_pool_size": ServerConfiguration.model_fields["thread_pool_size"].default,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.zenml.scale_pipeline", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fanout")
    f.add_argument("--items", type=int, required=True)
    f.add_argument("--logical-date", required=True)
    d = sub.add_parser("daily")
    d.add_argument("dates", nargs="+")
    sub.add_parser("warm")
    sub.add_parser("workers")
    args = ap.parse_args(argv)
    if args.cmd == "workers":
        print(json.dumps(workers()), flush=True)
        return 0
    from zenml.utils import source_utils

    # as runners.zenml's run: the checkout is the source root, no .zen marker anywhere
    source_utils.set_custom_source_root(str(REPO))
    # the pipelines as this module defines them, not as __main__: their source resolves
    from runners.zenml import scale_pipeline as mod

    if args.cmd == "fanout":
        return mod.run_fanout(args.items, args.logical_date)
    if args.cmd == "daily":
        return mod.run_daily(list(args.dates))
    return mod.run_daily([WARM_DATE]) or mod.run_fanout(1, WARM_DATE)


if __name__ == "__main__":
    sys.exit(main())
