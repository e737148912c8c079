"""Tampering with the daily table a step reads: back it up once, rewrite it, restore on fix."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fault_injection import state
from orchbench.hashing import sha256_path
from orchbench.journal import REDELIVERED, harness_event
from orchbench.workflow.spec import STEP_BY_NAME

if TYPE_CHECKING:
    import pandas as pd

    from orchbench.contracts import StepCall
    from orchbench.world import World

TABLES = ("landing", "raw", "validated", "features")
# Steps that read a daily table (their first input).
TABLE_STEPS = ("ingest", "validate", "featurize", "train")


def columns_at(step: str) -> tuple[str, ...]:
    """Columns of the table ``step`` reads (features after featurize)."""
    if STEP_BY_NAME[step].inputs[0] == "features":
        from orchbench.workflow.steps import FEATURES

        return (*FEATURES, "label")
    from orchbench.workflow.data import COLUMNS  # imported here: it loads numpy and pandas

    return COLUMNS


def tabular_input(call: StepCall) -> tuple[str, Path] | None:
    """The step's first daily table input (landing/raw/validated/features), if it has one."""
    for name in STEP_BY_NAME[call.step].inputs:
        if name in TABLES:
            return name, call.inputs[name]
    return None


def rewrite_input(
    call: StepCall,
    fault: dict[str, Any],
    transform: Callable[[pd.DataFrame], pd.DataFrame],
    **detail: Any,
) -> None:
    """Rewrite the step's input table with ``transform`` (once per content: a table already
    rewritten is left alone), journal the activation with the corrupted version."""
    import pandas as pd

    target = tabular_input(call)
    if target is None or not target[1].is_file():
        return
    name, path = target
    with state.locked(call.world) as st:
        f = next(f for f in st["faults"] if f["id"] == fault["id"])
        if f["fixed"]:
            return
        current = sha256_path(path)
        if current != f.get("corrupted_sha256"):
            backup = state.backup_dir(call.world, fault["id"]) / path.name
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, backup)
            df = transform(pd.read_csv(path))
            tmp = path.with_name(path.name + ".fault.tmp")
            df.to_csv(tmp, index=False)
            tmp.replace(path)
            current = sha256_path(path)
            f["corrupted_sha256"] = current
            f["backups"][str(path)] = str(backup)
            f.setdefault("tables", {})[str(path)] = name
            f["journal"] = str(call.journal)  # where ``restore`` journals the re-delivery
            state.count_activation(f)
    call.record_fault(
        fault["id"],
        fault["kind"],
        [{"name": name, "uri": str(path), "sha256": current}],
        params=fault["params"],
        **detail,
    )


def restore(world: World, fault: dict[str, Any]) -> None:
    """Put back every table the fault rewrote, if it still holds the corrupted version, and
    journal what is there now as harness event ``redelivered`` (the content changed in
    place; ``orchbench.journal.REDELIVERED``)."""
    put_back = []
    for target, backup in fault.get("backups", {}).items():
        t = Path(target)
        if t.is_file() and sha256_path(t) == fault.get("corrupted_sha256"):
            shutil.copy2(backup, t)
            put_back.append({"name": fault.get("tables", {}).get(target), "uri": target})
    if put_back and fault.get("journal"):
        artifacts = [{**r, "sha256": sha256_path(Path(r["uri"]))} for r in put_back]
        harness_event(
            fault["journal"],
            REDELIVERED,
            fault_id=fault["id"],
            logical_date=fault.get("logical_date"),
            artifacts=artifacts,
        )
