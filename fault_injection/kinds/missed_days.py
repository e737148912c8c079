"""missed_days: the scheduler is down for N days; the system must backfill when it returns."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fault_injection.base import FaultKind


class MissedDaysParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(1, ge=1, le=30, description="logical dates the scheduler is down for")


class MissedDays(FaultKind):
    """Runner-level: the runner skips the down dates (``runner_faults.outage_dates``) and
    journals the activation when the first skipped schedule would have fired. The step
    hooks do nothing."""

    name = "missed_days"
    expects = "backfills: every missed logical date is produced once the scheduler is back"
    enters = "the scheduler is down from the fault's day for N days: no schedule fires"
    fixed_by = (
        "the scheduler coming back; the system catches up (catchup/backfill) or an operator re-runs"
    )
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = MissedDaysParams
    runner_level = True

    def check(self, at: str, day: int, days: int, params: BaseModel) -> str | None:
        n = MissedDaysParams.model_validate(params.model_dump()).days
        if day + n - 1 > days:
            return f"{n} missed day(s) from day {day} go past the last day ({days})"
        return None
