"""System-scheduled mode: Prefect's own scheduler fires the dates; the harness watches.

The deployment's schedule (``clock.py``) makes one flow run per date, created ahead by
the server's scheduler service and started at its time by whatever serves the deployment
(the ``flow.serve()`` process, or a pool worker). The harness never creates a run here:
``await_date`` waits for the run of one date, ``await_rest`` for every run of the
scenario run still to finish (Late runs picked up after an outage included). A run's date
is its ``logical_date`` parameter or the date of its scheduled start time on the day
clock (``flow.logical_date_of``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any, Protocol

from orchbench.runner import WORLD_LEAD_S, DayClock
from runners.prefect import native
from runners.prefect.pool import TERMINAL
from runners.prefect.server import Api, ApiError

if TYPE_CHECKING:
    from orchbench.runner import RunContext


class PrefectRunner(Protocol):
    """What this module uses of the runner (``adapter.PrefectRunner``)."""

    api: Api | None

    def watch(self, ctx: RunContext, running: str | None = ...) -> None: ...


POLL_S = 0.5
# Runs a scheduler outage left Scheduled are marked Late by the server's late-runs service
# PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS (15 s as installed) after their time;
# whatever serves the deployment picks them up on its next poll (the serve process every
# 1 s here, a worker every 10 s as installed). ``await_rest`` waits that long, plus two
# days, for a run still not started after the last date before giving up on it.
LATE_AFTER_S = 15.0
NOT_STARTED = frozenset({"SCHEDULED", "PENDING"})


def runs(r: PrefectRunner, ctx: RunContext) -> list[dict[str, Any]] | None:
    """The scenario run's flow runs (its tag), or None when the API does not answer."""
    api = r.api
    if api is None:
        return None
    try:
        return api.post(
            "flow_runs/filter",
            {
                "flow_runs": {"tags": {"all_": [native.run_tag(ctx.run_id)]}},
                "sort": "EXPECTED_START_TIME_ASC",
                "limit": 200,
            },
        )
    except (OSError, ApiError, ValueError):
        return None


def date_of(run: dict[str, Any], clock: DayClock) -> dt.date | None:
    """The date a flow run stands for (its parameter, else its scheduled start time)."""
    given = (run.get("parameters") or {}).get("logical_date")
    if given:
        return dt.date.fromisoformat(str(given))
    expected = native.ts_ns(run.get("expected_start_time"))
    return clock.date_at(expected / 1e9) if expected is not None else None


def state_of(run: dict[str, Any]) -> str:
    return str((run.get("state") or {}).get("type"))


def await_date(r: PrefectRunner, ctx: RunContext, date: dt.date) -> None:
    """Wait for the flow run Prefect's scheduler fired for ``date`` to finish, or until
    the next date is due (the end of the last date's interval for the last), whatever its
    state: the world moves on time; a run not finished then is awaited by a later date
    or by ``await_rest``."""
    clock = ctx.clock
    assert clock is not None
    k = clock.dates.index(date)
    give_up = clock.start + (k + 1) * clock.day_s - WORLD_LEAD_S
    while True:
        found = runs(r, ctx)
        mine = [f for f in found or [] if date_of(f, clock) == date]
        if mine and all(state_of(f) in TERMINAL for f in mine):
            return
        if time.time() >= give_up:
            return
        r.watch(ctx, f"flow run for {date}")
        time.sleep(POLL_S)


def await_rest(r: PrefectRunner, ctx: RunContext) -> None:
    """After the last date: wait until no flow run of the scenario run is queued or
    running. A run that has not started ``LATE_AFTER_S`` + 2 days after the last date's
    interval ended is left as Prefect has it; a running one is awaited (the deadline)."""
    clock = ctx.clock
    assert clock is not None
    bound = max(time.time(), clock.end) + LATE_AFTER_S + 2 * clock.day_s
    while True:
        found = runs(r, ctx)
        if found is not None:
            active = [f for f in found if state_of(f) not in TERMINAL]
            if not active:
                return
            if all(state_of(f) in NOT_STARTED for f in active) and time.time() > bound:
                return
        r.watch(ctx, "the scheduled flow runs")
        time.sleep(POLL_S)
