"""late_data: the day's partition is not there when the schedule fires; it lands later."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    from orchbench.contracts import StepCall
    from orchbench.world import World


class LateDataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay_s: float = Field(
        5.0, ge=0, le=600, description="seconds after the first attempt saw it missing"
    )


class LateData(FaultKind):
    """The first ingest attempt of the day withholds the partition (moved aside) and journals
    the activation; ingest then fails with its own FileNotFoundError. The partition lands
    (moved back) at the first ingest attempt ``delay_s`` or more after that, or at the fix.
    Moves happen under the fault-state lock, so concurrent attempts are safe. There is no
    background process: a system that only watches the file (a sensor) sees it land at the
    fix."""

    name = "late_data"
    expects = "a late partition is retried/waited for instead of running on nothing or stale data"
    enters = "the landing partition arrives delay_s seconds after the schedule fired"
    fixed_by = "the partition landing (it is moved into place)"
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = LateDataParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        delay = LateDataParams.model_validate(fault["params"]).delay_s
        path = call.inputs["landing"]
        backup = state.backup_dir(call.world, fault["id"]) / path.name
        now = time.time_ns()
        first = False
        with state.locked(call.world) as st:
            f = next(f for f in st["faults"] if f["id"] == fault["id"])
            if f["fixed"] or f.get("landed_ns"):
                return
            if not f.get("withheld_ns"):
                if not path.is_file():
                    return
                backup.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, backup)
                f["withheld_ns"] = now
                f["backups"][str(path)] = str(backup)
                state.count_activation(f)
                first = True
            elif now >= f["withheld_ns"] + delay * 1e9:
                os.replace(backup, path)
                f["landed_ns"] = now
        if first:
            call.record_fault(fault["id"], self.name, [], delay_s=delay, withheld=str(path))

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        from pathlib import Path

        for target, backup in fault.get("backups", {}).items():
            if Path(backup).is_file() and not Path(target).exists():
                os.replace(backup, target)
