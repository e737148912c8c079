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
    )
}


def get(name: str) -> FaultKind | None:
    return KINDS.get(name)


def scheduler_faults(scenario: Scenario) -> list[SchedulerFault]:
    """The base runner's handler of each scenario fault whose kind acts in the scheduler
    (ids f1, f2... by position, as ``state.arm`` numbers them)."""
    out = []
    for i, f in enumerate(scenario.faults):
        handler = KINDS[f.kind].scheduler
        if handler is not None:
            out.append(handler(fault_id(i), f, scenario))
    return out
