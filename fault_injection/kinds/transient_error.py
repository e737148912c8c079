"""transient_error: the first N attempts of a step raise, later ones succeed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    from orchbench.contracts import StepCall


class TransientStepError(RuntimeError):
    """Raised by an injected transient fault (e.g. a flaky network call)."""


class TransientErrorParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = Field(1, ge=1, le=20, description="how many attempts raise before success")


class TransientError(FaultKind):
    name = "transient_error"
    expects = "retries absorb transient errors with no human action"
    enters = "the first N attempts of the step raise before doing any work"
    fixed_by = "the flaky dependency recovering (attempts after the fix succeed)"
    Params = TransientErrorParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        n = TransientErrorParams.model_validate(fault["params"]).failures
        k = state.activate(call.world, fault["id"], n)
        if k is None:
            return
        call.record_fault(fault["id"], self.name, [], failure=k, of=n)
        raise TransientStepError(f"injected transient error {k}/{n} in {call.step}")
