"""The registry of fault kinds. ``orchbench list faults`` prints it."""

from __future__ import annotations

from fault_injection.base import FaultKind
from fault_injection.kinds.schema_break import SchemaBreak
from fault_injection.kinds.transient_error import TransientError

KINDS: dict[str, FaultKind] = {k.name: k for k in (SchemaBreak(), TransientError())}


def get(name: str) -> FaultKind | None:
    return KINDS.get(name)
