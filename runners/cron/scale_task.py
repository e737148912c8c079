"""cron-hardened's scale step program (``scale.HardenedCronScale``): ``orchbench.scale``'s
synthetic task behind ``lib.sh``'s ``run_step``.

``run_step`` starts its step program as ``$PIPELINE_PYTHON -m $STEP_MODULE NAME --date D
--native try=N`` (``STEP_MODULE``, as the overhead probe sets it); this is that program.
The item is the step's number (``task_007``: 7) or, for the one-step job of the
concurrent and backfill shapes (``task``), the date's distance from ``FIRST_DATE``. The
journal, engine and point come from the crontab's variables (``orchbench.scale.task_env``).
"""

from __future__ import annotations

import datetime as dt
import sys

from orchbench.scale import FIRST_DATE, run_task_from_env

STEP = "task"  # the one step of a job that runs one task per date


def item_of(name: str, logical_date: str) -> int:
    """``task_NNN`` -> NNN; ``task`` -> days from ``FIRST_DATE`` to ``logical_date``."""
    if name == STEP:
        return (dt.date.fromisoformat(logical_date) - FIRST_DATE).days
    prefix, _, number = name.rpartition("_")
    if prefix != STEP or not number.isdigit():
        raise ValueError(f"not a scale step: {name!r}")
    return int(number)


def main(argv: list[str]) -> int:
    name = argv[0]
    date = argv[argv.index("--date") + 1]
    rec = run_task_from_env(item_of(name, date), date)
    print(f"{name} {date}: item {rec['item']} done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
