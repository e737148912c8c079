"""scheduler_crash: the orchestrator's scheduler/server process is killed mid-run."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import runner_faults, state
from fault_injection.base import FaultKind
from orchbench import journal as jr
from orchbench.runner import SchedulerFault

if TYPE_CHECKING:
    from orchbench.contracts import StepCall
    from orchbench.runner import RunContext, Runner


class SchedulerCrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restart_after_s: float = Field(
        2.0, ge=0, le=120, description="seconds until a supervisor restarts the scheduler"
    )


class KilledScheduler(SchedulerFault):
    """The base runner's side: registers what the runner says its scheduler is; on each
    crash record of this fault, has the adapter stop what went down with it, waits
    ``restart_after_s`` on the scheduler's clock, restarts it and registers it again."""

    hooks = ("scheduler_processes", "restart_scheduler")

    handled = 0  # crash records of this fault already restarted

    def start(self, runner: Runner, ctx: RunContext) -> None:
        self.handled = len(self._crashes(ctx))
        self.scheduler_changed(runner, ctx)

    def scheduler_changed(self, runner: Runner, ctx: RunContext) -> None:
        for name, pids in runner.scheduler_processes(ctx).items():
            runner_faults.register_scheduler(ctx.world, name, pids)

    def watch(self, runner: Runner, ctx: RunContext) -> None:
        for crash in self._crashes(ctx)[self.handled :]:
            self.handled += 1
            runner.scheduler_killed(ctx, crash)
            delay = float(crash.get("restart_after_s") or 0.0)
            runner.sleep(delay)
            if runner.restart_scheduler(ctx, crash) is False:
                continue  # nothing of the scheduler was running (between two dates)
            # the supervisor is ours: harness help, never the system's own recovery
            jr.harness_assist(
                ctx.journal,
                "scheduler_restarted",
                "restarted the killed "
                + (", ".join(sorted({k["name"] for k in crash.get("killed") or []})) or "scheduler")
                + f" {delay:g} s after the crash",
                fault_id=self.fault_id,
                restart_after_s=delay,
                by="orchbench harness, as a supervisor (systemd, k8s) would",
            )
            self.scheduler_changed(runner, ctx)

    def _crashes(self, ctx: RunContext) -> list[dict[str, Any]]:
        return [c for c in runner_faults.crashes(ctx.world) if c.get("fault_id") == self.fault_id]


class SchedulerCrash(FaultKind):
    """Fires once, when the first attempt of step ``at`` on the fault's day starts: journals
    the activation (``killed``: the registered processes), then SIGKILLs them. The runner
    restarts them after ``restart_after_s`` (``runner_faults.crashes``)."""

    name = "scheduler_crash"
    expects = "the system survives its scheduler/server being killed mid-run"
    enters = "the scheduler/server processes the runner registered are SIGKILLed as the step starts"
    fixed_by = "a supervisor restarting the scheduler after restart_after_s"
    Params = SchedulerCrashParams
    scheduler = KilledScheduler
    system_scheduled = True

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
