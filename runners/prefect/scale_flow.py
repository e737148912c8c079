"""The scale flows (``orchbench.scale``) as Prefect 3 flows, and their driver script.

Runs in ``.venvs/prefect`` only (imports prefect), against the server in
``PREFECT_API_URL``. Each task is the synthetic ``orchbench.scale`` task
(``run_task_from_env``); nothing is cached or retried, so every run executes:

- ``scale-fanout``: ``scale_task.map(range(items), ...)`` on the flow's default task runner
  (``ThreadPoolTaskRunner``), as Prefect users fan out over a list;
- ``scale-daily``: one ``scale_task`` for a ``logical_date``.

    python -m runners.prefect.scale_flow fanout --items N --logical-date D
    python -m runners.prefect.scale_flow daily --logical-date D [--logical-date D2 ...]
    python -m runners.prefect.scale_flow --serve NAME --flow fanout|daily
    python -m runners.prefect.scale_flow --deploy NAME --pool POOL
    python -m runners.prefect.scale_flow parallelism

``fanout`` and ``daily`` are script runs (profile ``script``); ``daily`` with several
dates is the catch-up script a Prefect user writes for missed days (one flow run per date,
oldest first, one after another, in one process). ``--serve`` serves one of the flows as
deployment ``<flow>/NAME`` with ``flow.serve()``, as ``python -m runners.prefect --serve``
serves the daily flow (profiles ``default``, ``tuned``); ``--deploy`` deploys both flows on
the process work pool ``POOL`` (``runners/prefect/deploy.py``: ``flow.from_source(...)
.deploy``, profile ``pool``) and prints the last deployment's id (JSON), as
``pool.register_deployment`` reads it. ``parallelism`` prints, as JSON, what Prefect itself
says about the limits these runs meet: the worker count a default ``ThreadPoolTaskRunner``
gets (``PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS``, unset = no limit), the process
limit ``Flow.serve`` gives its runner when called without ``limit``, and the workers'
polling settings.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

from prefect import flow, task, unmapped

FLOWS = {"fanout": "scale-fanout", "daily": "scale-daily"}  # --flow key -> flow name
ENTRYPOINTS = {
    "fanout": "runners.prefect.scale_flow.scale_fanout",
    "daily": "runners.prefect.scale_flow.scale_daily",
}


@task(name="scale-task", cache_policy=None, retries=0)
def scale_task(item: int, logical_date: str) -> None:
    from orchbench.scale import run_task_from_env

    run_task_from_env(item, logical_date)


@flow(name=FLOWS["fanout"], log_prints=False)
def scale_fanout(items: int, logical_date: str) -> None:
    scale_task.map(list(range(items)), logical_date=unmapped(logical_date)).result()


@flow(name=FLOWS["daily"], log_prints=False)
def scale_daily(logical_date: str) -> None:
    scale_task(0, logical_date)


def thread_pool_workers() -> dict[str, int | None]:
    """What a flow's default task runner is configured with (``None``: no limit)."""
    from prefect.settings import get_current_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    configured = get_current_settings().tasks.runner.thread_pool_max_workers
    effective = ThreadPoolTaskRunner()._max_workers  # sys.maxsize when nothing is set
    return {"setting": configured, "max_workers": None if effective >= sys.maxsize else effective}


def limits() -> dict[str, Any]:
    """``thread_pool_workers`` and what Prefect says about the serve runner's and the
    workers' limits and polling, in this process's environment."""
    from prefect import Flow
    from prefect.settings import get_current_settings

    s = get_current_settings()
    return {
        **thread_pool_workers(),
        # Flow.serve(limit=...) when not given: Runner(limit=None), no process limit
        "serve_limit_default": inspect.signature(Flow.serve).parameters["limit"].default,
        "runner_process_limit": s.runner.process_limit,  # only for Runner(limit=NotSet)
        "runner_poll_frequency": s.runner.poll_frequency,
        "worker_query_seconds": s.worker.query_seconds,
        "worker_prefetch_seconds": s.worker.prefetch_seconds,
    }


def serve(name: str, key: str) -> None:
    """Serve one flow as deployment ``<flow>/name``, with the arguments the runner's serve
    process gives ``daily_retraining.serve`` (no ``limit``, no schedule)."""
    from runners.prefect import scale_flow as mod  # importable, not __main__'s

    flows = {"fanout": mod.scale_fanout, "daily": mod.scale_daily}
    flows[key].serve(name=name, pause_on_shutdown=False, print_starting_message=False)


def deploy_all(name: str, pool: str) -> dict[str, str]:
    """Both flows as deployments ``<flow>/name`` on ``pool``; their ids by flow key."""
    from runners.prefect.deploy import deploy

    return {
        key: str(deploy(name, pool, entrypoint=ep, description=f"orchbench scale {FLOWS[key]}"))
        for key, ep in ENTRYPOINTS.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.prefect.scale_flow", description=__doc__)
    ap.add_argument("--serve", metavar="NAME", help="serve --flow as deployment <flow>/NAME")
    ap.add_argument("--flow", choices=sorted(FLOWS), help="the flow --serve serves")
    ap.add_argument("--deploy", metavar="NAME", help="deploy both flows on --pool and exit")
    ap.add_argument("--pool", help="the work pool of --deploy")
    sub = ap.add_subparsers(dest="cmd")
    f = sub.add_parser("fanout")
    f.add_argument("--items", type=int, required=True)
    f.add_argument("--logical-date", required=True)
    d = sub.add_parser("daily")
    d.add_argument("--logical-date", action="append", required=True, dest="dates")
    sub.add_parser("parallelism")
    args = ap.parse_args(argv)
    if args.serve:
        if not args.flow:
            ap.error("--serve needs --flow")
        serve(args.serve, args.flow)
        return 0
    if args.deploy:
        if not args.pool:
            ap.error("--deploy needs --pool")
        ids = deploy_all(args.deploy, args.pool)
        print(json.dumps({"deployment_id": ids["daily"], "deployments": ids}), flush=True)
        return 0
    if args.cmd is None:
        ap.error("a command (fanout, daily, parallelism), --serve or --deploy is required")
    if args.cmd == "parallelism":
        print(json.dumps(limits()))
        return 0
    from runners.prefect import scale_flow as mod  # the flows as the served ones are named

    if args.cmd == "fanout":
        mod.scale_fanout(args.items, args.logical_date)
    else:
        for date in args.dates:
            mod.scale_daily(date)
    print("scale flow SUCCESS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
