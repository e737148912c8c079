"""missed_days: the scheduler is down for N days; the system must backfill when it returns."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import runner_faults
from fault_injection.base import FaultKind
from orchbench import journal as jr
from orchbench.runner import HARNESS, SCHEDULER_STARTED, SCHEDULER_STOPPED, SchedulerFault

if TYPE_CHECKING:
    from orchbench.runner import RunContext, Runner
    from orchbench.scenario import FaultSpec, Scenario


class MissedDaysParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(1, ge=1, le=30, description="logical dates the scheduler is down for")


class SchedulerDown(SchedulerFault):
    """The base runner's day loop fires none of the fault's dates; the activation is
    journaled as the first of them would have fired. When a scheduler fires the dates
    (``Runner.fired_by`` is not the harness), its processes are stopped then
    (``Runner.stop_scheduler``, harness event ``scheduler_stopped``) and started again as
    the first date after the outage is about to fire (``start_scheduler``,
    ``scheduler_started``): the outage and the host coming back, the same for every
    system, never harness help. The scenario check keeps one date after every outage."""

    def __init__(self, fault_id: str, spec: FaultSpec, scenario: Scenario) -> None:
        super().__init__(fault_id, spec, scenario)
        outage = next(o for o in runner_faults.outages(scenario) if o.fault_id == fault_id)
        self.dates = outage.dates

    def fires(self, runner: Runner, ctx: RunContext, date: dt.date) -> bool:
        scheduled = runner.fired_by(ctx) != HARNESS
        if self.dates and date == self.dates[0]:
            runner_faults.record_activation(
                ctx.journal,
                self.fault_id,
                "missed_days",
                date,
                run_id=ctx.run_id,
                dates=[d.isoformat() for d in self.dates],
            )
            if scheduled:
                runner.stop_scheduler(ctx)
                jr.harness_event(ctx.journal, SCHEDULER_STOPPED, fault_id=self.fault_id)
        if self.dates and date == self.dates[-1] + dt.timedelta(days=1) and scheduled:
            runner.start_scheduler(ctx)
            jr.harness_event(ctx.journal, SCHEDULER_STARTED, fault_id=self.fault_id)
        return date not in self.dates


class MissedDays(FaultKind):
    """Runner-level: the base runner skips the down dates (``SchedulerDown``) and journals
    the activation when the first skipped schedule would have fired. No step hooks."""

    name = "missed_days"
    expects = "backfills: every missed logical date is produced once the scheduler is back"
    enters = "the scheduler is down from the fault's day for N days: no schedule fires"
    fixed_by = (
        "the scheduler coming back; the system catches up (catchup/backfill) or an operator re-runs"
    )
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = MissedDaysParams
    scheduler = SchedulerDown
    step_hooks = False
    system_scheduled = True

    def check(self, at: str, day: int, days: int, params: BaseModel) -> str | None:
        n = MissedDaysParams.model_validate(params.model_dump()).days
        if day + n - 1 >= days:
            return (
                f"{n} missed day(s) from day {day} leave no day of the {days} after the "
                "outage: the scheduler must be back for at least the last day"
            )
        return None
