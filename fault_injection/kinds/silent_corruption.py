"""silent_corruption: labels flipped or a column shifted; only the workflow's checks can see it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fault_injection import tables
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    import pandas as pd

    from orchbench.contracts import StepCall
    from orchbench.world import World


class Shift(BaseModel):
    model_config = ConfigDict(extra="forbid")

    column: str = Field(description="a numeric column of the table the step reads")
    by: float = Field(description="added to every value")


class SilentCorruptionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flip_labels: float = Field(
        0.0, ge=0, le=1, description="fraction of rows whose 0/1 label is flipped"
    )
    shift: Shift | None = Field(None, description="add a constant to one column")
    seed: int = Field(0, ge=0, description="which rows are flipped")

    @model_validator(mode="after")
    def _something(self) -> SilentCorruptionParams:
        if not self.flip_labels and self.shift is None:
            raise ValueError("give flip_labels > 0 or shift")
        return self


class SilentCorruption(FaultKind):
    """Rewrites the table step ``at`` reads (like schema_break) but keeps its schema, so the
    step and everything downstream run on wrong data unless a check notices."""

    name = "silent_corruption"
    expects = "silently wrong data is caught by validation/the gate, or no one notices"
    enters = "the table a step reads has flipped labels or a shifted column, same schema"
    fixed_by = "the upstream re-delivers the correct table"
    allowed_at: ClassVar[tuple[str, ...]] = tables.TABLE_STEPS
    Params = SilentCorruptionParams

    def check(self, at: str, day: int, days: int, params: BaseModel) -> str | None:
        p = SilentCorruptionParams.model_validate(params.model_dump())
        cols = tables.columns_at(at)
        if p.shift is not None and (p.shift.column not in cols or p.shift.column == "label"):
            numeric = [c for c in cols if c not in ("country", "label", "event_id")]
            return (
                f"shift.column {p.shift.column!r} is not a numeric column of what {at} reads; "
                f"allowed: {', '.join(numeric)}"
            )
        return None

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = SilentCorruptionParams.model_validate(fault["params"])

        def corrupt(df: pd.DataFrame) -> pd.DataFrame:
            import numpy as np

            if p.flip_labels:
                rng = np.random.default_rng(p.seed)
                flip = rng.random(len(df)) < p.flip_labels
                df["label"] = np.where(flip, 1 - df["label"], df["label"])
            if p.shift is not None:
                col = p.shift.column
                shifted = df[col] + p.shift.by
                df[col] = shifted.round().astype(int) if df[col].dtype.kind == "i" else shifted
            return df

        tables.rewrite_input(call, fault, corrupt)

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        tables.restore(world, fault)
