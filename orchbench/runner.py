"""The runner protocol: what the harness asks of every system it benchmarks.

Lifecycle, per matrix: ``check_environment`` -> ``start`` (shared services, e.g. a
scheduler) -> for each scenario run: ``run_days`` -> [harness applies the fix] ->
``recover`` -> ``collect`` -> ... -> ``stop``. The harness talks to a runner's system only
across a process boundary; adapters live in ``runners/<name>/adapter.py`` and only
orchestrate. Where a runner cannot express something it raises ``NotApplicable``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from orchbench import journal as jr
from orchbench.scenario import Scenario
from orchbench.world import World, step_env

if TYPE_CHECKING:
    from orchbench.contracts import RecoveryPlan


class EnvironmentMissing(RuntimeError):
    """The runner's environment (venv, system package, privilege) is not there."""


class NotApplicable(RuntimeError):
    """The scenario cannot be expressed on this runner; recorded with the reason."""


class RunTimeout(RuntimeError):
    """The run exceeded its deadline; the runner killed what it started."""


@dataclass
class RunContext:
    """One scenario run of one runner: where things are and when to give up."""

    scenario: Scenario
    runner: str
    profile: str
    run_id: str
    run_dir: Path  # the (temporary) run directory; logs/ and journal live here
    world: World
    deadline: float  # time.monotonic() after which the run must stop
    repo_root: Path

    @property
    def journal(self) -> Path:
        return self.run_dir / jr.JOURNAL_NAME

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def work(self) -> Path:
        return self.world.root.parent

    @property
    def dates(self) -> list[dt.date]:
        return self.scenario.logical_dates()

    def step_env(self) -> dict[str, str]:
        return step_env(self.world, self.journal, self.run_id, self.runner)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def operator(self, command: str) -> None:
        """Journal one manual command a human operator would type."""
        jr.operator_action(self.journal, command)


class Runner:
    """Base class of runner adapters. ``name`` is what ``--runner`` takes."""

    name: ClassVar[str]
    system: ClassVar[str]  # the orchestrator's name as shown in reports
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned")
    description: ClassVar[str] = ""
    # True when the runner's results depend on having the CPU to itself (the cron runners'
    # compressed clock: under load their fixed-minute jobs overlap). `bench --jobs` then
    # runs it alone, never beside another runner.
    exclusive: ClassVar[bool] = False

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        if profile not in self.profiles:
            raise ValueError(
                f"runner {self.name!r} has no profile {profile!r}; "
                f"allowed: {', '.join(self.profiles)}"
            )
        self.profile = profile
        self.repo_root = repo_root or Path(__file__).resolve().parent.parent

    def check_environment(self) -> None:
        """Raise EnvironmentMissing naming what is missing and how to get it."""

    def start(self, matrix_dir: Path) -> None:
        """Start shared services once per matrix (no-op for daemon-per-run systems)."""

    def stop(self) -> None:
        """Stop everything ``start`` started; must be safe to call twice."""

    def run_days(self, ctx: RunContext) -> None:
        """Run every logical date of the scenario the way the system schedules them."""
        raise NotImplementedError

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        """After the fix: the system's own re-run mechanism (journal operator actions)."""
        raise NotImplementedError

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        """The native trace: only what the system's users can read."""
        raise NotImplementedError

    def abort(self) -> None:
        """Kill whatever this run started (called on timeout, Ctrl-C, harness error)."""

    def export(self, out_dir: Path) -> list[Path]:
        """Write what must be deployed on a remote deployment of this system for
        ``--<system>-url`` runs (DAG bundle, deployment spec, compiled pipeline) into
        ``out_dir``; the files written. Systems with nothing to deploy raise NotApplicable."""
        raise NotApplicable(f"runner {self.name!r} has nothing to export")

    def versions(self) -> dict[str, str]:
        """Versions of the orchestrator and key packages, for env.json."""
        return {}

    def settings(self) -> dict[str, Any]:
        """The profile's concrete settings, for env.json."""
        return {}
