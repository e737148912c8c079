"""crash: the step's process is killed (SIGKILL) after growing its memory, as an OOM kill does.

Where the step runs under a memory limit smaller than the ballast (a container whose
runner enforces the limit its pipeline declares), the kernel's OOM killer ends it while it
grows: a real OOM kill, which the container system reports (Docker's ``oom`` event). Where
nothing limits it, the step SIGKILLs itself once the ballast is resident. The activation
is journaled first either way, with the limit the step saw (``memory_limit_bytes``).
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind
from orchbench.containers.inside import memory_limit_bytes

if TYPE_CHECKING:
    from orchbench.contracts import StepCall


class CrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempts: int | None = Field(
        None, ge=1, le=20, description="how many attempts crash (default: every attempt)"
    )
    memory_mb: int = Field(
        0,
        ge=0,
        le=4096,
        description="allocate (and touch) this much memory first: above a container's "
        "memory limit the kernel kills the step (a real OOM kill)",
    )


class Crash(FaultKind):
    name = "crash"
    expects = "a crashed step is noticed and retried; nothing half-written is used downstream"
    enters = (
        "the attempt's process is killed while growing its memory, before the step writes "
        "anything (by the kernel's OOM killer under a container limit, else by itself)"
    )
    fixed_by = "the memory pressure going away (attempts after the fix run normally)"
    Params = CrashParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = CrashParams.model_validate(fault["params"])
        k = state.activate(call.world, fault["id"], p.attempts)
        if k is None:
            return
        limit = memory_limit_bytes()
        call.record_fault(
            fault["id"], self.name, [], attempt=k, memory_mb=p.memory_mb, memory_limit_bytes=limit
        )
        ballast = bytearray(p.memory_mb * 1024 * 1024)
        for i in range(0, len(ballast), 4096):  # touch every page so it is really resident
            ballast[i] = 1
        os.kill(os.getpid(), signal.SIGKILL)  # nothing enforced a limit: the simulated OOM
