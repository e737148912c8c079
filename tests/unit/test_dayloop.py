"""The base runner owns the day loop: scheduler-level fault kinds plug into it, adapters
implement hooks and never see a fault.

``Paused`` is a scheduler-level fault kind that exists only in this file: the scheduler
is paused for ``seconds`` before the fault's date fires. Nothing outside this file knows
it, so a run that shows its effect shows the base runner handling it for every runner
(the conformance suite's copy of ``clean`` carries it on every runner).
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field

from fault_injection import catalog, runner_faults
from fault_injection.base import FaultKind
from orchbench import harness, plugins
from orchbench.journal import Journal
from orchbench.runner import (
    HARNESS,
    SYSTEM,
    WORLD_LEAD_S,
    DayClock,
    RunContext,
    Runner,
    SchedulerFault,
)
from tests.conftest import REPO, run_context
from tests.unit.fake_runner import InProcessRunner

PAUSE = "test_scheduler_pause"


class PauseParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(1.0, ge=0, le=30)


class Paused(SchedulerFault):
    """Before the fault's date fires: journal the activation, then hold the scheduler."""

    def fires(self, runner: Runner, ctx: RunContext, date: dt.date) -> bool:
        if date == self.scenario.date_of_day(self.spec.day):
            seconds = PauseParams.model_validate(self.spec.params).seconds
            runner_faults.record_activation(
                ctx.journal, self.fault_id, PAUSE, date, run_id=ctx.run_id, seconds=seconds
            )
            time.sleep(seconds)
        return True


class PauseKind(FaultKind):
    name = PAUSE
    expects = "test only: a scheduler pause delays a date and changes nothing else"
    enters = "the scheduler pauses before the fault's date fires"
    fixed_by = "nothing: the pause ends by itself"
    allowed_at: ClassVar[tuple[str, ...]] = ("ingest",)
    Params = PauseParams
    scheduler = Paused
    step_hooks = False


@pytest.fixture
def pause_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """The test kind in the catalog, for this test only."""
    monkeypatch.setitem(catalog.KINDS, PAUSE, PauseKind())
    return PAUSE


def pause_scenario(tmp_path: Path, seconds: float = 1.0, rows: int = 800) -> Path:
    p = tmp_path / "paused.yaml"
    p.write_text(
        "schema: orchbench.scenario/1\n"
        "name: paused\n"
        "claim: a test scenario claim\n"
        "days: 2\n"
        f"data: {{rows_per_day: {rows}, seed: 5}}\n"
        f"faults: [{{kind: {PAUSE}, day: 2, at: ingest, params: {{seconds: {seconds}}}}}]\n"
    )
    return p


def assert_paused_and_correct(run_dir: Path, seconds: float = 1.0) -> None:
    """From the journal: the pause was journaled once, between date 1's last attempt and
    date 2's first, and held date 2 back ``seconds``; the run completed and is correct."""
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed", record["reason"]
    journal = Journal.load(run_dir / "journal.jsonl")
    [pause] = [f for f in journal.faults if f["kind"] == PAUSE]
    assert pause["logical_date"] == "2026-01-02" and pause["detail"] == {"seconds": seconds}
    day1 = [a for a in journal.attempts if a.logical_date == "2026-01-01"]
    day2 = [a for a in journal.attempts if a.logical_date == "2026-01-02"]
    assert day1 and day2
    assert max(a.end_ns or a.start_ns for a in day1) <= pause["t_ns"]
    assert min(a.start_ns for a in day2) >= pause["t_ns"] + seconds * 1e9
    assert record["metrics"]["final_state_correct"]


def test_a_kind_defined_here_is_handled_by_the_base_runner(pause_kind: str, tmp_path: Path) -> None:
    runner = InProcessRunner(repo_root=REPO)
    assert pause_kind not in getattr(runner, "runner_faults", frozenset())
    out = harness.run_scenario(
        pause_scenario(tmp_path), runner.name, out_root=tmp_path / "runs", runner=runner
    )
    assert_paused_and_correct(out)


class _Recording(Runner):
    """Records the hook calls of the day loop (no system)."""

    name = "recording"
    system = "none"

    def __init__(self) -> None:
        super().__init__(repo_root=REPO)
        self.calls: list[str] = []
        self.procs = {"sched": [101]}

    def prepare_days(self, ctx: RunContext) -> None:
        self.calls.append("prepare")

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        self.calls.append(f"run {date}")
        self.watch(ctx)

    def scheduler_down(self, ctx: RunContext, date: dt.date) -> None:
        self.calls.append(f"down {date}")

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        return self.procs

    def scheduler_killed(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        self.calls.append(f"killed {crash['fault_id']}")

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        self.calls.append("restart")
        self.procs = {"sched": [202]}


def _ctx(tmp_path: Path, faults: str, days: int = 3) -> RunContext:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"schema: orchbench.scenario/1\nname: s\nclaim: a test scenario claim\ndays: {days}\n"
        f"faults: {faults}\n"
    )
    from orchbench.scenario import load_scenario

    scenario = load_scenario(path)
    return run_context(
        tmp_path, scenario, "recording", scheduler_faults=catalog.scheduler_faults(scenario)
    )


def test_missed_days_skips_the_down_dates_and_journals_once(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "[{kind: missed_days, day: 2, at: ingest, params: {days: 1}}]")
    runner = _Recording()
    runner.run_days(ctx)
    assert runner.calls == ["prepare", "run 2026-01-01", "down 2026-01-02", "run 2026-01-03"]
    [f] = Journal.load(ctx.journal).faults
    assert f["kind"] == "missed_days" and f["logical_date"] == "2026-01-02"
    assert f["detail"] == {"dates": ["2026-01-02"]}


def test_a_crash_record_restarts_the_scheduler_once_and_registers_it_again(
    tmp_path: Path,
) -> None:
    faults = "[{kind: scheduler_crash, day: 1, at: train, params: {restart_after_s: 0}}]"
    ctx = _ctx(tmp_path, faults, days=1)
    runner = _Recording()
    runner.prepare_days(ctx)
    for fault in ctx.scheduler_faults:
        fault.start(runner, ctx)
    assert runner_faults.registered(ctx.world) == {"sched": [101]}
    # what the step hook does (pid 101 does not exist: nothing is signalled)
    runner_faults.kill_registered(ctx.world, "f1", 0.0)
    runner.watch(ctx)
    runner.watch(ctx)
    assert runner.calls == ["prepare", "killed f1", "restart"]
    assert runner_faults.registered(ctx.world) == {"sched": [202]}


class _Compressing(_Recording):
    """A date whose scheduler idles on a compressed clock: about 0.05 s real for 600 s."""

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        super().run_date(ctx, date)
        t = time.time_ns()
        time.sleep(0.05)
        self.compressed_wait(ctx, t, time.time_ns(), 600.0)


def test_dates_fire_one_schedule_interval_apart_on_the_production_clock(tmp_path: Path) -> None:
    """The wait the loop journals between two dates is the interval less the date's own
    production length (its real time plus what its compressed waits stand for), so fire to
    fire is one interval, not one interval plus the date's waits."""
    from orchbench.runner import SCHEDULE_INTERVAL_S
    from orchbench.signals import production_s

    ctx = _ctx(tmp_path, "[]", days=3)
    _Compressing().run_days(ctx)
    j = Journal.load(ctx.journal)
    waits = [h for h in j.harness if h["event"] == "compressed_wait"]
    assert [w["production_s"] for w in waits[::2]] == [600.0] * 3  # the dates' own waits
    gaps = waits[1::2]  # the loop's, before dates 2 and 3
    assert len(gaps) == 2
    # date 2 fired when the first gap ended, date 3 when the second did
    fire_to_fire = production_s(j, int(gaps[0]["end_ns"]), int(gaps[1]["end_ns"]))
    assert fire_to_fire == pytest.approx(SCHEDULE_INTERVAL_S, abs=0.01)


class _Scheduled(_Recording):
    """A system whose own scheduler fires the dates on a 0.3 s day."""

    day_s = 0.3
    schedule_lead_s = 1.1

    def fired_by(self, ctx: RunContext) -> str:
        return self.system if ctx.scheduling == SYSTEM else HARNESS

    def schedule_days(self, ctx: RunContext, clock: DayClock) -> None:
        self.calls.append(f"schedule {len(clock.dates)} dates")
        self.clock = clock

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        late = time.time() - self.clock.fires_at(date)
        self.calls.append(f"await {date}")
        assert -WORLD_LEAD_S - 0.1 < late < 0  # the world moved just before it fires

    def stop_scheduler(self, ctx: RunContext) -> None:
        self.calls.append("stop")

    def start_scheduler(self, ctx: RunContext) -> None:
        self.calls.append("start")

    def settle(self, ctx: RunContext) -> None:
        self.calls.append("settle")


def test_a_scheduler_fired_run_waits_on_its_clock_and_stops_the_scheduler_for_an_outage(
    tmp_path: Path,
) -> None:
    ctx = _ctx(tmp_path, "[{kind: missed_days, day: 2, at: ingest, params: {days: 1}}]")
    ctx.scheduling = SYSTEM
    runner = _Scheduled()
    runner.system = "sched"
    runner.run_days(ctx)
    assert runner.calls == [
        "prepare",
        "schedule 3 dates",
        "await 2026-01-01",
        "stop",
        "down 2026-01-02",
        "start",
        "await 2026-01-03",
        "settle",
    ]
    j = Journal.load(ctx.journal)
    events = [(h["event"], h.get("logical_date")) for h in j.harness]
    assert events[:4] == [
        ("services_ready", None),
        ("date_due", "2026-01-01"),
        ("compressed_wait", None),
        ("date_due", "2026-01-02"),
    ]
    assert ("scheduler_stopped", None) in events and ("scheduler_started", None) in events
    assert {h["fired_by"] for h in j.harness if h["event"] == "date_due"} == {"sched"}
    # harness-fired (the scenario is not about the scheduler): no clock, no stop or start
    (tmp_path / "h").mkdir()
    ctx2 = _ctx(tmp_path / "h", "[{kind: missed_days, day: 2, at: ingest, params: {days: 1}}]")
    again = _Scheduled()
    again.system = "sched"
    again.run_date = lambda ctx, date: again.calls.append(f"run {date}")  # type: ignore[method-assign]
    again.run_days(ctx2)
    assert again.calls == ["prepare", "run 2026-01-01", "down 2026-01-02", "run 2026-01-03"]


def test_an_idle_window_sits_between_the_system_up_and_the_first_date(tmp_path: Path) -> None:
    """``RunContext.idle_s`` (``orchbench footprint``): nothing is asked of the runner for
    that long after ``prepare_days``, and the journal brackets the window."""
    ctx = _ctx(tmp_path, "[]", days=1)
    ctx.idle_s = 0.3
    runner = _Recording()
    runner.run_days(ctx)
    j = Journal.load(ctx.journal)
    times = {h["event"]: h["t_ns"] for h in j.harness}
    assert [h["event"] for h in j.harness][:3] == ["services_ready", "idle_finished", "date_due"]
    assert times["idle_finished"] - times["services_ready"] >= 0.3e9
    assert runner.calls[0] == "prepare"


def test_the_deadline_is_the_base_runners(tmp_path: Path) -> None:
    from orchbench.runner import RunTimeout

    ctx = _ctx(tmp_path, "[]")
    ctx.deadline = time.monotonic() - 1
    with pytest.raises(RunTimeout, match="deadline reached before 2026-01-01"):
        _Recording().run_days(ctx)
    with pytest.raises(RunTimeout, match="recording: a date still running at the deadline"):
        _Recording().watch(ctx)
    _Recording().watch(ctx, None)  # nothing running: no deadline check


def test_no_runner_overrides_the_day_loop() -> None:
    classes = [p.adapter_class() for p in plugins.all_plugins().values()] + [InProcessRunner]
    for cls in classes:
        assert cls.run_days is Runner.run_days, cls.__name__
        assert cls.watch is Runner.watch, cls.__name__


def test_no_runner_module_imports_the_scheduler_fault_code() -> None:
    """Adapters see scheduler faults only through the runner's hooks."""
    for path in sorted((REPO / "runners").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith("fault_injection.runner_faults"), path
                assert not name.startswith("fault_injection.kinds.scheduler_crash"), path
                assert not name.startswith("fault_injection.kinds.missed_days"), path
