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


def schedule(clock: dict[str, Any]) -> str:
    """The RRule that fires every date once: ``start + k * day_s``, k < len(dates)."""
    start = dt.datetime.fromtimestamp(clock["start"], dt.UTC)
    return (
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\n"
        f"RRULE:FREQ=SECONDLY;INTERVAL={int(clock['day_s'])};COUNT={len(clock['dates'])}"
    )
