"""Orchestration overhead probe: ``tasks`` sequential tasks each computing ``fibo(fibo_n)``.

windmill-benchmarks' two shapes are two parameter sets of this one flow (``tasks``,
``fibo_n``; ``orchbench.overhead.SHAPES``): 40 x ``fibo(10)`` (microseconds each, so a
run's duration is almost all Prefect: creating the task run, proposing its states, the
transaction, persisting its result) and 10 x ``fibo(33)`` (about a second each).
``runners/prefect/overhead.py`` starts it the way each profile runs a flow, with the
shape's parameters and the shape's name in the flow run's name, and reads Prefect's own
records. Not part of the benchmarked pipeline. Runs in ``.venvs/prefect``.

The flow is windmill's Prefect flow (``@task fibo_task``, called in a loop in a ``@flow``)
with two additions, so the records can be checked: the task takes its index ``i`` and its
runs are named ``task_00``, ``task_01``, ... (``task_run_name``: their order is read from
Prefect, not inferred from timestamps); and its return value is persisted as JSON
(``persist_result``: Prefect 3 keeps a task's value only if it is persisted, and the probe
checks that every task returned ``fibo(fibo_n)``). The cache policy is Prefect 3's default
(inputs, task source, flow run): with the index as input no call is a cache hit of another,
and Prefect writes the result under that key (with ``NO_CACHE`` it records a storage key
but writes no file). Windmill's Prefect 2.14 had neither persistence nor a default cache.

    python -m runners.prefect.overhead_flow --tasks N --fibo-n N [--name NAME] [--tag T]
                                                            # one bare flow run (script)
    python -m runners.prefect.overhead_flow --serve NAME   # flow.serve (default, tuned)
    python -m runners.prefect.overhead_flow --deploy NAME --pool POOL   # pool's deployment
"""

from __future__ import annotations

import argparse
import json
import sys

from prefect import flow, tags, task

FLOW_NAME = "orchbench-overhead"
ENTRYPOINT = "runners.prefect.overhead_flow.overhead_probe"


def fibo(n: int) -> int:
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


@task(task_run_name="task_{i:02d}", persist_result=True, result_serializer="json")
def fibo_task(i: int, n: int) -> int:
    return fibo(n)


@flow(name=FLOW_NAME, log_prints=False)
def overhead_probe(tasks: int, fibo_n: int) -> None:
    for i in range(tasks):
        fibo_task(i, fibo_n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m runners.prefect.overhead_flow", description=__doc__
    )
    ap.add_argument("--tag", action="append", default=[], help="tag the flow run")
    ap.add_argument("--tasks", type=int, help="the script run's task count")
    ap.add_argument("--fibo-n", type=int, help="the script run's fibo n")
    ap.add_argument("--name", help="the script run's flow run name")
    ap.add_argument("--serve", metavar="NAME", help="serve the flow as a deployment")
    ap.add_argument("--deploy", metavar="NAME", help="deploy the flow on --pool and exit")
    ap.add_argument("--pool", help="the work pool of --deploy")
    args = ap.parse_args(argv)
    # the flow as its module defines it, not as __main__ (as runners.prefect serves the
    # daily flow): what the serve process hands its flow-run subprocesses is importable
    from runners.prefect.overhead_flow import overhead_probe as probe

    if args.serve:
        probe.serve(name=args.serve, pause_on_shutdown=False, print_starting_message=False)
        return 0
    if args.deploy:
        if not args.pool:
            ap.error("--deploy needs --pool")
        from runners.prefect.deploy import deploy

        dep_id = deploy(
            args.deploy, args.pool, entrypoint=ENTRYPOINT, description="orchbench overhead probe"
        )
        print(json.dumps({"deployment_id": str(dep_id)}), flush=True)
        return 0
    if args.tasks is None or args.fibo_n is None:
        ap.error("a script run needs --tasks and --fibo-n")
    run = probe.with_options(flow_run_name=args.name) if args.name else probe
    with tags(*args.tag):
        state = run(args.tasks, args.fibo_n, return_state=True)
    print(json.dumps({"flow_run_id": str(state.state_details.flow_run_id)}), flush=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
