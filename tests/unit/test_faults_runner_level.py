"""Runner-level faults: missed_days dates/activation and scheduler_crash killing registered pids."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fault_injection import catalog
from fault_injection import runner_faults as rf
from fault_injection import state as fault_state
from fault_injection.kinds.transient_error import TransientStepError
from fault_injection.scenario_faults import checked, parse_checked
from orchbench.journal import Journal
from orchbench.scenario import ScenarioError
from tests.conftest import make_scenario
from tests.unit.step_helpers import arm_fault, run_one

D1 = "2026-01-01"


def test_outages_cover_n_days_from_the_fault_day() -> None:
    sc = make_scenario(
        days=5, faults=[{"kind": "missed_days", "day": 2, "at": "ingest", "params": {"days": 2}}]
    )
    [o] = rf.outages(sc)
    assert o.dates == (dt.date(2026, 1, 2), dt.date(2026, 1, 3))
    assert o.fault_id == "f1" and o.first == dt.date(2026, 1, 2)


def test_no_outage_without_the_fault() -> None:
    assert rf.outages(make_scenario()) == []


def test_missed_days_past_the_end_is_rejected() -> None:
    text = """
schema: orchbench.scenario/1
name: t
claim: a test scenario claim
days: 3
faults: [{kind: missed_days, day: 3, at: ingest, params: {days: 2}}]
"""
    with pytest.raises(ScenarioError, match=r"faults\.0\.params: .*no day of the 3 after"):
        parse_checked(text, "x.yaml")
    # the scheduler must be back for the last day: an outage ending on it is refused too
    with pytest.raises(ScenarioError, match=r"must be back for at least the last day"):
        parse_checked(text.replace("days: 2}", "days: 1}"), "x.yaml")


def test_missed_days_only_at_ingest() -> None:
    scenario = make_scenario(faults=[{"kind": "missed_days", "day": 1, "at": "train"}])
    with pytest.raises(ScenarioError, match="allowed: ingest"):
        checked(scenario, "x.yaml")


def test_record_activation_writes_a_fault_record(tmp_path: Path) -> None:
    j = tmp_path / "journal.jsonl"
    rf.record_activation(j, "f1", "missed_days", dt.date(2026, 1, 2), run_id="r", dates=["x"])
    [f] = Journal.load(j).faults
    assert f["kind"] == "missed_days" and f["logical_date"] == "2026-01-02"
    assert f["step"] == "ingest" and f["affected"] == [] and f["detail"] == {"dates": ["x"]}


def test_the_scheduler_and_a_step_journal_one_record_shape(small_world, tmp_path: Path) -> None:
    """Both paths use orchbench.contracts.fault_activated: same keys in the same order (the
    journal's bytes), the scheduler's with no attempt."""
    world, journal = small_world
    arm_fault(world, "transient_error", "2026-01-01", "ingest", {"failures": 1})
    with pytest.raises(TransientStepError):
        run_one(world, journal, "ingest", "2026-01-01", tmp_path)
    rf.record_activation(journal, "f2", "missed_days", dt.date(2026, 1, 2), run_id="r1")
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    step, sched = [r for r in lines if r["type"] == "fault_activated"]
    assert list(step) == list(sched) == [
        "type", "t_ns", "fault_id", "kind", "step", "logical_date", "attempt_id", "run_id",
        "affected", "detail",
    ]  # fmt: skip
    assert step["fault_id"] == "f1" and step["attempt_id"] and sched["attempt_id"] is None
    assert step["run_id"] == sched["run_id"] == "r1"


class _R:
    name = "fake"
    runner_faults: frozenset[str] = frozenset()


def test_check_supported_names_the_missing_kind() -> None:
    sc = make_scenario(faults=[{"kind": "scheduler_crash", "day": 1, "at": "train"}])
    assert "scheduler_crash" in (catalog.check_supported(_R(), sc) or "")
    # missed_days needs no adapter hook: the base runner alone takes it, on every runner
    sc2 = make_scenario(faults=[{"kind": "missed_days", "day": 1, "at": "ingest"}])
    assert catalog.check_supported(_R(), sc2) is None
    assert catalog.check_supported(object(), make_scenario()) is None


def test_scheduler_crash_kills_registered_once(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rf.register_scheduler(world, "sched", [victim.pid])
        fault_state.arm(
            world,
            [
                {
                    "kind": "scheduler_crash",
                    "logical_date": D1,
                    "at": "ingest",
                    "params": {"restart_after_s": 1.5},
                }
            ],
        )
        run_one(world, journal, "ingest", D1, tmp_path)
        assert victim.wait(timeout=10) == -9
        run_one(world, journal, "ingest", D1, tmp_path)  # fires once only
    finally:
        victim.kill()
        victim.wait()
    j = Journal.load(journal)
    [f] = j.faults
    assert f["detail"]["killed"] == [{"name": "sched", "pid": victim.pid}]
    assert f["attempt_id"] == j.attempts[0].attempt_id
    assert [a.status for a in j.attempts] == ["success", "success"]
    [c] = rf.crashes(world)
    assert c["fault_id"] == "f1" and c["restart_after_s"] == 1.5


def test_scheduler_crash_with_nothing_registered_still_records(small_world, tmp_path) -> None:
    world, journal = small_world
    fault_state.arm(
        world, [{"kind": "scheduler_crash", "logical_date": D1, "at": "ingest", "params": {}}]
    )
    run_one(world, journal, "ingest", D1, tmp_path)
    [f] = Journal.load(journal).faults
    assert f["detail"]["killed"] == []


def _late(tmp_path: Path, day: int, delay_s: float):
    """A prepared world with one armed late_data fault, its handler and a bare runner."""
    from orchbench.runner import Runner
    from orchbench.workflow.data import prepare_world
    from tests.conftest import run_context

    fault = {"kind": "late_data", "day": day, "at": "ingest", "params": {"delay_s": delay_s}}
    scenario = make_scenario(faults=[fault])
    ctx = run_context(
        tmp_path, scenario, "double", scheduler_faults=catalog.scheduler_faults(scenario)
    )
    prepare_world(ctx.world.root, scenario)
    date = scenario.date_of_day(day).isoformat()
    fault_state.arm(ctx.world, [{**fault, "logical_date": date}])
    return ctx, ctx.scheduler_faults[0], Runner.__new__(Runner), scenario.logical_dates()


def test_late_data_is_withheld_as_the_date_fires_and_lands_after_the_delay(tmp_path) -> None:
    """The world moves on the harness's clock: withheld when the date is due, landed on
    the first watch ``delay_s`` later, whatever the system does meanwhile."""
    from fault_injection import hooks

    ctx, late, runner, (d1, d2) = _late(tmp_path, 2, 0.3)
    landing = ctx.world.landing_partition(d2)
    assert late.fires(runner, ctx, d1) and ctx.world.landing_partition(d1).is_file()
    assert late.fires(runner, ctx, d2) and not landing.exists()
    late.watch(runner, ctx)
    assert not landing.exists()  # too early
    time.sleep(0.35)
    late.watch(runner, ctx)
    assert landing.is_file()
    j = Journal.load(ctx.journal)
    [f] = j.faults
    assert f["kind"] == "late_data" and f["detail"]["delay_s"] == 0.3
    assert [h["event"] for h in j.harness] == ["data_landed"]
    hooks.fix_all(ctx.world)  # already landed: the fix leaves it
    assert landing.is_file()


def test_late_data_the_fix_lands_a_partition_still_withheld(tmp_path) -> None:
    from fault_injection import hooks

    ctx, late, runner, (d1, _) = _late(tmp_path, 1, 600)
    late.fires(runner, ctx, d1)
    assert not ctx.world.landing_partition(d1).exists()
    hooks.fix_all(ctx.world)
    assert ctx.world.landing_partition(d1).is_file()
