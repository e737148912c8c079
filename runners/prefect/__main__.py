"""``python -m runners.prefect --logical-date D [--refresh-from STEP] [--tag T]``: one flow run.

``--declare`` prints the flow's ``declared`` trace record (JSON) instead.
``--deploy NAME --pool POOL`` registers the flow as deployment ``daily-retraining/NAME`` on
the process work pool ``POOL`` (``flow.from_source`` on this checkout, module entrypoint)
and prints its id (JSON).

``--serve NAME`` serves the flow as deployment ``daily-retraining/NAME`` in this process
(``flow.serve``: polls the server and runs the deployment's flow runs in supervised
subprocesses; runs until killed), with the schedule of the run's day clock when there is
one (``clock.py``: Prefect's scheduler then fires the dates). The deployment's version is
the git revision of the world's code repository (``orchbench.workflow.repo.revision``).

Without those, one bare flow run for one date (profile ``script``: nothing supervises the
process). The flow is imported from ``runners.prefect.flow`` (not run as ``__main__``), so
the classes in persisted results keep their importable names.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from prefect import tags

from orchbench.workflow.repo import revision
from orchbench.workflow.spec import STEP_NAMES
from orchbench.world import ENV_WORLD
from runners.prefect import clock
from runners.prefect.flow import daily_retraining


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.prefect", description=__doc__)
    parser.add_argument("--logical-date", type=dt.date.fromisoformat)
    parser.add_argument(
        "--declare", action="store_true", help="print what the flow declares (JSON) and exit"
    )
    parser.add_argument(
        "--refresh-from",
        choices=STEP_NAMES,
        default=None,
        help="refresh the cache of this step and every step after it",
    )
    parser.add_argument("--tag", action="append", default=[], help="tag the flow run")
    parser.add_argument("--deploy", metavar="NAME", help="register a deployment and exit")
    parser.add_argument("--pool", help="the work pool of --deploy")
    parser.add_argument("--version", help="the deployment version of --deploy")
    parser.add_argument("--serve", metavar="NAME", help="serve the flow as a deployment")
    args = parser.parse_args(argv)
    if args.serve:
        # the deployment's version: the git revision of the team's code repository, as
        # Prefect's own git version inference does (it needs a remote URL ours lacks).
        # With the run's day clock (system-scheduled mode) the deployment has its schedule
        # and the run's tags; without it, no schedule: the adapter creates each date's run.
        day_clock = clock.read()
        version = revision(os.environ.get(ENV_WORLD))
        if day_clock is None:
            daily_retraining.serve(
                name=args.serve,
                version=version,
                pause_on_shutdown=False,
                print_starting_message=False,
            )
            return 0
        from prefect import serve
        from prefect.schedules import RRule

        # prefect.serve (Flow.serve's runner, with its prefetch window compressed with
        # the day: clock.prefetch_s)
        deployment = daily_retraining.to_deployment(
            name=args.serve,
            version=version,
            schedules=[RRule(clock.schedule(day_clock), timezone="UTC")],
            tags=day_clock["tags"],
            # one date at a time, catch-up runs included: the days share the registry
            # and serving slots (Airflow's max_active_runs=1); later runs are enqueued
            concurrency_limit=1,
        )
        serve(
            deployment,
            pause_on_shutdown=False,
            print_starting_message=False,
            prefetch_seconds=clock.prefetch_s(day_clock),
        )
        return 0
    if args.deploy:
        if not args.pool:
            parser.error("--deploy needs --pool")
        from runners.prefect.deploy import deploy

        dep_id = deploy(args.deploy, args.pool, version=args.version)
        print(json.dumps({"deployment_id": str(dep_id)}), flush=True)
        return 0
    if args.declare:
        from runners.prefect.declared import declared

        print(json.dumps(declared()), flush=True)
        return 0
    if args.logical_date is None:
        parser.error("--logical-date is required")
    with tags(*args.tag):
        state = daily_retraining(
            logical_date=args.logical_date, refresh_from=args.refresh_from, return_state=True
        )
    print(f"flow run {state.name}: {state.message}", flush=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
