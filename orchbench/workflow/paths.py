"""Per-date artifact layout used by the oracle and by runners that key paths by date."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from orchbench.workflow.spec import STEP_BY_NAME

FILENAMES = {
    "raw": "raw.csv",
    "validated": "validated.csv",
    "features": "features.csv",
    "model": "model.json",
    "evaluation": "evaluation.json",
    "registration": "registration.json",
    "deployment": "deployment.json",
}


def dated_paths(root: Path, logical_date: dt.date | str) -> dict[str, Path]:
    """``root/<date>/<artifact file>`` for every dated artifact."""
    return {name: Path(root) / str(logical_date) / f for name, f in FILENAMES.items()}


def step_paths(step: str, paths: dict[str, Path]) -> tuple[dict[str, Path], dict[str, Path]]:
    """The (inputs, outputs) of ``step`` among ``paths``: what ``run_step`` takes."""
    spec = STEP_BY_NAME[step]
    return (
        {k: v for k, v in paths.items() if k in spec.inputs},
        {k: v for k, v in paths.items() if k in spec.outputs},
    )
