"""crash: the step's process is killed (SIGKILL), optionally after growing its memory (OOM-like)."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    from orchbench.wrapper import StepCall


class CrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int | None = Field(
        None, ge=1, le=20, description="how many attempts crash (default: every attempt)"
    )
    memory_mb: int = Field(
        0, ge=0, le=1024, description="allocate (and touch) this much memory first, as an OOM does"
    )


class Crash(FaultKind):
    name = "crash"
    claim = "a crashed step is noticed and retried; nothing half-written is used downstream"
    enters = "the attempt's process is SIGKILLed before the step writes anything (OOM killer)"
    fixed_by = "the memory pressure going away (attempts after the fix run normally)"
    Params = CrashParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = CrashParams.model_validate(fault["params"])
        k = state.activate(call.world, fault["id"], p.attempts)
        if k is None:
            return
        ballast = bytearray(p.memory_mb * 1024 * 1024)
        for i in range(0, len(ballast), 4096):  # touch every page so it is really resident
            ballast[i] = 1
        call.record_fault(fault["id"], self.name, [], attempt=k, memory_mb=p.memory_mb)
        os.kill(os.getpid(), signal.SIGKILL)
