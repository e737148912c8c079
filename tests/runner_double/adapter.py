"""A runner of *our* contract for harness tests: runs the steps in process, in order.

It fakes no orchestrator: it is the harness's own test double (like the oracle, with a
native trace of what it did), used to test run directories, statuses and recovery flow.
Its name, system and profiles are its declaration's (``plugin.py``).
"""

from __future__ import annotations

import datetime as dt
import time
from importlib.metadata import version
from typing import Any, ClassVar

from orchbench import trace
from orchbench.contracts import RecoveryPlan
from orchbench.runner import RunContext, Runner, RunTimeout
from orchbench.workflow.paths import dated_paths, step_paths
from orchbench.workflow.spec import STEPS, downstream_from
from orchbench.wrapper import run_step

from .plugin import PLUGINS

SOURCE = "inprocess"  # the trace's source of its attempts


class InProcessRunner(Runner):
    name: ClassVar[str] = PLUGINS[0].name
    system: ClassVar[str] = PLUGINS[0].system
    profiles: ClassVar[tuple[str, ...]] = PLUGINS[0].profiles
    description: ClassVar[str] = PLUGINS[0].description
    aborted: ClassVar[int] = 0

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.seen: list[dict[str, Any]] = []

    def versions(self) -> dict[str, str]:
        return {"orchbench": version("orchbench")}

    def _day(self, ctx: RunContext, day: str, steps: tuple[str, ...]) -> None:
        paths = dated_paths(ctx.work / "artifacts" / self.name, day)
        for step in STEPS:
            if step.name not in steps:
                continue
            t0 = time.time_ns()
            try:
                run_step(
                    step.name,
                    day,
                    *step_paths(step.name, paths),
                    world=ctx.world,
                    journal=ctx.journal,
                    run_id=ctx.run_id,
                    runner=self.name,
                )
                state = "success"
            except Exception:
                state = "failed"
            self.seen.append(
                trace.task_attempt(
                    logical_date=day,
                    step=step.name,
                    state=state,
                    source=SOURCE,
                    start_ns=t0,
                    end_ns=time.time_ns(),
                    run=f"{ctx.run_id}-{day}",
                )
            )
            if state == "failed":
                return  # dependency management: nothing downstream runs

    def start(self, matrix_dir) -> None:
        if self.profile == "nostart":
            raise OSError("port already in use")

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        if self.profile == "boom":
            raise RuntimeError("the adapter broke")
        if self.profile == "interrupt":
            raise KeyboardInterrupt
        if self.profile == "slow" and ctx.remaining() < 1e9:
            raise RunTimeout("deadline passed")
        self._day(ctx, date.isoformat(), tuple(s.name for s in STEPS))

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        for day, first in plan.restart_from.items():
            ctx.operator(f"rerun {day} from {first}")
            self._day(ctx, day, downstream_from(first))

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        return self.seen

    def abort(self) -> None:
        type(self).aborted += 1
