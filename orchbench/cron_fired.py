"""What a system with no scheduler of its own shares when cron fires its dates
(their ``fired_by`` is cron: kfp.local, Metaflow's local runtime, ZenML's local orchestrator).

One crontab entry at ``CRON_AT`` on an ``orchbench.crond`` daemon per date, started
``CRON_LEAD_IN_S`` fake seconds before the entry's minute on a x``CRON_SPEED``
libfaketime clock (that lead-in is the run's ``CRON_LEAD_IN`` compressed wait). A missed
day is a host that is down: no daemon runs, and ``CronFiredHost`` notes it in the
runner's daemon log (``cron_log``), as the host's own log would show it.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from orchbench.runner import HARNESS, RunContext

CRON_AT = dt.time(2, 0)  # the crontab entry: "0 2 * * *"
CRON_ENTRY = f"{CRON_AT.minute} {CRON_AT.hour} * * *"
CRON_SPEED = 60.0
CRON_LEAD_IN_S = 30.0
CRON_LEAD_IN = "the cron daemon's lead-in before the crontab entry's minute (libfaketime clock)"


class CronFiredHost:
    """The scheduler hooks of ``missed_days`` for a cron-fired system (put before
    ``Runner`` in the bases). Between two dates no daemon runs (one per day), so the
    outage has nothing to kill; the down dates get no daemon, and nobody submits them
    later: cron has no catch-up and the system no scheduler."""

    cron_log: ClassVar[str]  # the daemon log's file name under the run's logs

    def stop_scheduler(self, ctx: RunContext) -> None:
        self._cron_note(ctx, "the host is down: no cron daemon runs until it is back")

    def start_scheduler(self, ctx: RunContext) -> None:
        self._cron_note(ctx, "the host is back: cron runs again from the next date")

    def scheduler_down(self, ctx: RunContext, date: dt.date) -> None:
        if self.fired_by(ctx) != HARNESS:  # type: ignore[attr-defined]
            self._cron_note(ctx, f"day {date}: the host is down, no cron daemon runs")

    def _cron_note(self, ctx: RunContext, text: str) -> None:
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / self.cron_log).open("a") as f:
            f.write(f"# orchbench: {text}\n")
