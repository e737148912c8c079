"""redelivery: the day's first delivery is incomplete; the upstream later replaces it in place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import tables
from fault_injection.base import FaultKind

if TYPE_CHECKING:
    import pandas as pd

    from orchbench.contracts import StepCall
    from orchbench.world import World


class RedeliveryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_fraction: float = Field(
        0.7, gt=0, lt=1, description="share of the day's rows in the first delivery"
    )
    seed: int = Field(0, ge=0, description="which rows the first delivery lacks")


class Redelivery(FaultKind):
    """The first delivery of the day's landing partition lacks a share of its rows (picked
    at random, so the day still passes validation: same schema, no drift). Ingest reads it
    and the day's pipeline runs on it; the activation lists the partition as it was read.
    The fix is the upstream's corrected delivery: the complete partition is put back under
    the same path, and a harness event ``redelivered`` journals its new content
    (``tables.restore``).
    A system whose cache keys on the path or on parameters serves the first delivery's
    results when the date is re-run (``stale_cache_hits``)."""

    name = "redelivery"
    expects = "a re-run after the upstream re-delivers a partition recomputes from the new content"
    enters = "the landing partition's first delivery lacks rows; it is re-delivered in place"
    fixed_by = "the upstream re-delivering the complete partition under the same path"
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = RedeliveryParams

    def before(self, call: StepCall, fault: dict[str, Any]) -> None:
        p = RedeliveryParams.model_validate(fault["params"])

        def first_delivery(df: pd.DataFrame) -> pd.DataFrame:
            import numpy as np

            keep = np.random.default_rng(p.seed).random(len(df)) < p.keep_fraction
            return df[keep]

        tables.rewrite_input(call, fault, first_delivery, keep_fraction=p.keep_fraction)

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        tables.restore(world, fault)
