"""What the layers hand each other: the step call, fault records, the recovery plan.

- ``StepCall``: everything one attempt of a step is given; also what fault kinds see.
- ``fault_id`` and ``fault_activated``: the id of a scenario's fault and the journal's
  record of a fault taking effect, whether a step hook (``StepCall.record_fault``) or the
  scheduler (``fault_injection.runner_faults.record_activation``) journals it.
- ``RecoveryPlan`` and ``recovery_plan``: what the operator re-runs after the fix, derived
  from the per-attempt verdicts the metrics layer gives (``orchbench.metrics.analyse``).

This module imports only other contracts (journal, world, the workflow's step list), so
every layer can import it and it can import none of them back.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchbench.journal import Journal, append_record
from orchbench.workflow.spec import step_index
from orchbench.world import World


def fault_id(index: int) -> str:
    """The id of the scenario's fault at ``index`` (0-based): f1, f2, ... in scenario order."""
    return f"f{index + 1}"


def fault_activated(
    fault_id: str,
    kind: str,
    step: str,
    logical_date: dt.date | str,
    *,
    attempt_id: str | None,
    run_id: str,
    affected: Iterable[dict[str, Any]],
    detail: dict[str, Any],
) -> dict[str, Any]:
    """The journal record of a fault taking effect now. ``attempt_id`` is None when the
    scheduler, not a step attempt, is where it took effect; ``affected`` lists the
    artifacts it made wrong (``name``, ``uri``, ``sha256``)."""
    date = logical_date.isoformat() if isinstance(logical_date, dt.date) else logical_date
    return {
        "type": "fault_activated",
        "t_ns": time.time_ns(),
        "fault_id": fault_id,
        "kind": kind,
        "step": step,
        "logical_date": date,
        "attempt_id": attempt_id,
        "run_id": run_id,
        "affected": list(affected),
        "detail": detail,
    }


@dataclass
class StepCall:
    """Everything one attempt of a step is given; also what fault hooks see."""

    step: str
    logical_date: dt.date
    inputs: dict[str, Path]
    outputs: dict[str, Path]
    config: dict[str, Any]
    world: World
    journal: Path
    run_id: str
    runner: str
    attempt_id: str = ""
    attempt: int = 0
    native: dict[str, Any] = field(default_factory=dict)

    def record_fault(
        self, fault_id: str, kind: str, affected: list[dict[str, Any]], **detail: Any
    ) -> None:
        """Journal the moment a fault takes effect in this attempt."""
        record = fault_activated(
            fault_id,
            kind,
            self.step,
            self.logical_date,
            attempt_id=self.attempt_id,
            run_id=self.run_id,
            affected=affected,
            detail=detail,
        )
        append_record(self.journal, record)


@dataclass
class RecoveryPlan:
    """What the operator re-runs after the fix: for each logical date, the step to restart
    from (that step and everything downstream). Empty when nothing needs recovery."""

    restart_from: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.restart_from)


class Verdict(Protocol):
    @property
    def good(self) -> bool:
        """A successful attempt whose result can be trusted."""
        ...


class Verdicts(Protocol):
    """Every journaled attempt judged (``orchbench.metrics.Analysis`` is one)."""

    def by_date_step(self) -> Mapping[tuple[str, str], Sequence[Verdict]]:
        """(logical date, step) -> its attempts' verdicts, in start order."""
        ...

    def required_steps(self, date: str) -> Sequence[str]:
        """The steps a complete execution of ``date`` needs, in spec order."""
        ...


def recovery_plan(journal: Journal, verdicts: Verdicts, dates: Iterable[str] = ()) -> RecoveryPlan:
    """For each logical date, the step to restart from after the fix.

    ``verdicts`` judges the journal's attempts (``orchbench.metrics.analyse(journal)``).
    ``dates`` adds the scenario's logical dates (ISO strings) to those of the journal, so a
    date that never ran (the scheduler was down: ``missed_days``) restarts from ``ingest``.
    In spec order, the first step whose latest attempt failed, was killed, is tainted or
    stale, or that never ran (steps the deploy gate natively skipped excepted, see
    ``required_steps``). A date where a fault made artifacts wrong restarts at the fault's
    step at the latest, even if later attempts look fine. Dates where everything is fine
    are left out.
    """
    runs = verdicts.by_date_step()
    restart: dict[str, str] = {}
    for date in sorted({a.logical_date for a in journal.attempts} | set(dates)):
        candidates = [
            f["step"] for f in journal.faults if f.get("affected") and f["logical_date"] == date
        ]
        for step in verdicts.required_steps(date):
            tries = runs.get((date, step), [])
            if not tries or not tries[-1].good:
                candidates.append(step)
                break
        if candidates:
            restart[date] = min(candidates, key=step_index)
    return RecoveryPlan(restart_from=restart)
