"""env_mismatch: on the fault day one step needs another version of a library than the
pipeline's shared lock pins (the situation per-step images exist for).

The requirement is a declaration, not a hidden fault: the scenario states that the step's
code for that date needs ``package==version``, and a runner may read it, as a team knows
its own step's requirements. A runner whose steps have their own environments can give
that step an image with the version (``kfp-docker`` does); where every step shares one
environment (cron, Airflow's LocalExecutor, Prefect, ``kfp``'s SubprocessRunner) the step
finds the shared version and fails before doing any work, as an import of an API the
installed version lacks would. Runners read it in ``RunContext.requirements``.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import state
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    from orchbench.contracts import StepCall


class EnvironmentMismatch(ImportError):
    """The step's environment does not have the library version its code needs."""


class EnvMismatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package: str = Field(
        "scikit-learn", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="the PyPI name"
    )
    version: str = Field(
        "1.8.0",
        pattern=r"^[0-9][0-9A-Za-z.+-]*$",
        description="the exact version the step needs (must differ from the lock's pin)",
    )


class EnvMismatch(FaultKind):
    name = "env_mismatch"
    expects = "per-step container images let one step use another library version"
    enters = (
        "on the fault day the step needs package==version; in an environment with another "
        "version it fails before doing any work"
    )
    fixed_by = "the step's change being reverted to the shared pin (later attempts run)"
    Params = EnvMismatchParams

    def requires(self, params: BaseModel) -> str | None:
        p = EnvMismatchParams.model_validate(params.model_dump())
        return f"{p.package}=={p.version}"

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = EnvMismatchParams.model_validate(fault["params"])
        try:
            have = metadata.version(p.package)
        except metadata.PackageNotFoundError:
            have = None
        if have == p.version:
            return  # this step's environment provides it: nothing goes wrong
        if state.activate(call.world, fault["id"]) is None:
            return  # fixed: the step no longer needs the other version
        call.record_fault(fault["id"], self.name, [], package=p.package, needs=p.version,
                          has=have)  # fmt: skip
        found = f"has {p.package}=={have}" if have else "does not have it"
        raise EnvironmentMismatch(
            f"{call.step} needs {p.package}=={p.version}; this environment {found}"
        )
