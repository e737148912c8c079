"""The scenario run's day clock as the flow and the schedule see it (system-scheduled mode).

When Prefect's own scheduler fires the dates, the deployment has one schedule: an RRule
firing every ``day_s`` seconds from ``start``, ``COUNT`` = the number of dates
(``schedule``). A scheduled flow run has no ``logical_date`` parameter: it stands for the
date of its own scheduled start time (``expected_start_time``, what
``prefect.runtime.flow_run.scheduled_start_time`` returns), interval ``k`` being
``dates[k]`` (``date_at``), as a Prefect user derives a run's data interval from it. The
harness writes the clock as JSON to the file ``ENV_CLOCK`` names (in every flow-run
environment); the serve process reads the schedule and the deployment's tags from it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

ENV_CLOCK = "ORCHBENCH_PREFECT_CLOCK"
# What serves the deployment (the serve runner, a worker) submits a run this long before
# its scheduled time as installed (the runner's prefetch_seconds, a worker's
# PREFECT_WORKER_PREFETCH_SECONDS: 10 s of a 86 400 s day): the run is Pending from then,
# and if its process dies before it starts (the host goes down), no poll picks it up again
# (they pick up Scheduled runs only). On a compressed day the window is compressed with
# it, else an outage that begins as a date is about to fire would always catch that date
# inside the window, which a production day almost never does.
PREFETCH_S = 10.0
PRODUCTION_DAY_S = 86_400.0


def path_in(work: Path) -> Path:
    """Where a scenario run's day clock is: beside its world (``RunContext.work``)."""
    return work / "prefect" / "clock.json"


def write(path: Path, start: float, day_s: float, dates: list[str], tags: list[str]) -> None:
    """The clock file; ``start`` rounded up to a whole second (an RRule's DTSTART has
    seconds), so a date fires at most 1 s after the harness's ``DayClock`` says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"start": math.ceil(start), "day_s": day_s, "dates": dates, "tags": tags}
    path.write_text(json.dumps(body))


def read(path: str | Path | None = None) -> dict[str, Any] | None:
    """The clock (``path``, else the file ``ENV_CLOCK`` names); None when there is none
    (the harness fires the dates: every run has its ``logical_date`` parameter)."""
    path = path or os.environ.get(ENV_CLOCK)
    if not path or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text())


def date_at(clock: dict[str, Any], t: float) -> str | None:
    """The date (ISO) whose interval begins at epoch second ``t`` (to the nearest one)."""
    k = round((t - clock["start"]) / clock["day_s"])
    dates = clock["dates"]
    return dates[k] if 0 <= k < len(dates) else None


def prefetch_s(clock: dict[str, Any]) -> float:
    """The prefetch window compressed with the day (``PREFETCH_S`` per production day)."""
    return PREFETCH_S * clock["day_s"] / PRODUCTION_DAY_S


def schedule(clock: dict[str, Any]) -> str:
    """The RRule that fires every date once: ``start + k * day_s``, k < len(dates)."""
    start = dt.datetime.fromtimestamp(clock["start"], dt.UTC)
    return (
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\n"
        f"RRULE:FREQ=SECONDLY;INTERVAL={int(clock['day_s'])};COUNT={len(clock['dates'])}"
    )
