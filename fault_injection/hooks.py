"""Called by the step wrapper around every attempt; dispatches to armed faults.

The catalog (and pydantic with it) is imported only when a fault matches, so a step
process pays nothing for fault injection on the days nothing is armed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fault_injection import state

if TYPE_CHECKING:
    from orchbench.contracts import StepCall
    from orchbench.world import World


def _matching(call: StepCall) -> list[dict[str, Any]]:
    path = call.world.faults_state
    if not path.exists():
        return []
    date = call.logical_date.isoformat()
    return [
        f
        for f in state.read(call.world)["faults"]
        if not f["fixed"]
        and f.get("step_hooks", True)
        and f["at"] == call.step
        and f["logical_date"] == date
    ]


def before_step(call: StepCall) -> None:
    for f in _matching(call):
        from fault_injection.catalog import KINDS

        KINDS[f["kind"]].before(call, f)


def after_step(call: StepCall) -> None:
    for f in _matching(call):
        from fault_injection.catalog import KINDS

        KINDS[f["kind"]].after(call, f)


def fix_all(world: World) -> list[str]:
    """Flip every armed fault to fixed and undo its effect. Returns the fixed ids."""
    from fault_injection.catalog import KINDS

    fixed = []
    for f in state.read(world)["faults"]:
        if f["fixed"]:
            continue
        KINDS[f["kind"]].fix(world, f)
        fixed.append(f["id"])
    with state.locked(world) as st:
        for f in st["faults"]:
            if f["id"] in fixed:
                f["fixed"] = True
    return fixed
