"""accuracy_regression: the day's model is worse than the champion; the gate must block it."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind
from orchbench.hashing import sha256_path

if TYPE_CHECKING:
    from orchbench.contracts import StepCall


class AccuracyRegressionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["perturb", "invert"] = Field(
        "perturb",
        description="perturb: add noise to the coefficients; invert: negate them (far worse)",
    )
    scale: float = Field(
        1.0, gt=0, le=10, description="perturb: noise std as a multiple of the mean |coefficient|"
    )
    seed: int = Field(0, ge=0, description="perturb: noise seed")


class AccuracyRegression(FaultKind):
    """Rewrites the model ``train`` wrote (after it returned, before the attempt's outputs are
    journaled), as a bad hyper-parameter or code change would. The model is the affected
    artifact, so evaluate/register/canary consuming it are tainted."""

    name = "accuracy_regression"
    expects = "deploy only if eval accuracy beats the champion/floor: a worse model is blocked"
    enters = "the model train produces is degraded (perturbed or inverted coefficients)"
    fixed_by = "the regression being reverted (re-training produces the normal model)"
    allowed_at: ClassVar[tuple[str, ...]] = ("train",)
    Params = AccuracyRegressionParams

    def after(self, call: StepCall, fault: dict[str, Any]) -> None:
        import numpy as np

        p = AccuracyRegressionParams.model_validate(fault["params"])
        if state.activate(call.world, fault["id"]) is None:
            return
        path = call.outputs["model"]
        model = json.loads(path.read_text())
        coef = np.array(model["coef"], dtype=float)
        if p.method == "invert":
            coef, intercept = -coef, -float(model["intercept"])
        else:
            rng = np.random.default_rng(p.seed)
            coef = coef + rng.normal(0, p.scale * float(np.abs(coef).mean()), coef.shape)
            intercept = float(model["intercept"])
        model.update(coef=[float(v) for v in coef], intercept=intercept)
        tmp = path.with_name(path.name + ".fault.tmp")
        tmp.write_text(json.dumps(model, indent=1, sort_keys=True))
        os.replace(tmp, path)
        call.record_fault(
            fault["id"],
            self.name,
            [{"name": "model", "uri": str(path), "sha256": sha256_path(path)}],
            method=p.method,
        )
