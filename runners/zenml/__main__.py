"""``python -m runners.zenml``: one ZenML pipeline run of a logical date, or a replay.

- ``run --logical-date D [--no-cache]``: ``daily_retraining(logical_date=D,
  landing_sha256=...)`` on the active stack (the default stack: local orchestrator, local
  artifact store, SQLite store under ``ZENML_CONFIG_PATH``). Exit 0 when the run
  completed, 1 when ZenML reported it failed.
- ``replay --logical-date D``: ``daily_retraining.replay(pipeline_run=ID,
  skip_successful_steps=True)`` of the date's last run (``Client().list_pipeline_runs``),
  ZenML's re-run of a failed run: its successful steps are skipped, their artifacts reused.
- ``replay --logical-date D --from STEP --no-cache``: the same run replayed with
  ``skip=<the steps before STEP>`` (ZenML's "Skipping steps") and caching off: STEP and
  what follows it re-run (what STEP reads changed outside ZenML, so a cache hit would
  serve the old result), the steps before it are reused. The landing partition's sha256
  parameter is the current one (``input_overrides``), as a new run's would be.

The source root is the orchbench checkout (``source_utils.set_custom_source_root``): no
``.zen`` repository marker is created, in the checkout or anywhere else, and a replay in
another process resolves the same ``runners.zenml.pipeline`` source.
The first line says what is submitted, the last how the run ended (``RUN_ENDED``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from orchbench.workflow.spec import STEP_NAMES

RUN_STARTED = "orchbench-zenml: submitting"
RUN_ENDED = "orchbench-zenml: pipeline run"
REPO = Path(__file__).resolve().parents[2]


def _say(message: str) -> None:
    now = dt.datetime.now().isoformat(sep=" ", timespec="milliseconds")
    print(f"{now} - {message}", flush=True)


def _setup() -> None:
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(REPO))


def _landing_sha256(logical_date: str) -> str:
    from orchbench.hashing import sha256_path
    from orchbench.world import World

    path = World.from_env().landing_partition(dt.date.fromisoformat(logical_date))
    return sha256_path(path) or "missing"


def _ended(run_id: str) -> int:
    from zenml.client import Client

    run = Client().get_pipeline_run(run_id)
    status = str(run.status.value if hasattr(run.status, "value") else run.status)
    _say(f"{RUN_ENDED} {run.id} {run.name} {status}")
    return 0 if status == "completed" else 1


def _last_run_id(name_prefix: str) -> str | None:
    from zenml.client import Client

    runs = Client().list_pipeline_runs(
        name=f"startswith:{name_prefix}", sort_by="desc:created", size=1
    )
    return str(runs.items[0].id) if runs.items else None


def _run(args: argparse.Namespace) -> int:
    _setup()
    from runners.zenml.pipeline import daily_retraining

    date = args.logical_date
    sha = _landing_sha256(date)
    name = f"daily-retraining-{date}-{{date}}-{{time}}"
    _say(f"{RUN_STARTED} logical_date={date} landing_sha256={sha} caching={not args.no_cache}")
    p = daily_retraining.with_options(run_name=name, enable_cache=not args.no_cache)
    try:
        run = p(logical_date=date, landing_sha256=sha)
    except Exception as e:  # a failed step re-raises in the client after the run failed
        _say(f"{RUN_ENDED} failed: {type(e).__name__}: {str(e)[:300]}")
        last = _last_run_id(f"daily-retraining-{date}-")
        return _ended(last) if last else 1
    return _ended(str(run.id))


def _replay(args: argparse.Namespace) -> int:
    _setup()
    from runners.zenml.pipeline import daily_retraining

    date = args.logical_date
    last = _last_run_id(f"daily-retraining-{date}-")
    if last is None:
        _say(f"{RUN_ENDED} failed: no run of {date} to replay")
        return 1
    p = daily_retraining.with_options(enable_cache=not args.no_cache)
    if args.start:
        skip = list(STEP_NAMES[: STEP_NAMES.index(args.start)])
        kw = {"skip": skip, "input_overrides": {"landing_sha256": _landing_sha256(date)}}
    else:
        kw = {"skip_successful_steps": True}
    _say(f"{RUN_STARTED} replay of {last} {kw} caching={not args.no_cache}")
    try:
        run = p.replay(pipeline_run=last, **kw)
    except Exception as e:
        _say(f"{RUN_ENDED} failed: {type(e).__name__}: {str(e)[:300]}")
        return 1
    return _ended(str(run.id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.zenml", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--logical-date", required=True)
    r.add_argument("--no-cache", action="store_true")
    p = sub.add_parser("replay")
    p.add_argument("--logical-date", required=True)
    p.add_argument("--from", dest="start", choices=STEP_NAMES, default=None)
    p.add_argument("--no-cache", action="store_true")
    args = parser.parse_args(argv)
    return {"run": _run, "replay": _replay}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
