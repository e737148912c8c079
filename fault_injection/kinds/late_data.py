"""late_data: the day's partition is not there when the schedule fires; it lands later."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import runner_faults, state
from fault_injection.base import FaultKind
from orchbench import journal as jr
from orchbench.runner import SchedulerFault

if TYPE_CHECKING:
    from orchbench.runner import RunContext, Runner
    from orchbench.scenario import FaultSpec, Scenario
    from orchbench.world import World

# harness event: the withheld partition landed (``fault_id``, ``logical_date``, ``partition``)
DATA_LANDED = "data_landed"


class LateDataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay_s: float = Field(
        5.0, ge=0, le=600, description="real seconds after the date's schedule fired"
    )


class LateLanding(SchedulerFault):
    """The world, moved by the day loop: as the fault's date is about to fire, its landing
    partition is withheld (moved aside; ``fault_activated``); ``delay_s`` real seconds
    later the first poll of the adapter's waiting loops (``watch``) lands it (moved back;
    harness event ``data_landed``). No step hook: a system that waits for the file (a
    sensor, a wait loop) sees it land as one that retries ingest does."""

    def __init__(self, fault_id: str, spec: FaultSpec, scenario: Scenario) -> None:
        super().__init__(fault_id, spec, scenario)
        self.date = scenario.date_of_day(spec.day)
        self.delay_s = LateDataParams.model_validate(spec.params).delay_s
        self.due: float | None = None  # epoch seconds the partition lands at

    def fires(self, runner: Runner, ctx: RunContext, date: dt.date) -> bool:
        if date != self.date:
            return True
        path = ctx.world.landing_partition(date)
        backup = state.backup_dir(ctx.world, self.fault_id) / path.name
        with state.locked(ctx.world) as st:
            f = next(f for f in st["faults"] if f["id"] == self.fault_id)
            if f["fixed"] or f.get("withheld_ns") or not path.is_file():
                return True
            backup.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, backup)
            f["withheld_ns"] = time.time_ns()
            f["backups"][str(path)] = str(backup)
            state.count_activation(f)
        runner_faults.record_activation(
            ctx.journal,
            self.fault_id,
            LateData.name,
            date,
            run_id=ctx.run_id,
            delay_s=self.delay_s,
            withheld=str(path),
        )
        self.due = time.time() + self.delay_s
        return True

    def watch(self, runner: Runner, ctx: RunContext) -> None:
        if self.due is None or time.time() < self.due:
            return
        self.due = None
        with state.locked(ctx.world) as st:
            f = next(f for f in st["faults"] if f["id"] == self.fault_id)
            for target, backup in f.get("backups", {}).items():
                if Path(backup).is_file() and not Path(target).exists():
                    os.replace(backup, target)
                    f["landed_ns"] = time.time_ns()
                    jr.harness_event(
                        ctx.journal,
                        DATA_LANDED,
                        fault_id=self.fault_id,
                        logical_date=self.date.isoformat(),
                        partition=target,
                    )


class LateData(FaultKind):
    """Runner-level: the day loop withholds the date's partition as the date is about to
    fire and lands it ``delay_s`` later (``LateLanding``), or at the fix. Moves happen
    under the fault-state lock. Scenarios with it run system-scheduled: the systems'
    own schedulers fire the date, and each waits for the partition its users' way."""

    name = "late_data"
    expects = "a late partition is retried/waited for instead of running on nothing or stale data"
    enters = "the landing partition arrives delay_s seconds after the schedule fired"
    fixed_by = "the partition landing (it is moved into place)"
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = LateDataParams
    scheduler = LateLanding
    step_hooks = False
    system_scheduled = True

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        for target, backup in fault.get("backups", {}).items():
            if Path(backup).is_file() and not Path(target).exists():
                os.replace(backup, target)
