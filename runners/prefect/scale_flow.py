"""The scale flows (``orchbench.scale``) as Prefect 3 flows, and their driver script.

Runs in ``.venvs/prefect`` only (imports prefect), against the server in
``PREFECT_API_URL``. Each task is the synthetic ``orchbench.scale`` task
(``run_task_from_env``); nothing is cached or retried, so every run executes:

- ``scale-fanout``: ``scale_task.map(range(items), ...)`` on the flow's default task runner
  (``ThreadPoolTaskRunner``), as Prefect users fan out over a list;
- ``scale-daily``: one ``scale_task`` for a ``logical_date``.

    python -m runners.prefect.scale_flow fanout --items N --logical-date D
    python -m runners.prefect.scale_flow daily --logical-date D [--logical-date D2 ...]
    python -m runners.prefect.scale_flow parallelism

``daily`` with several dates is the catch-up script a Prefect user writes for missed days
(one flow run per date, oldest first, one after another, in one process); ``parallelism``
prints, as JSON, the worker count a default ``ThreadPoolTaskRunner`` gets (read from
Prefect itself: ``PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS``, unset = no limit).
"""

from __future__ import annotations

import argparse
import json
import sys

from prefect import flow, task, unmapped


@task(name="scale-task", cache_policy=None, retries=0)
def scale_task(item: int, logical_date: str) -> None:
    from orchbench.scale import run_task_from_env

    run_task_from_env(item, logical_date)


@flow(name="scale-fanout", log_prints=False)
def scale_fanout(items: int, logical_date: str) -> None:
    scale_task.map(list(range(items)), logical_date=unmapped(logical_date)).result()


@flow(name="scale-daily", log_prints=False)
def scale_daily(logical_date: str) -> None:
    scale_task(0, logical_date)


def thread_pool_workers() -> dict[str, int | None]:
    """What a flow's default task runner is configured with (``None``: no limit)."""
    from prefect.settings import get_current_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    configured = get_current_settings().tasks.runner.thread_pool_max_workers
    effective = ThreadPoolTaskRunner()._max_workers  # sys.maxsize when nothing is set
    return {"setting": configured, "max_workers": None if effective >= sys.maxsize else effective}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.prefect.scale_flow", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fanout")
    f.add_argument("--items", type=int, required=True)
    f.add_argument("--logical-date", required=True)
    d = sub.add_parser("daily")
    d.add_argument("--logical-date", action="append", required=True, dest="dates")
    sub.add_parser("parallelism")
    args = ap.parse_args(argv)
    if args.cmd == "parallelism":
        print(json.dumps(thread_pool_workers()))
        return 0
    if args.cmd == "fanout":
        scale_fanout(args.items, args.logical_date)
    else:
        for date in args.dates:
            scale_daily(date)
    print("scale flow SUCCESS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
