"""What every system must do, checked on every runner's conformance runs.

One ``orchbench bench`` (``bench.py``) runs the short scenarios (``scenarios.py``) on
every runner the harness discovers; each property below is one test per runner (and
scenario), reading only the published run directories. None depends on how the dates
were fired (by the harness or by the system's own scheduler).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fault_injection.catalog import check_supported
from fault_injection.scenario_faults import load_checked
from orchbench import harness
from orchbench.journal import Journal
from orchbench.runner import SCHEDULER_STOPPED
from orchbench.trace import read_trace
from orchbench.workflow.spec import STEP_NAMES
from tests.conformance import scenarios
from tests.conformance.bench import Bench, runner_names
from tests.unit.test_dayloop import assert_paused_and_correct

pytestmark = pytest.mark.slow

RUNNERS = runner_names()
SCENARIOS = list(scenarios.SCENARIOS)
# what a system records when it says a step's code ran to an end (or was cut)
RAN = ("success", "failed", "crashed")


def run_json(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def _spans(record: dict[str, Any], times: list[int]) -> bool:
    """Whether one of ``times`` falls within the native attempt's own start and end."""
    start, end = record.get("start_ns"), record.get("end_ns")
    return start is not None and end is not None and any(start < t < end for t in times)


def completed(bench: Bench, runner: str, scenario: str) -> tuple[Path, dict[str, Any]]:
    """The run, which must have completed (a not-applicable one skips the test)."""
    d = bench.run_dir(runner, scenario)
    run = run_json(d)
    if run["status"] == "not_applicable":
        pytest.skip(f"{scenario} not applicable on {runner}: {run['reason']}")
    assert run["status"] == "completed", run["reason"]
    return d, run


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_runs_to_the_end_or_is_refused_with_the_reason(
    conformance: Bench, runner: str, scenario: str
) -> None:
    """A run completes, unless the runner does not implement one of the scenario's
    scheduler-level faults: then it is ``not_applicable`` and the reason names them."""
    d = conformance.run_dir(runner, scenario)
    run = run_json(d)
    with scenarios.set_up():  # a fault kind a test defines
        scenario = load_checked(d / "scenario.yaml")
        refusal = check_supported(harness.make_runner(runner, "default"), scenario)
    if refusal:
        assert (run["status"], run["reason"]) == ("not_applicable", refusal)
    else:
        assert run["status"] == "completed", run["reason"]
        assert run["metrics"] is not None


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_journal_and_native_trace_agree(conformance: Bench, runner: str, scenario: str) -> None:
    """The system's records and the journal tell of the same attempts, narrowly:

    - every native ``task_attempt`` of a workflow step (a system's own tasks, such as
      Airflow's ``deploy_gate``, have no journal) saying the step ran (``success``, ``failed``,
      ``crashed``) is of a (date, step) the journal has an attempt of, and the system
      never records more such attempts of a (date, step) than the journal has, except
      attempts the system records as cut by a signal (``interrupted``): the signal can
      land between the system starting the step and the step's code starting (Dagster's
      SIGTERM forwarded to a step process in a scheduler_crash run, clean-clone CI of
      d123864); and except attempts the harness cut, a kill of its own within the
      attempt's start and end: a stop of the scheduler (``scheduler_stopped``), which can
      take the task processes the scheduler supervises, or its timeout kill of that date
      and step (the ``timeout_kill`` help). Either can land before the step's code
      journals its start (clean-clone CIs of e00be85 and 5dccb0a, a machine a quarter
      slower than in the morning: Airflow's ``train`` of date 1 in ``missed_days``,
      started 1.2 s before the scheduler's kill and recorded failed once the restarted
      scheduler reset it as orphaned; kfp's healthy ``train`` of date 1 in ``hang``,
      killed twice at the 6-s timeout before it journaled);
    - every (date, step) the journal shows succeeding has a native ``task_attempt``
      (in any state: a cache hit, a retry...).

    Whether the system calls an attempt a success the journal calls failed is not
    checked here: that disagreement is data (the run's metrics count it)."""
    d, _ = completed(conformance, runner, scenario)
    journal = Journal.load(d / "journal.jsonl")
    trace = read_trace(d / "native.jsonl")
    attempts = [r for r in trace if r["kind"] == "task_attempt" and r["step"] in STEP_NAMES]
    journaled = Counter((a.logical_date, a.step) for a in journal.attempts)
    stops = [int(h["t_ns"]) for h in journal.harness if h.get("event") == SCHEDULER_STOPPED]
    kills: dict[tuple[str, str], list[int]] = {}
    for h in journal.assists:
        if h["assist"] == "timeout_kill" and h.get("step"):
            kills.setdefault((h.get("logical_date"), h["step"]), []).append(int(h["t_ns"]))
    native_ran = Counter(
        (r["logical_date"], r["step"])
        for r in attempts
        if r["state"] in RAN
        and not r.get("interrupted")
        and not _spans(r, [*stops, *kills.get((r["logical_date"], r["step"]), [])])
    )
    assert {k: n for k, n in native_ran.items() if n > journaled[k]} == {}
    succeeded = {(a.logical_date, a.step) for a in journal.attempts if a.status == "success"}
    assert succeeded - {(r["logical_date"], r["step"]) for r in attempts} == set()


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_final_state_correct_and_recovered(conformance: Bench, runner: str, scenario: str) -> None:
    """After the operator's fix (and the recovery the run needed) the serving model is the
    oracle's and every date was produced."""
    _, run = completed(conformance, runner, scenario)
    m = run["metrics"]
    assert (m["final_state_correct"], m["recovered"]) == (True, True)


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_test_only_scheduler_fault_takes_effect(conformance: Bench, runner: str) -> None:
    """``clean``'s copy carries a scheduler-level fault kind defined only in a test
    (``tests/unit/test_dayloop.py``), handled by the base runner's day loop, no adapter
    knowing it; cron's own daemon fires the dates, the others are triggered by the
    harness. The pause is journaled once, between date 1 and date 2, and holds date 2;
    the other properties of the clean run hold with it (the tests over every scenario)."""
    assert_paused_and_correct(conformance.run_dir(runner, "clean"))


@pytest.mark.parametrize("runner", RUNNERS)
def test_nothing_left_running(conformance: Bench, runner: str) -> None:
    """After the runner's bench lane ended, no process mentions any of its run directories
    or its services directory (command line, environment or working directory)."""
    conformance.run_dir(runner, SCENARIOS[0])  # skips an unavailable runner
    assert conformance.leftovers[runner] == []


@pytest.mark.parametrize("runner", RUNNERS)
def test_listens_on_loopback_only_while_running(conformance: Bench, runner: str) -> None:
    """Sampled every second while the runner's lane ran its runs: no process of it (its
    system's services, task processes, containers' shims...) listened on anything but
    127.0.0.0/8 or ::1 (TCP LISTEN or unconnected UDP)."""
    conformance.run_dir(runner, SCENARIOS[0])  # skips an unavailable runner
    assert conformance.samples.get(runner, 0) > 0
    assert sorted(conformance.public.get(runner, ())) == []


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results tree for the refusals (the oracle is computed once, then cached)."""
    return tmp_path_factory.mktemp("refusals")


@pytest.mark.parametrize("runner", RUNNERS)
def test_unsupported_scheduler_fault_is_refused_before_anything_starts(
    runner: str, refusals: Path
) -> None:
    """A runner that does not implement a scheduler-level fault (here: one told it
    implements none, as a remote deployment is) publishes ``not_applicable`` naming the
    fault, without starting its system."""
    try:
        r = harness.make_runner(runner, "default")
    except RuntimeError as e:  # EnvironmentMissing
        pytest.skip(str(e))
    r.runner_faults = frozenset()
    d = harness.run_scenario(
        scenarios.write(refusals / "scenarios") / "scheduler_crash.yaml",
        runner,
        out_root=refusals / "runs",
        runner=r,
    )
    run = run_json(d)
    assert run["status"] == "not_applicable"
    assert "scheduler_crash" in run["reason"] and runner in run["reason"]
    assert Journal.load(d / "journal.jsonl").attempts == []
    ran = [r for r in read_trace(d / "native.jsonl") if r["kind"] in ("task_attempt", "run_state")]
    assert ran == []


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_native_trace_exports_as_valid_openlineage(conformance: Bench, runner: str) -> None:
    """``orchbench export-lineage`` of the schema_break run: events of every attempt the
    system recorded, each valid against the shipped OpenLineage spec, in both views."""
    from orchbench.lineage_events import export_run, validate

    d, _ = completed(conformance, runner, "schema_break")
    attempts = [r for r in read_trace(d / "native.jsonl") if r["kind"] == "task_attempt"]
    for native in (False, True):
        made = export_run(d, native=native)
        assert made.events, runner
        assert [p for e in made.events for p in validate(e)] == []
    starts = [e for e in export_run(d).events if e["eventType"] == "START"]
    timed = [r for r in attempts if r.get("start_ns") is not None or r.get("end_ns") is not None]
    assert len(starts) == len(timed)


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_native_trace_declares_what_the_definition_holds(
    conformance: Bench, runner: str
) -> None:
    """A completed clean run's native trace carries one ``declared`` record (what the
    pipeline's definition declares, as the system holds it), naming where it was read:
    the report's static capability cells (typed artifacts, GPU control) read it, and
    without one they say "not recorded"."""
    d, _ = completed(conformance, runner, "clean")
    found = [r for r in read_trace(d / "native.jsonl") if r["kind"] == "declared"]
    assert len(found) == 1, f"{len(found)} declared records"
    assert found[0]["source"]
