"""Faults that live in the scheduler, not inside a step: their shared records.

Only the base runner's day loop acts on these kinds (``orchbench.runner.SchedulerFault``;
each kind's handler is ``FaultKind.scheduler``); adapters implement the runner's hooks and
never import this module.

- ``missed_days`` (``params: {days: N}``, ``at: ingest``): the scheduler is down from the
  fault's ``day`` for N logical dates; no schedule fires for them. ``outages`` gives those
  dates. The day loop does not run them and, at the moment the first skipped schedule
  would have fired, journals the activation (``record_activation``: the journal's
  ``fault_activated`` record, built by ``orchbench.contracts.fault_activated`` as
  ``StepCall.record_fault``'s is). On a run a scheduler fires, it stops the scheduler's
  processes then and starts them again before the first date after the outage
  (``Runner.stop_scheduler``/``start_scheduler``); what the system does about the missed
  dates is its own (Airflow's catchup, Prefect's Late runs, cron-hardened's catch-up job,
  nothing), measured by ``orchbench.scheduling.backfill``. Dates still missing are the
  operator's (``orchbench.contracts.recovery_plan``).
- ``scheduler_crash`` (``params: {restart_after_s: 2}``; ``day``/``at``: the moment step
  ``at`` of that day starts): a step-level ``before`` hook (``kinds/scheduler_crash.py``)
  journals the activation, then SIGKILLs the processes registered with
  ``register_scheduler`` (``world/faults/scheduler.json``; the day loop registers what
  ``Runner.scheduler_processes`` names) and appends a crash record there. The day loop's
  ``watch`` notices it (``crashes``), waits ``restart_after_s`` and has the adapter restart
  its scheduler (``Runner.restart_scheduler``), then registers the new pids. With nothing
  registered the hook still journals the activation, with ``killed: []``.

A kind whose handler needs adapter hooks (``SchedulerFault.hooks``: scheduler_crash needs
``scheduler_processes`` and ``restart_scheduler``) runs only on a runner that lists it;
the harness records ``not_applicable`` (with the reason) for a scenario using one it does
not list (``catalog.check_supported``). missed_days needs no hook and runs everywhere::

    class PrefectRunner(Runner):
        runner_faults = frozenset({"scheduler_crash"})
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench import contracts
from orchbench.journal import append_record

if TYPE_CHECKING:
    from orchbench.scenario import FaultSpec, Scenario
    from orchbench.world import World

SCHEDULER_FILE = "scheduler.json"


def fault_ids(scenario: Scenario, kind: str) -> list[tuple[str, FaultSpec]]:
    """(fault id, spec) of the scenario's faults of ``kind`` (``orchbench.contracts.fault_id``)."""
    return [(contracts.fault_id(i), f) for i, f in enumerate(scenario.faults) if f.kind == kind]


@dataclass(frozen=True)
class Outage:
    """One ``missed_days`` fault: the scheduler is down on ``dates`` (in order)."""

    fault_id: str
    dates: tuple[dt.date, ...]

    @property
    def first(self) -> dt.date:
        return self.dates[0]


def outages(scenario: Scenario) -> list[Outage]:
    """Every ``missed_days`` fault of the scenario with its down dates (clipped to the run)."""
    last = scenario.logical_dates()[-1] if scenario.days else None
    out = []
    for fid, f in fault_ids(scenario, "missed_days"):
        first = scenario.date_of_day(f.day)
        n = int(f.params.get("days", 1))
        dates = tuple(
            d for d in (first + dt.timedelta(days=k) for k in range(n)) if last and d <= last
        )
        out.append(Outage(fid, dates))
    return out


def record_activation(
    journal_path: Path | str,
    fault_id: str,
    kind: str,
    logical_date: dt.date | str,
    *,
    step: str = "ingest",
    run_id: str = "",
    affected: Iterable[dict[str, Any]] = (),
    **detail: Any,
) -> None:
    """Journal a runner-level fault taking effect now (``fault_activated``, no attempt)."""
    record = contracts.fault_activated(
        fault_id,
        kind,
        step,
        logical_date,
        attempt_id=None,
        run_id=run_id,
        affected=affected,
        detail=detail,
    )
    append_record(journal_path, record)


# -- scheduler processes and crashes (world/faults/scheduler.json) ------------------------


def scheduler_file(world: World) -> Path:
    return world.faults_state.parent / SCHEDULER_FILE


@contextmanager
def _locked(world: World) -> Iterator[dict[str, Any]]:
    path = scheduler_file(world)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(fd, "r+", closefd=False) as f:
            text = f.read()
            data = json.loads(text) if text.strip() else {}
            data.setdefault("processes", {})
            data.setdefault("crashes", [])
            yield data
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            os.replace(tmp, path)
    finally:
        os.close(fd)


def register_scheduler(world: World, name: str, pids: Iterable[int]) -> None:
    """Say which processes are the scheduler/server ``name`` (replaces earlier pids)."""
    with _locked(world) as data:
        data["processes"][name] = [int(p) for p in pids]


def registered(world: World) -> dict[str, list[int]]:
    """name -> pids currently registered."""
    try:
        return json.loads(scheduler_file(world).read_text()).get("processes", {})
    except (FileNotFoundError, ValueError):
        return {}


def crashes(world: World) -> list[dict[str, Any]]:
    """Crash records in order: ``fault_id``, ``t_ns``, ``killed`` ({name, pid}),
    ``restart_after_s``. A runner restarts once per record it has not handled yet."""
    try:
        return json.loads(scheduler_file(world).read_text()).get("crashes", [])
    except (FileNotFoundError, ValueError):
        return []


def kill_registered(world: World, fault_id: str, restart_after_s: float) -> list[dict[str, Any]]:
    """SIGKILL every registered process (never the caller); append a crash record.

    Returns the processes signalled as ``{name, pid}`` (a pid already gone is left out).
    """
    killed = []
    me = os.getpid()
    with _locked(world) as data:
        for name, pids in data["processes"].items():
            for pid in pids:
                if pid == me:
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                killed.append({"name": name, "pid": pid})
        data["crashes"].append(
            {
                "fault_id": fault_id,
                "t_ns": time.time_ns(),
                "killed": killed,
                "restart_after_s": restart_after_s,
            }
        )
    return killed
