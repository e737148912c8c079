"""scheduler_crash: the orchestrator's scheduler/server process is killed mid-run."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import runner_faults, state
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    from orchbench.contracts import StepCall


class SchedulerCrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restart_after_s: float = Field(
        2.0, ge=0, le=120, description="seconds until a supervisor restarts the scheduler"
    )


class SchedulerCrash(FaultKind):
    """Fires once, when the first attempt of step ``at`` on the fault's day starts: journals
    the activation (``killed``: the registered processes), then SIGKILLs them. The runner
    restarts them after ``restart_after_s`` (``runner_faults.crashes``)."""

    name = "scheduler_crash"
    expects = "the system survives its scheduler/server being killed mid-run"
    enters = "the scheduler/server processes the runner registered are SIGKILLed as the step starts"
    fixed_by = "a supervisor restarting the scheduler after restart_after_s"
    Params = SchedulerCrashParams
    runner_level = True

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = SchedulerCrashParams.model_validate(fault["params"])
        if state.activate(call.world, fault["id"], 1) is None:
            return
        targets = [
            {"name": n, "pid": pid}
            for n, pids in runner_faults.registered(call.world).items()
            for pid in pids
            if pid != os.getpid() and _alive(pid)
        ]
        call.record_fault(
            fault["id"], self.name, [], killed=targets, restart_after_s=p.restart_after_s
        )
        runner_faults.kill_registered(call.world, fault["id"], p.restart_after_s)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
