"""hang: the step never returns; only the runner's timeout (or a human) ends it."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    from orchbench.contracts import StepCall

MAX_HANG_S = 3600.0  # a safety net: a hang left alive past this raises (never in a run)


class HangParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["sleep", "block"] = Field(
        "sleep",
        description="sleep: a poll-sleep loop (interruptible between sleeps); block: wait "
        "forever on a lock in C, which a timeout that raises inside the thread cannot stop",
    )
    attempts: int | None = Field(
        None, ge=1, le=20, description="how many attempts hang (default: every attempt)"
    )


class Hang(FaultKind):
    name = "hang"
    expects = "a hung step is killed by the timeout, retried, and the run recovers"
    enters = "the step's attempt stops making progress before doing any work"
    fixed_by = "the stuck dependency recovering (attempts after the fix run normally)"
    Params = HangParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = HangParams.model_validate(fault["params"])
        k = state.activate(call.world, fault["id"], p.attempts)
        if k is None:
            return
        call.record_fault(fault["id"], self.name, [], attempt=k, mode=p.mode)
        print(f"{call.step} {call.logical_date}: waiting on a dependency...", flush=True)
        if p.mode == "block":
            lock = threading.Lock()
            lock.acquire()
            lock.acquire()  # never returns
        deadline = time.monotonic() + MAX_HANG_S
        while time.monotonic() < deadline:
            if not call.world.root.exists():  # the run is gone: do not outlive it
                raise RuntimeError("hang: the world was removed")
            time.sleep(0.2)
        raise TimeoutError(f"hang: still hanging after {MAX_HANG_S:.0f} s")
