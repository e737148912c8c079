"""schema_break: the day's table arrives with a renamed, retyped or dropped column."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fault_injection import state
from fault_injection.base import FaultKind
from orchbench.hashing import sha256_path
from orchbench.workflow.spec import STEP_BY_NAME

if TYPE_CHECKING:
    from pathlib import Path

    from orchbench.contracts import StepCall
    from orchbench.world import World


class SchemaBreakParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rename: dict[str, str] = Field(default_factory=dict, description="old column -> new name")
    retype: dict[str, Literal["str"]] = Field(
        default_factory=dict, description="column -> new type (values become text like '3.1 USD')"
    )
    drop: list[str] = Field(default_factory=list, description="columns removed")

    @model_validator(mode="after")
    def _something(self) -> SchemaBreakParams:
        if not (self.rename or self.retype or self.drop):
            raise ValueError("give at least one of rename, retype, drop")
        return self


TABLES = ("landing", "raw", "validated", "features")


def tabular_input(call: StepCall) -> tuple[str, Path] | None:
    """The step's first daily table input (landing/raw/validated/features), if it has one."""
    for name in STEP_BY_NAME[call.step].inputs:
        if name in TABLES:
            return name, call.inputs[name]
    return None


class SchemaBreak(FaultKind):
    name = "schema_break"
    expects = "a schema break stops the run before training; only the affected branch re-runs"
    enters = "the table a step reads is rewritten with a renamed/retyped/dropped column"
    fixed_by = "the upstream re-delivers the original table"
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest", "validate", "featurize", "train")
    Params = SchemaBreakParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        import pandas as pd

        target = tabular_input(call)
        if target is None:
            return
        name, path = target
        if not path.is_file():
            return
        p = SchemaBreakParams.model_validate(fault["params"])
        current = sha256_path(path)
        if current != fault.get("corrupted_sha256"):
            backup = state.backup_dir(call.world, fault["id"]) / path.name
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup)
            df = pd.read_csv(path)
            df = df.drop(columns=[c for c in p.drop if c in df.columns])
            for col in p.retype:
                if col in df.columns:
                    df[col] = df[col].map(lambda v: f"{v} USD")
            df = df.rename(columns=p.rename)
            tmp = path.with_name(path.name + ".fault.tmp")
            df.to_csv(tmp, index=False)
            tmp.replace(path)
            current = sha256_path(path)
            with state.locked(call.world) as st:
                for f in st["faults"]:
                    if f["id"] == fault["id"]:
                        f["corrupted_sha256"] = current
                        f["backups"][str(path)] = str(backup)
                        state.count_activation(f)
        call.record_fault(
            fault["id"],
            self.name,
            [{"name": name, "uri": str(path), "sha256": current}],
            params=fault["params"],
        )

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        from pathlib import Path

        for target, backup in fault.get("backups", {}).items():
            t = Path(target)
            if sha256_path(t) == fault.get("corrupted_sha256"):
                shutil.copy2(backup, t)
