"""The runner protocol: what the harness asks of every system it benchmarks.

Lifecycle, per matrix: ``check_environment`` -> ``start`` (shared services, e.g. a
scheduler) -> for each scenario run: ``run_days`` -> [harness applies the fix] ->
``recover`` -> ``collect`` -> ... -> ``stop``. The harness talks to a runner's system only
across a process boundary; adapters live in ``runners/<name>/adapter.py`` and only
orchestrate. Where a runner cannot express something it raises ``NotApplicable``.

The day loop (``Runner.run_days``) belongs to this base class and no adapter overrides
it: it checks the deadline, lets every scheduler-level fault (``SchedulerFault``) act as
each date is about to fire, and asks the adapter to run the date (``run_date``). An
adapter's waiting loops call ``watch`` (scheduler faults, the deadline); the hooks
``scheduler_processes``, ``scheduler_killed`` and ``restart_scheduler`` say what the
system's scheduler is and how a supervisor brings it back. Adapters never see a fault.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, final

from orchbench import journal as jr
from orchbench.world import World, step_env

if TYPE_CHECKING:  # a step process imports this (fault kinds): it need not load scenarios
    from orchbench.contracts import RecoveryPlan
    from orchbench.scenario import FaultSpec, Scenario


class EnvironmentMissing(RuntimeError):
    """The runner's environment (venv, system package, privilege) is not there."""


class NotApplicable(RuntimeError):
    """The scenario cannot be expressed on this runner; recorded with the reason."""


# Every scenario's schedule is daily: in production a date fires one interval after the
# previous one; the day loop fires them back to back and journals the difference.
SCHEDULE_INTERVAL_S = 86_400.0
# A harness event: the scenario's team committed a new revision of a step's module to the
# world's code repository (``step``, ``revision``, ``commit``) just before a date fired.
CODE_CHANGE = "code_change"
# Who fires a run's dates (``RunContext.scheduling`` asks; ``Runner.fired_by`` answers).
# HARNESS: the day loop triggers each date (``run_date`` triggers and awaits it). SYSTEM:
# a scheduler fires them (the system's own, or cron for a system without one) and the
# harness only moves the world (data lands, faults arm) and watches.
HARNESS, SYSTEM = "harness", "system"
# Harness events of the day loop: a date became due (``logical_date``, ``fired_by``); the
# scheduler was stopped for an outage and started again (``fault_id``); a withheld
# partition landed (``logical_date``, ``fault_id``).
DATE_DUE = "date_due"
# harness events around the system's start: ``services_starting`` before ``Runner.start``
# (a run that starts its own runner), ``services_ready`` once ``prepare_days`` returned (the
# workflow is deployed and the system answers); ``idle_finished`` after an idle window
# (``RunContext.idle_s``, ``orchbench footprint``)
SERVICES_STARTING, SERVICES_READY, IDLE_FINISHED = (
    "services_starting",
    "services_ready",
    "idle_finished",
)
SCHEDULER_STOPPED, SCHEDULER_STARTED = "scheduler_stopped", "scheduler_started"
# how long before a date's fire time the world moves (a partition is withheld, a scheduler
# stopped), so the system's own scheduler never fires first
WORLD_LEAD_S = 1.0


class RunTimeout(RuntimeError):
    """The run exceeded its deadline; the runner killed what it started."""


@dataclass(frozen=True)
class DayClock:
    """The real-clock schedule of a system-scheduled run: date ``k`` (0-based) fires at
    ``start + k * day_s`` (epoch seconds); each interval stands for one production day
    (``SCHEDULE_INTERVAL_S``). Only runners with a ``day_s`` get one."""

    start: float
    day_s: float
    dates: tuple[dt.date, ...]

    def fires_at(self, date: dt.date) -> float:
        return self.start + self.dates.index(date) * self.day_s

    def date_at(self, t: float) -> dt.date | None:
        """The date whose interval begins at ``t`` (to the nearest interval), or None."""
        k = round((t - self.start) / self.day_s)
        return self.dates[k] if 0 <= k < len(self.dates) else None

    @property
    def end(self) -> float:
        """When the interval after the last date begins."""
        return self.start + len(self.dates) * self.day_s


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
    # one per scenario fault that acts in the scheduler (the harness builds them from the
    # fault kinds); only the base runner's day loop calls them
    scheduler_faults: list[SchedulerFault] = field(default_factory=list)
    # what the scenario declares a step needs on a date, as a team knows its own step's
    # requirements: {(logical date, step): ["package==version", ...]} (env_mismatch)
    requirements: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # HARNESS or SYSTEM: the harness asks for SYSTEM when a fault of the scenario is about
    # the scheduler (``FaultKind.system_scheduled``); the runner says who fires (``fired_by``)
    scheduling: str = HARNESS
    # the real-clock schedule, when the system's scheduler fires dates on the real clock
    clock: DayClock | None = None
    # seconds the day loop waits, doing nothing, once the system is up and before the
    # first date (``orchbench footprint`` measures the idle system in this window)
    idle_s: float = 0.0
    _interventions: int = 0

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

    def intervention(self, decision: str) -> int:
        """Journal one decision of the operator; the commands journaled after it (until
        the next decision) carry it out. Returns its number."""
        self._interventions += 1
        jr.operator_intervention(self.journal, self._interventions, decision)
        return self._interventions

    def operator(self, command: str) -> None:
        """Journal one command the operator types, as part of the current decision."""
        jr.operator_action(self.journal, command, self._interventions or None)


class SchedulerFault:
    """A scenario fault that acts in the scheduler, not inside a step (e.g. the scheduler
    is down for some dates, or is killed and restarted).

    A fault kind supplies its subclass (``FaultKind.scheduler``); the harness makes one per
    fault of the scenario (``RunContext.scheduler_faults``). Only the base runner calls
    these methods, so a new kind needs no adapter code. Each journals the moment it takes
    effect itself.
    """

    # the Runner hooks beyond the day loop's own that this kind needs an adapter to
    # implement; a runner lists the kinds it implements in ``Runner.runner_faults``. A kind
    # with none is the base runner's alone and runs on every runner.
    hooks: ClassVar[tuple[str, ...]] = ()

    def __init__(self, fault_id: str, spec: FaultSpec, scenario: Scenario) -> None:
        self.fault_id = fault_id
        self.spec = spec
        self.scenario = scenario

    def start(self, runner: Runner, ctx: RunContext) -> None:
        """Before the first date, once the adapter has prepared its system."""

    def fires(self, runner: Runner, ctx: RunContext, date: dt.date) -> bool:
        """``date`` is about to fire: act now; False when the scheduler does not fire it."""
        return True

    def scheduler_changed(self, runner: Runner, ctx: RunContext) -> None:
        """The scheduler's processes changed (``runner.scheduler_processes``)."""

    def watch(self, runner: Runner, ctx: RunContext) -> None:
        """Called on every poll of the adapter's waiting loops and after the last date."""


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
    # simulated seconds per real second of the clock the system's scheduler reads (cron's
    # daemon runs on a compressed libfaketime clock); 1.0: the real clock
    clock_speed: float = 1.0
    # which waits of this runner run on a compressed clock besides the schedule interval
    # between dates (the base runner journals that one): each is journaled with
    # ``compressed_wait``; shown in env.json and the report's threats to validity
    compressed: ClassVar[tuple[str, ...]] = ()
    # production seconds minus real seconds of the waits journaled since the date fired
    _stretch_s: float = 0.0
    # the scheduler-level fault kinds whose hooks (``SchedulerFault.hooks``) this runner
    # implements; the harness refuses a scenario with another such kind (not_applicable)
    runner_faults: frozenset[str] = frozenset()
    # when a scheduler fires the dates on the real clock: real seconds one simulated day
    # lasts (long enough for a day's steps), and how long after the schedule is installed
    # the first date fires. None: ``run_date`` moves the scheduler's clock itself (cron's
    # per-day daemon on libfaketime), or the harness fires.
    day_s: ClassVar[float | None] = None
    schedule_lead_s: ClassVar[float] = 5.0

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

    # --- the day loop (final: adapters implement the hooks below) -----------------------

    @final
    def run_days(self, ctx: RunContext) -> None:
        """Run every logical date of the scenario the way the system schedules them.

        ``prepare_days`` (then the harness event ``services_ready``, and ``ctx.idle_s``
        seconds of nothing); when a scheduler fires the dates on the real clock
        (``fired_by`` is not HARNESS and the runner has a ``day_s``), a ``DayClock``
        starting ``schedule_lead_s`` from now goes to ``schedule_days``. Then per date, in
        order: the deadline; on a clock, wait until ``WORLD_LEAD_S`` before the date fires;
        the scenario's code changes of that day (a commit in the world's code repository,
        then ``deploy_code``); the harness event ``date_due``; each scheduler fault acts
        as the date is about to fire (``SchedulerFault.fires``; a date no fault lets fire
        goes to ``scheduler_down``); then ``run_date``. After the last date, a scheduler's
        runs are awaited (``settle``: catch-up runs too), then ``watch`` once more (a
        scheduler crash the last date outlived is restarted). Between two dates it
        journals the schedule interval the loop skipped as a ``compressed_wait``.
        """
        fired_by = self.fired_by(ctx)
        self.prepare_days(ctx)
        jr.harness_event(ctx.journal, SERVICES_READY)
        if ctx.idle_s > 0:
            time.sleep(max(0.0, min(ctx.idle_s, ctx.remaining())))
            jr.harness_event(ctx.journal, IDLE_FINISHED)
        if fired_by != HARNESS and self.day_s is not None:
            ctx.clock = DayClock(self.first_fire(ctx), self.day_s, tuple(ctx.dates))
            self.schedule_days(ctx, ctx.clock)
        for fault in ctx.scheduler_faults:
            fault.start(self, ctx)
        fired_ns: int | None = None  # when the previous date fired
        ended_ns = 0
        for day, date in enumerate(ctx.dates, start=1):
            if ctx.remaining() <= 0:
                raise RunTimeout(f"{self.name}: deadline reached before {date}")
            if ctx.clock is not None:
                self._await_clock(ctx, ctx.clock.fires_at(date) - WORLD_LEAD_S, date)
            for change in ctx.scenario.code_changes_on(day):
                self._change_code(ctx, change.step, change.revision)
            now = time.time_ns()
            if fired_ns is not None:  # production waits one interval from fire to fire
                took = (ended_ns - fired_ns) / 1e9 + self._stretch_s  # the date, in production
                self.compressed_wait(ctx, ended_ns, now, max(0.0, SCHEDULE_INTERVAL_S - took))
            fired_ns = now
            self._stretch_s = 0.0
            jr.harness_event(
                ctx.journal, DATE_DUE, logical_date=date.isoformat(), fired_by=fired_by
            )
            fired = [fault.fires(self, ctx, date) for fault in ctx.scheduler_faults]
            if all(fired):
                self.run_date(ctx, date)
            else:
                self.scheduler_down(ctx, date)
            ended_ns = time.time_ns()
        if fired_by != HARNESS:
            self.settle(ctx)
        self.watch(ctx, None)

    def _await_clock(self, ctx: RunContext, t: float, date: dt.date) -> None:
        """Wait until epoch second ``t`` (the world moves just before ``date`` fires),
        letting the scheduler faults act."""
        while (left := t - time.time()) > 0:
            self.watch(ctx, f"the schedule before {date}")
            time.sleep(min(0.2, left))

    def _change_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """The team merges ``revision`` of ``step``'s module (a new commit in the world's
        code repository), then deploys it the way this system's users do."""
        from orchbench.workflow.repo import commit_revision

        commit = commit_revision(ctx.world, step, revision)
        jr.harness_event(ctx.journal, CODE_CHANGE, step=step, revision=revision, commit=commit)
        self.deploy_code(ctx, step, revision)

    def compressed_wait(
        self, ctx: RunContext, start_ns: int, end_ns: int, production_s: float
    ) -> None:
        """Journal that real time ``start_ns``..``end_ns`` stands for ``production_s``
        seconds in production (``orchbench.journal.COMPRESSED_WAIT``). The day loop adds
        what a date's own waits stretch it by, so the next date fires one schedule
        interval after it on the production clock, not one interval plus those waits."""
        self._stretch_s += production_s - (end_ns - start_ns) / 1e9
        jr.harness_event(
            ctx.journal,
            jr.COMPRESSED_WAIT,
            start_ns=start_ns,
            end_ns=end_ns,
            production_s=round(production_s, 3),
        )

    def watch(self, ctx: RunContext, running: str | None = "a date") -> None:
        """Call on every poll while the system runs: lets the scheduler faults act (a
        crashed scheduler is restarted through the hooks below), then, past the deadline,
        raises RunTimeout naming what is still ``running`` (None: nothing runs any more,
        no deadline check). The harness then calls ``abort``."""
        for fault in ctx.scheduler_faults:
            fault.watch(self, ctx)
        if running is not None and ctx.remaining() <= 0:
            raise RunTimeout(f"{self.name}: {running} still running at the deadline")

    def scheduler_changed(self, ctx: RunContext) -> None:
        """Call when the scheduler's processes changed on their own (e.g. a new driver or
        daemon per date): the scheduler faults see the new ``scheduler_processes``."""
        for fault in ctx.scheduler_faults:
            fault.scheduler_changed(self, ctx)

    def fired_by(self, ctx: RunContext) -> str:
        """Who fires this run's dates: HARNESS (the day loop triggers each date in
        ``run_date``), or the name of the scheduler that does when ``ctx.scheduling`` is
        SYSTEM: the system's own (``"airflow"``), or ``"cron"`` for a system without one.
        Recorded in env.json's ``clock``. Default: the harness."""
        return HARNESS

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the clock the system's scheduler reads (``clock_speed``)."""
        time.sleep(seconds / self.clock_speed)

    # --- hooks of the day loop -----------------------------------------------------------

    def prepare_days(self, ctx: RunContext) -> None:
        """Before the first date: deploy the scenario run's workflow to the system."""

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """A new ``revision`` of ``step``'s module was just committed to the world's code
        repository (``ctx.world.code``): do what this system's users do when they deploy
        new code (re-parse a DAG bundle, re-serve a flow, recompile and resubmit). The
        default does nothing: the next attempt imports the new file."""

    def first_fire(self, ctx: RunContext) -> float:
        """When (epoch s) the first date fires on a scheduler's clock, asked right after
        ``prepare_days``: ``schedule_lead_s`` from now. A runner whose scheduler fires on
        fixed ticks of its own (a cron expression) returns the tick it aligned to, so the
        harness's clock and the scheduler's agree to the tick."""
        return time.time() + self.schedule_lead_s

    def schedule_days(self, ctx: RunContext, clock: DayClock) -> None:
        """A scheduler fires the dates on the real clock: install the schedule so that
        ``clock.dates[k]`` fires at ``clock.fires_at(...)`` (Airflow: a timetable with
        catchup; Prefect: a deployment schedule) and switch it on. Called once, right
        after ``prepare_days``; the first date fires at ``first_fire``."""

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        """Have the system run ``date`` and return once it has finished.

        A system the harness triggers: trigger the date and await it (polling ``watch``).
        A system whose scheduler fires the dates: let the scheduler's clock reach the
        date (cron: start its daemon on that date's clock; on a ``DayClock`` the date
        fires by itself ``WORLD_LEAD_S`` after this call) and await the run it fires,
        polling ``watch``. Return when that run has finished, or when the next date is
        due whatever its state (on a ``DayClock``: the world moves on time; a run still
        running or queued is awaited by a later date or by ``settle``).
        """
        raise NotImplementedError

    def settle(self, ctx: RunContext) -> None:
        """A scheduler fired the dates: after the last one, wait (polling ``watch``)
        until the system has nothing of this run queued or running any more, catch-up
        runs of missed dates included, giving its scheduler the time it takes to create
        them. Runs still waiting at the deadline are the system's (RunTimeout)."""

    def scheduler_down(self, ctx: RunContext, date: dt.date) -> None:
        """``date`` does not fire (the scheduler is down); note it where users would."""

    def stop_scheduler(self, ctx: RunContext) -> None:
        """``missed_days`` on a system-scheduled run: the system's scheduler processes go
        down (the host is down) before the first missed date fires. Stop them as an
        outage would (SIGKILL), with whatever runs under them."""

    def start_scheduler(self, ctx: RunContext) -> None:
        """The outage is over, before the first date after it fires: start the
        scheduler processes again, as the host's boot would. What the system does about
        the dates it missed is its own (catch-up, Late runs, nothing)."""

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """What "the scheduler" is now: name -> pids a scheduler crash kills. Empty when
        a fault inside a step cannot reach it (the adapter then stops it in
        ``scheduler_killed``); raise NotApplicable when the runner does not manage it."""
        return {}

    def scheduler_killed(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        """The scheduler was just killed (``crash``: its record): stop at once what goes
        down with it that the fault could not reach."""

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> bool | None:
        """Bring the scheduler back as a supervisor (systemd, k8s) would; called once the
        crash's ``restart_after_s`` passed on the scheduler's clock. A scheduler that lives
        only while a date runs (a per-day daemon, a driver process) is restarted by
        running that date again: the hook marks it and ``run_date`` does it. Return False
        when nothing was running to restart; otherwise the restart is journaled as
        harness help (``scheduler_restarted``)."""
        return None

    def operator_plan(self, ctx: RunContext, plan: RecoveryPlan) -> RecoveryPlan:
        """What a competent operator of this system decides to re-run, given the minimal
        ``plan`` (what the journal shows broken). The same plan unless re-running one date
        breaks another on this system (shared files overwritten by the re-run); the
        harness journals the decision as one operator intervention, then calls
        ``recover`` with it. ``rerun_cost_ratio`` prices the difference."""
        return plan

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        """After the fix, carry out the operator's decision with the system's own re-run
        mechanism (journal each command typed with ``ctx.operator``)."""
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

    def card(self) -> dict[str, str]:
        """The profile's configuration card (``orchbench.card.ASPECTS`` -> a short phrase),
        built from the configuration the adapter starts the system with; for env.json's
        ``card`` and the report's configuration cards. Empty: every aspect not declared."""
        return {}
