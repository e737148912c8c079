"""The Metaflow runner's own quirks, read from the conformance suite's runs (2 days, default
profile, Metaflow 2.19.39's local runtime): ``@retry`` has no condition (validate is
retried on bad data), ``@timeout`` ends a hung step with no help from the adapter, a
killed task is retried by the runtime, ``@exit_hook`` alerts, recovery is ``resume``
(cloned tasks carry ``origin-run-id``), a killed runtime leaves its run unfinished, and
nothing lands in HOME or the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchbench.journal import Journal
from orchbench.trace import read_trace
from tests.conformance.bench import Bench

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venvs" / "metaflow" / "bin" / "python"
DAY2 = "2026-01-02"
RUNNER = "metaflow"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VENV.exists(), reason=".venvs/metaflow missing: run `make setup`"),
]


def conformance_run(
    conformance: Bench, scenario: str
) -> tuple[dict[str, Any], Journal, list[dict[str, Any]], Path]:
    """The conformance suite's run of ``scenario`` on Metaflow."""
    out = conformance.run_dir(RUNNER, scenario)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed", record["reason"]
    return record, Journal.load(out / "journal.jsonl"), read_trace(out / "native.jsonl"), out


def attempts(trace: list[dict[str, Any]], date: str, step: str) -> list[dict[str, Any]]:
    return [
        r
        for r in trace
        if r["kind"] == "task_attempt" and r["logical_date"] == date and r["step"] == step
    ]


def test_schema_break_retried_without_condition_alerted_and_resumed(conformance: Bench) -> None:
    record, journal, trace, _ = conformance_run(conformance, "schema_break")
    m = record["metrics"]
    fix = journal.harness_time("fix_applied")
    assert fix is not None
    before = [a for a in journal.attempts if a.logical_date == DAY2 and a.start_ns < fix]
    # @retry has no condition: validate ran 1 + retries times; nothing downstream ran
    assert {a.step for a in before} == {"ingest", "validate"}
    failed = [a for a in before if a.step == "validate"]
    assert all(a.status == "failed" for a in failed)
    assert m["attempts_before_fix"] == len(failed) > 1
    # the exit hook's message, with the date and the failed step from the Run object
    alerts = [r for r in trace if r["kind"] == "alert"]
    assert any(a["logical_date"] == DAY2 and a["step"] == "validate" for a in alerts)
    # recovery is one `resume` typed by the operator; Metaflow cloned the finished start
    cmds = [a["command"] for a in journal.operator_actions]
    assert len(cmds) == 1 and " resume " in f" {cmds[0]} " and "--origin-run-id" in cmds[0]
    runs = [r for r in trace if r["kind"] == "run_state" and r["logical_date"] == DAY2]
    assert [(r["finished"], r["successful"]) for r in runs] == [(False, False), (True, True)]
    assert [r["state"] for r in runs] == ["unknown", "success"]  # a failed run is unfinished
    assert m["stale_executions"] == 0 and m["bad_model_deployed"] is False


def test_hang_ended_by_metaflow_timeout_not_by_the_adapter(conformance: Bench) -> None:
    record, _, trace, _ = conformance_run(conformance, "hang")
    m = record["metrics"]
    assert "timeout_kill" not in m["harness_assists"]
    assert m["human_actions"] == 0 and m["recovered"] is True
    states = [r["state"] for r in attempts(trace, DAY2, "train")]
    assert states == ["failed", "success"]  # @timeout raised in the task; @retry ran it again
    (first,) = [r for r in attempts(trace, DAY2, "train") if r["state"] == "failed"]
    assert first["run"] == attempts(trace, DAY2, "train")[-1]["run"]  # the same run


def test_killed_task_retried_by_the_runtime(conformance: Bench) -> None:
    record, _, trace, _ = conformance_run(conformance, "crash")
    assert record["metrics"]["human_actions"] == 0
    states = [(r["state"], r["metaflow_attempt"]) for r in attempts(trace, DAY2, "featurize")]
    # the killed attempt left no attempt_ok: Metaflow shows only that attempt 1 followed it
    assert states == [("crashed", 0), ("success", 1)]


def test_killed_runtime_leaves_its_run_unfinished_and_is_resumed(conformance: Bench) -> None:
    record, _, trace, out = conformance_run(conformance, "scheduler_crash")
    env = json.loads((out / "env.json").read_text())
    assert env["clock"]["fired_by"] == "cron"
    runs = [r for r in trace if r["kind"] == "run_state" and r["logical_date"] == DAY2]
    assert runs[0]["finished"] is False  # what Metaflow shows after kill -9 of the runtime
    assert runs[-1]["successful"] is True
    cloned = [
        r
        for r in trace
        if r["kind"] == "task_attempt" and r["logical_date"] == DAY2 and r["state"] == "cached"
    ]
    origin = runs[0]["run"].rsplit("/", 1)[1]
    assert cloned and all(r["origin_run"] == origin for r in cloned)
    assert record["metrics"]["harness_assists"] == {}  # cron never restarts it; the operator


def test_nothing_written_to_home_or_the_repository(conformance: Bench) -> None:
    _, _, _, out = conformance_run(conformance, "clean")
    assert not (REPO / ".metaflow").exists()
    assert not list(REPO.glob("runners/metaflow/.metaflow*"))
    home = Path.home()
    assert not (home / ".metaflow").exists() and not (home / ".metaflowconfig").exists()
    settings = json.loads((out / "env.json").read_text())
    assert "metaflow" in json.dumps(settings).lower()
