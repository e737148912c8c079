"""Shared by the wrapper and fault tests: run one step through the wrapper, arm a fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fault_injection import state as fault_state
from orchbench.workflow.paths import dated_paths, step_paths
from orchbench.world import World
from orchbench.wrapper import run_step


def run_one(world: World, journal: Path, step: str, day: str, root: Path) -> dict[str, Any]:
    """Run ``step`` for ``day`` through the shared wrapper, artifacts dated under ``root``."""
    return run_step(
        step,
        day,
        *step_paths(step, dated_paths(root, day)),
        world=world,
        journal=journal,
        run_id="r1",
        runner="test",
    )


def arm_fault(world: World, kind: str, day: str, at: str, params: dict[str, Any]) -> None:
    """Arm one fault, as the harness does from a scenario."""
    fault_state.arm(world, [{"kind": kind, "logical_date": day, "at": at, "params": params}])
