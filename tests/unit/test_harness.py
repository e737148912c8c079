"""The harness's run sequence with an in-process test double of the runner contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench import harness
from orchbench.journal import Journal
from tests.conftest import REPO, make_scenario
from tests.unit.fake_runner import DOUBLE, InProcessRunner, register

SMALL = """schema: orchbench.scenario/1
name: {name}
claim: a harness test scenario
days: 2
data: {{rows_per_day: 800, seed: 5}}
policy: {{retries: 0, retry_delay_s: 0, timeout_s: 30}}
faults: {faults}
"""


@pytest.fixture
def scenario_file(tmp_path: Path):
    def make(name: str = "small", faults: str = "[]") -> Path:
        p = tmp_path / f"{name}.yaml"
        p.write_text(SMALL.format(name=name, faults=faults))
        return p

    return make


def _run(path: Path, out: Path, profile: str = "default", **kw) -> Path:
    runner = InProcessRunner(profile=profile, repo_root=REPO)
    return harness.run_scenario(path, runner.name, profile, out, runner=runner, **kw)


def test_clean_run_is_published_complete(
    scenario_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    out = tmp_path / "runs"
    d = _run(scenario_file(), out)
    assert d.parent == out / "small" / DOUBLE.name and not d.name.startswith(".tmp")
    for f in ("scenario.yaml", "env.json", "journal.jsonl", "native.jsonl", "run.json"):
        assert (d / f).is_file(), f
    run = json.loads((d / "run.json").read_text())
    assert run["schema"] == "orchbench.run/6" and run["status"] == "completed"
    m = run["metrics"]
    assert m["final_state_correct"] and m["recovered"] and not m["alerted"] and not m["visible"]
    assert m["steps_executed"] == 14 and m["stale_executions"] == 0
    journal = Journal.load(d / "journal.jsonl")
    assert [a["attempt_id"] for a in run["attempts"]] == [a.attempt_id for a in journal.attempts]
    assert not any(a["stale"] or a["tainted"] or a["wasted"] for a in run["attempts"])
    assert not (d / "work").exists()  # artifacts are not kept unless asked
    env = json.loads((d / "env.json").read_text())
    assert env["runner"] == DOUBLE.name and env["machine"]["cores"] >= 1
    # from the double's plugin.py: its version key and its caveats
    assert env["system_version"] == f"orchbench {env['versions']['orchbench']}"
    assert env["notes"] == [n.text for n in DOUBLE.notes]
    assert [p.name for p in (out / "small" / DOUBLE.name).iterdir()] == [d.name]


def test_schema_break_is_recovered_from_the_plan(scenario_file, tmp_path: Path) -> None:
    faults = "[{kind: schema_break, day: 2, at: ingest, params: {drop: [hour]}}]"
    d = _run(scenario_file("sb", faults), tmp_path / "runs")
    run = json.loads((d / "run.json").read_text())
    assert run["recovery_plan"] == {"2026-01-02": "ingest"}
    m = run["metrics"]
    assert m["visible"] and m["visible_s"] >= 0
    assert m["human_actions"] == 1 and m["final_state_correct"] and m["recovered"]
    assert m["stale_executions"] == 0 and m["rerun_cost_ratio"] is not None
    # run.json's per-attempt classification is the one the metrics count
    att = run["attempts"]
    assert len(att) == m["steps_executed"] and m["tainted_executions"] > 0
    for key, metric in (("tainted", "tainted_executions"), ("failed", "failed_attempts")):
        assert sum(a[key] for a in att) == m[metric]
    events = [h["event"] for h in Journal.load(d / "journal.jsonl").harness]
    assert events == [
        "run_started",
        "services_ready",  # prepare_days returned
        "date_due",
        "compressed_wait",  # the schedule interval between the two dates
        "date_due",
        "days_finished",
        "fix_applied",
        "recovery_started",
        "recovery_finished",
        "run_finished",
    ]


@pytest.mark.parametrize(("profile", "status"), [("boom", "harness_error"), ("slow", "timeout")])
def test_failed_runs_are_recorded_not_dropped(scenario_file, tmp_path, profile, status) -> None:
    before = InProcessRunner.aborted
    d = _run(scenario_file(), tmp_path / "runs", profile=profile)
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == status and run["reason"]
    assert InProcessRunner.aborted == before + 1


def test_interrupted_run_leaves_nothing(scenario_file, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        _run(scenario_file(), out, profile="interrupt")
    assert list((out / "small" / DOUBLE.name).iterdir()) == []


def test_a_second_interrupt_during_the_abort_still_leaves_nothing(
    scenario_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bench lane gets Ctrl-C, then the bench's forwarded SIGTERM while it aborts."""
    import os
    import signal

    from orchbench import cli

    def abort_hit_again(self: InProcessRunner) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this thread
        type(self).aborted += 1

    monkeypatch.setattr(InProcessRunner, "abort", abort_hit_again)
    old = signal.signal(signal.SIGTERM, cli._sigterm)  # raises KeyboardInterrupt, as in a lane
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(scenario_file(), tmp_path / "runs", profile="interrupt")
        assert signal.getsignal(signal.SIGTERM) is cli._sigterm  # given back
    finally:
        signal.signal(signal.SIGTERM, old)
    assert list((tmp_path / "runs" / "small" / DOUBLE.name).iterdir()) == []


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)


def test_matrix_records_every_owed_run_when_a_runner_cannot_start(
    registered, scenario_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchbench import matrix

    monkeypatch.chdir(tmp_path)  # a relative --out, as the CLI's default is
    cells = matrix.plan_matrix(
        [scenario_file("a"), scenario_file("b")], [DOUBLE.name], ["nostart"], Path("r"), False
    )
    published = matrix.run_matrix(cells, repeat=2, out_root=Path("r"))
    assert len(published) == 4
    for d in published:
        assert d.is_absolute() and d.is_relative_to(tmp_path / "r")
        run = json.loads((d / "run.json").read_text())
        assert run["status"] == "harness_error" and "port already in use" in run["reason"]
    # --resume counts them as done: a broken runner is not retried forever
    again = matrix.plan_matrix(
        [scenario_file("a")], [DOUBLE.name], ["nostart"], Path("r"), resume=True
    )
    assert again[0].done == 2


def test_a_trace_record_that_does_not_fit_is_a_harness_error_not_a_lost_run(
    scenario_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = {"schema": "orchbench.trace/1", "kind": "container", "oom_killed": "maybe"}
    monkeypatch.setattr(InProcessRunner, "collect", lambda self, ctx: [bad])
    d = _run(scenario_file(), tmp_path / "runs")
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == "harness_error" and "native trace" in run["reason"]
    assert "container record" in run["reason"] and run["metrics"] is None
    assert run["attempts"]  # what ran is still classified
    assert json.loads((d / "native.jsonl").read_text()) == bad  # kept, to see what was wrong


def test_a_recovery_that_trusts_the_cache_restarts_whole_dates() -> None:
    from orchbench.harness import decision, operator_start

    plan = {"2026-01-02": "train", "2026-01-03": "evaluate"}
    assert operator_start(make_scenario(), plan).restart_from == plan
    trusting = make_scenario(recovery={"action": "rerun_date"})
    chosen = operator_start(trusting, plan)
    assert chosen.restart_from == {"2026-01-02": "ingest", "2026-01-03": "ingest"}
    assert decision(chosen) == "after the fix, re-run 2026-01-02, 2026-01-03 from ingest"
