"""partial_write: one output artifact is truncated mid-file while the step reports success."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind
from orchbench.hashing import sha256_path
from orchbench.workflow.spec import ARTIFACTS, STEP_BY_NAME

if TYPE_CHECKING:
    from orchbench.contracts import StepCall


def dated_outputs(step: str) -> list[str]:
    return [o for o in STEP_BY_NAME[step].outputs if ARTIFACTS[o].kind == "dated"]


class PartialWriteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    artifact: str | None = Field(
        None, description="which output of the step (default: its dated output)"
    )
    keep_fraction: float = Field(
        0.5, gt=0, lt=1, description="fraction of the file's bytes left after the cut"
    )
    attempts: int | None = Field(
        1, ge=1, le=20, description="how many attempts write partially (null: every one)"
    )


class PartialWrite(FaultKind):
    """Truncates the output after the step function returned, before the attempt's outputs
    are hashed and journaled: the system sees a success; the artifact is cut mid-record."""

    name = "partial_write"
    expects = "tasks are atomic: a torn write is not consumed as if it were complete"
    enters = "an output artifact of the step is cut mid-file; the step still reports success"
    fixed_by = "the disk/network problem going away (a re-run writes the whole file)"
    Params = PartialWriteParams

    def check(self, at: str, day: int, days: int, params: BaseModel) -> str | None:
        art = PartialWriteParams.model_validate(params.model_dump()).artifact
        allowed = dated_outputs(at)
        if art is not None and art not in allowed:
            return f"artifact {art!r} is not a dated output of {at}; allowed: {', '.join(allowed)}"
        return None

    def after(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = PartialWriteParams.model_validate(fault["params"])
        name = p.artifact or dated_outputs(call.step)[0]
        path = call.outputs[name]
        if not path.is_file():
            return
        k = state.activate(call.world, fault["id"], p.attempts)
        if k is None:
            return
        size = path.stat().st_size
        os.truncate(path, int(size * p.keep_fraction))
        call.record_fault(
            fault["id"],
            self.name,
            [{"name": name, "uri": str(path), "sha256": sha256_path(path)}],
            bytes_before=size,
            bytes_after=int(size * p.keep_fraction),
        )
