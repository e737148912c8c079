"""The registry of fault kinds. ``orchbench list faults`` prints it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fault_injection.base import FaultKind
from fault_injection.kinds.accuracy_regression import AccuracyRegression
from fault_injection.kinds.crash import Crash
from fault_injection.kinds.env_mismatch import EnvMismatch
from fault_injection.kinds.hang import Hang
from fault_injection.kinds.late_data import LateData
from fault_injection.kinds.missed_days import MissedDays
from fault_injection.kinds.partial_write import PartialWrite
from fault_injection.kinds.redelivery import Redelivery
from fault_injection.kinds.scheduler_crash import SchedulerCrash
from fault_injection.kinds.schema_break import SchemaBreak
from fault_injection.kinds.silent_corruption import SilentCorruption
from fault_injection.kinds.transient_error import TransientError
from orchbench.contracts import fault_id

if TYPE_CHECKING:
    from orchbench.runner import SchedulerFault
    from orchbench.scenario import Scenario

KINDS: dict[str, FaultKind] = {
    k.name: k
    for k in (
        SchemaBreak(),
        TransientError(),
        Hang(),
        Crash(),
        LateData(),
        SilentCorruption(),
        AccuracyRegression(),
        PartialWrite(),
        MissedDays(),
        SchedulerCrash(),
        EnvMismatch(),
        Redelivery(),
    )
}


def get(name: str) -> FaultKind | None:
    return KINDS.get(name)


def check_supported(runner: object, scenario: Scenario) -> str | None:
    """Why ``runner`` cannot run the scenario's scheduler-level faults, or None if it can.

    A kind whose handler needs adapter hooks (``SchedulerFault.hooks``) runs only on a
    runner that lists it in ``runner_faults``; a kind with none is the base runner's alone
    and runs everywhere.
    """
    declared = getattr(runner, "runner_faults", frozenset())
    needed = sorted(
        {
            f.kind
            for f in scenario.faults
            if (kind := KINDS.get(f.kind)) is not None
            and (handler := kind.scheduler) is not None
            and handler.hooks
        }
    )
    missing = [k for k in needed if k not in declared]
    if not missing:
        return None
    name = getattr(runner, "name", type(runner).__name__)
    hooks = sorted({h for k in missing for h in KINDS[k].scheduler.hooks})  # type: ignore[union-attr]
    return (
        f"runner {name!r} does not implement the scheduler-level fault(s) "
        f"{', '.join(missing)} (hooks {', '.join(hooks)}; Runner.runner_faults)"
    )


def requirements(scenario: Scenario) -> dict[tuple[str, str], list[str]]:
    """``{(logical date, step): ["package==version", ...]}`` the scenario's faults declare
    their steps need (``FaultKind.requires``)."""
    out: dict[tuple[str, str], list[str]] = {}
    for f in scenario.faults:
        kind = KINDS[f.kind]
        needed = kind.requires(kind.Params.model_validate(f.params))
        if needed is not None:
            out.setdefault((scenario.date_of_day(f.day).isoformat(), f.at), []).append(needed)
    return out


def scheduling(scenario: Scenario) -> str:
    """SYSTEM when a fault of the scenario is about the scheduler
    (``FaultKind.system_scheduled``), else HARNESS (``orchbench.runner``)."""
    from orchbench.runner import HARNESS, SYSTEM

    kinds = [KINDS[f.kind] for f in scenario.faults if f.kind in KINDS]
    return SYSTEM if any(k.system_scheduled for k in kinds) else HARNESS


def scheduler_faults(scenario: Scenario) -> list[SchedulerFault]:
    """The base runner's handler of each scenario fault whose kind acts in the scheduler
    (ids f1, f2... by position, as ``state.arm`` numbers them)."""
    out = []
    for i, f in enumerate(scenario.faults):
        handler = KINDS[f.kind].scheduler
        if handler is not None:
            out.append(handler(fault_id(i), f, scenario))
    return out
