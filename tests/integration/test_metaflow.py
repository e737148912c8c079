"""The Metaflow runner's own quirks, read from the conformance suite's runs (2 days, default
profile, Metaflow 2.19.39's local runtime): ``@retry`` has no condition (validate is
retried on bad data), ``@timeout`` ends a hung step with no help from the adapter, a
killed task is retried by the runtime, ``@exit_hook`` alerts, recovery is ``resume``
(cloned tasks carry ``origin-run-id``), a killed runtime leaves its run unfinished, and
nothing lands in HOME or the repository; no process of it is left after a run
(``tests/conformance/test_properties.py::test_nothing_left_running``), a Ctrl-C or a
deadline (here)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from orchbench.journal import Journal
from orchbench.trace import read_trace
from tests.conformance.bench import Bench
from tests.integration.leftovers import (
    interrupt_after_a_step,
    processes_mentioning,
    wait_for_a_step,
)
from tests.integration.terminal import sigint_default

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venvs" / "metaflow" / "bin" / "python"
DAY2 = "2026-01-02"
RUNNER = "metaflow"
ORCHBENCH = REPO / ".venv" / "bin" / "orchbench"
# ingest hangs on day 1 far longer than any deadline here (@timeout 600 s), so a Ctrl-C or
# the run's deadline finds Metaflow's runtime and a task process running
HUNG = """schema: orchbench.scenario/1
name: hung_ingest
claim: test only, a Metaflow run stopped mid-step leaves nothing behind
days: 1
data: {rows_per_day: 800, seed: 5}
policy: {retries: 0, retry_delay_s: 0, timeout_s: 600}
faults: [{kind: hang, day: 1, at: ingest, params: {mode: sleep, attempts: 1}}]
"""

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
    record, journal, trace, _ = conformance_run(conformance, "hang")
    m = record["metrics"]
    assert m["harness_assists"] == {}  # no help of any kind: no kill, no restart
    assert m["human_actions"] == 0 and m["recovered"] is True
    # the hung attempt ended by Metaflow's @timeout raising in the task, which the step
    # wrapper journaled as the attempt's error (a kill from outside leaves no error)
    (hung,) = [
        a
        for a in journal.attempts
        if a.logical_date == DAY2 and a.step == "train" and a.attempt == 1
    ]
    assert (hung.status, hung.error_type) == ("failed", "TimeoutException")
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


def _metaflow_dirs() -> list[Path]:
    """Every ``.metaflow`` directory in the checkout (Metaflow's default local datastore is
    ``.metaflow`` in the working directory), venvs and results aside."""
    found = []
    skip = {".git", ".venv", ".venvs", ".tools", "results"}
    for root, dirs, _ in os.walk(REPO):
        found += [Path(root) / d for d in dirs if d.startswith(".metaflow")]
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".metaflow")]
    return found


def _tree(root: Path) -> dict[str, int]:
    """Every path under ``root`` with its size (directories 0)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size if p.is_file() else 0)
        for p in sorted(root.rglob("*"))
    }


def test_nothing_written_to_home_or_the_repository(conformance: Bench) -> None:
    _, _, trace, out = conformance_run(conformance, "clean")
    assert _metaflow_dirs() == []
    home = Path.home()
    assert not (home / ".metaflow").exists() and not (home / ".metaflowconfig").exists()
    # Metaflow did write its records (read back through its Client API), in the run's
    # work dir: the checks above are not passing for want of a run
    assert any(r["kind"] == "task_attempt" and r["source"] == "metaflow-client" for r in trace)
    settings = json.loads((out / "env.json").read_text())["settings"]
    assert "run's work dir" in settings["datastore"]


def _orchbench_run(tmp_path: Path, home: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``orchbench run`` of the hung scenario with ``HOME`` a fresh directory of its own."""
    scenario = tmp_path / "hung_ingest.yaml"
    scenario.write_text(HUNG)
    cmd = [str(ORCHBENCH), "run", str(scenario), "--runner", RUNNER]
    cmd += ["--out", str(tmp_path / "runs"), *extra]
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, "HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=sigint_default,
    )


def _home(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text("# here before the run\n")
    return home, _tree(home)


def test_ctrl_c_leaves_no_process_and_nothing_in_home(tmp_path: Path) -> None:
    """Ctrl-C while Metaflow's runtime runs a (hung) task: the CLI exits 130, no process
    mentions the run's directories, HOME is as it was, no run directory is published."""
    home, before = _home(tmp_path)
    runs = tmp_path / "runs"
    proc = _orchbench_run(tmp_path, home)
    interrupt_after_a_step(proc, runs, str(runs))
    assert _tree(home) == before
    assert _metaflow_dirs() == []


def test_a_run_past_its_deadline_leaves_no_process_and_nothing_in_home(tmp_path: Path) -> None:
    """The run's deadline (``--timeout``) reached while the task hangs: the run is
    published as a timeout, no process mentions its directories, HOME is as it was."""
    home, before = _home(tmp_path)
    runs = tmp_path / "runs"
    proc = _orchbench_run(tmp_path, home, "--timeout", "60")
    try:
        wait_for_a_step(proc, runs, 300)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (published,) = [d for d in runs.glob("*/*/*") if not d.name.startswith(".")]
    record = json.loads((published / "run.json").read_text())
    assert record["status"] == "timeout", (record["reason"], err)
    journal = Journal.load(published / "journal.jsonl")
    assert [a.step for a in journal.attempts] == ["ingest"]  # the deadline found it hung
    assert processes_mentioning(str(runs)) == []
    assert _tree(home) == before
    assert _metaflow_dirs() == []
