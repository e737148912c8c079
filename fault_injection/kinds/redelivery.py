"""redelivery: the day's first delivery is incomplete; the upstream later replaces it in place."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from fault_injection import runner_faults, state, tables
from fault_injection.base import FaultKind
from orchbench.hashing import sha256_path
from orchbench.runner import SchedulerFault

if TYPE_CHECKING:
    from orchbench.runner import RunContext, Runner
    from orchbench.world import World


class RedeliveryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_fraction: float = Field(
        0.7, gt=0, lt=1, description="share of the day's rows in the first delivery"
    )
    seed: int = Field(0, ge=0, description="which rows the first delivery lacks")


class FirstDelivery(SchedulerFault):
    """As the fault's date is about to fire, the landing partition holds the first
    delivery: the complete one is moved aside (``state.backup_dir``) and a random share
    of its rows is written in its place, before the system looks at the file (a cache key
    computed from the file's content sees the first delivery). The activation is journaled
    then, with the first delivery as the affected artifact."""

    def fires(self, runner: Runner, ctx: RunContext, date: dt.date) -> bool:
        if date == self.scenario.date_of_day(self.spec.day):
            self._deliver_first(ctx, date)
        return True

    def _deliver_first(self, ctx: RunContext, date: dt.date) -> None:
        import numpy as np
        import pandas as pd

        p = RedeliveryParams.model_validate(self.spec.params)
        path = ctx.world.landing_partition(date)
        if not path.is_file():
            return
        backup = state.backup_dir(ctx.world, self.fault_id) / path.name
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, backup)
        df = pd.read_csv(path)
        keep = np.random.default_rng(p.seed).random(len(df)) < p.keep_fraction
        tmp = path.with_name(path.name + ".fault.tmp")
        df[keep].to_csv(tmp, index=False)
        tmp.replace(path)
        first = sha256_path(path)
        with state.locked(ctx.world) as st:
            f = next(f for f in st["faults"] if f["id"] == self.fault_id)
            f["backups"][str(path)] = str(backup)
            f["corrupted_sha256"] = first
            f.setdefault("tables", {})[str(path)] = "landing"
            f["journal"] = str(ctx.journal)
            state.count_activation(f)
        runner_faults.record_activation(
            ctx.journal,
            self.fault_id,
            "redelivery",
            date,
            step=self.spec.at,
            run_id=ctx.run_id,
            affected=[{"name": "landing", "uri": str(path), "sha256": first}],
            keep_fraction=p.keep_fraction,
            rows=int(keep.sum()),
            rows_complete=len(df),
        )


class Redelivery(FaultKind):
    """The first delivery of the day's landing partition lacks a share of its rows (picked
    at random, so the day still passes validation: same schema, no drift). It is in place
    when the date's schedule fires (``FirstDelivery``, the base runner's day loop; no step
    hooks), so the day's pipeline runs on it. The fix is the upstream's corrected
    delivery: the complete partition goes back under the same path, and a harness event
    ``redelivered`` journals its new content (``tables.restore``). A system whose cache
    keys on the path or on parameters serves the first delivery's results when the date is
    re-run (``stale_cache_hits``)."""

    name = "redelivery"
    expects = "a re-run after the upstream re-delivers a partition recomputes from the new content"
    enters = "the landing partition's first delivery lacks rows; it is re-delivered in place"
    fixed_by = "the upstream re-delivering the complete partition under the same path"
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = RedeliveryParams
    scheduler = FirstDelivery
    step_hooks = False

    def fix(self, world: World, fault: dict[str, Any]) -> None:
        tables.restore(world, fault)
