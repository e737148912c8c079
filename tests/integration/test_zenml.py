"""The ZenML runner's own quirks, read from the conformance suite's runs (2 days, default
profile): StepRetryConfig retries validate (no condition) and the on_failure hook alerts
once; the local orchestrator's records of every attempt (``list_run_steps``, retried
attempts included); a hung step killed by the harness leaves ZenML's run "running" and
``replay(skip_successful_steps=True)`` finishes it; cron fires it when system-scheduled;
nothing lands in HOME or the checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from orchbench.journal import Journal
from orchbench.scenario import load_scenario
from orchbench.trace import read_trace
from tests.conformance.bench import Bench

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venvs" / "zenml" / "bin" / "python"
DAY2 = "2026-01-02"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VENV.exists(), reason=".venvs/zenml missing: run `make setup`"),
]


def conformance_run(
    conformance: Bench, scenario: str
) -> tuple[dict[str, Any], Journal, list[dict[str, Any]], Path]:
    """The conformance suite's run of ``scenario`` on zenml."""
    out = conformance.run_dir("zenml", scenario)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed", record["reason"]
    return record, Journal.load(out / "journal.jsonl"), read_trace(out / "native.jsonl"), out


def attempts(trace: list[dict[str, Any]], day: str, step: str) -> list[dict[str, Any]]:
    return [
        r
        for r in trace
        if r["kind"] == "task_attempt" and r["logical_date"] == day and r["step"] == step
    ]


def runs(trace: list[dict[str, Any]], day: str) -> list[dict[str, Any]]:
    return [r for r in trace if r["kind"] == "run_state" and r["logical_date"] == day]


def test_schema_break_retries_validate_alerts_once_and_reruns(conformance: Bench) -> None:
    record, journal, trace, out = conformance_run(conformance, "schema_break")
    m = record["metrics"]
    assert m["bad_model_deployed"] is False and m["stale_executions"] == 0
    fix = journal.harness_time("fix_applied")
    before = [a for a in journal.attempts if a.logical_date == DAY2 and a.start_ns < fix]
    assert {a.step for a in before} == {"ingest", "validate"}  # nothing downstream ran
    validate = [a for a in before if a.step == "validate"]
    policy = load_scenario(out / "scenario.yaml").policy
    assert len(validate) == policy.retries + 1  # StepRetryConfig has no condition
    zenml = attempts(trace, DAY2, "validate")
    first = [r for r in zenml if r["run"] == runs(trace, DAY2)[0]["run"]]
    assert [r["zenml_status"] for r in first] == ["retried"] * (len(first) - 1) + ["failed"]
    assert [r["attempt"] for r in first] == list(range(1, len(first) + 1))
    alerts = [r for r in trace if r["kind"] == "alert"]
    assert [(a["logical_date"], a["step"]) for a in alerts] == [(DAY2, "validate")]
    assert [r["state"] for r in runs(trace, DAY2)] == ["failed", "success"]


def test_transient_error_is_retried_by_zenml(conformance: Bench) -> None:
    record, _journal, trace, _ = conformance_run(conformance, "transient_error")
    assert record["metrics"]["human_actions"] == 0
    states = [(r["zenml_status"], r["attempt"]) for r in attempts(trace, DAY2, "featurize")]
    assert states == [("retried", 1), ("completed", 2)]


def test_hang_is_killed_by_the_harness_and_replayed(conformance: Bench) -> None:
    """ZenML has no step timeout: the harness kills the run at the policy's timeout; ZenML
    keeps the run and its step "running"; the operator's replay skips the finished steps
    and links the new run to the stuck one (``original_run``)."""
    record, journal, trace, _ = conformance_run(conformance, "hang")
    kills = [h for h in journal.assists if h["assist"] == "timeout_kill"]
    assert [(k["logical_date"], k["step"]) for k in kills if k["logical_date"] == DAY2] == [
        (DAY2, "train")
    ]
    stuck, replay = runs(trace, DAY2)
    assert stuck["state"] == "running"  # ZenML never learns the process died
    assert replay["original_run"] == stuck["run"] and replay["state"] == "success"
    replayed = {
        r["step"]: r["state"]
        for r in trace
        if r["kind"] == "task_attempt" and r["run"] == replay["run"]
    }
    assert {s for s, st in replayed.items() if st == "cached"} == {  # reused by the replay
        "ingest",
        "validate",
        "featurize",
    }
    commands = [a["command"] for a in journal.operator_actions]
    assert commands == [f"python -m runners.zenml replay --logical-date {DAY2}"]
    assert record["metrics"]["misreported_attempts"] >= 1  # the killed train: "running"


def test_missed_days_fired_by_cron(conformance: Bench) -> None:
    _record, _journal, _trace, out = conformance_run(conformance, "missed_days")
    assert json.loads((out / "env.json").read_text())["clock"]["fired_by"] == "cron"
    tab = (out / "logs" / "zenml-crontab.txt").read_text()
    assert "ZENML_CONFIG_PATH=" in tab and "ZENML_ANALYTICS_OPT_IN=false" in tab


def test_model_control_plane_records_the_serving_model(conformance: Bench) -> None:
    _record, journal, trace, _ = conformance_run(conformance, "clean")
    canaries = [a for a in journal.attempts if a.step == "canary" and a.status == "success"]
    deployed = [a.result["model_sha256"] for a in canaries if a.result.get("deployed")]
    stages = {r["model_sha256"]: r["stage"] for r in trace if r["kind"] == "model_lineage"}
    assert deployed and stages[deployed[-1]] == "production"
    assert [r["model_sha256"] for r in trace if r["kind"] == "deployment"] == deployed


def _zenml_home() -> dict[str, tuple[int, int]]:
    """What ZenML keeps in the user's home (its global config dir) and in the checkout
    (a ``.zen`` repository marker): every file with its size and mtime. A machine may
    already have a ``~/.config/zenml`` of its own: the tests compare, not require absence."""
    found: dict[str, tuple[int, int]] = {}
    for root in (Path.home() / ".config" / "zenml", REPO / ".zen"):
        if root.exists():
            for f in [root, *root.rglob("*")]:
                st = f.stat()
                found[str(f)] = (st.st_size, st.st_mtime_ns)
    return found


HOME_BEFORE = _zenml_home()  # at collection, before the session's conformance runs


def test_nothing_written_to_home_or_the_checkout(conformance: Bench) -> None:
    conformance_run(conformance, "clean")
    assert _zenml_home() == HOME_BEFORE


def test_local_server_binds_loopback_keeps_its_state_and_leaves_nothing(tmp_path: Path) -> None:
    """Profile server's ``zenml login --local --blocking``: healthy on 127.0.0.1, its SQLite
    store under its own root, every process of its group gone after ``stop``, nothing
    written to HOME or the checkout."""
    from orchbench.procs import group_pids
    from runners.zenml.server import LocalServer

    before = _zenml_home()
    env = {"PATH": os.environ.get("PATH", ""), "ZENML_ANALYTICS_OPT_IN": "false"}
    server = LocalServer(VENV.parent / "zenml", tmp_path / "server", tmp_path / "log", env)
    try:
        server.start()
        assert server.url.startswith("http://127.0.0.1:") and server.healthy()
        pgid = server.proc.pid if server.proc else -1
        assert (tmp_path / "server" / "config" / "local_stores" / "default_zen_store").is_dir()
        listening = _listening(server.port or 0)
        assert listening and all(addr == "0100007F" for addr in listening)  # 127.0.0.1 only
    finally:
        server.stop()
    assert group_pids(pgid) == [] and not server.healthy()
    assert _zenml_home() == before


def _listening(port: int) -> list[str]:
    """The local addresses (hex, /proc/net/tcp) with a socket listening on ``port``."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:
            found.append(addr)
    return found


def test_crash_leaves_the_run_running_and_replay_finishes_it(conformance: Bench) -> None:
    """The crash fault SIGKILLs the step's process, which on the local orchestrator is the
    run's: ZenML retries nothing, no hook runs, the run and its step stay "running"."""
    record, journal, trace, _ = conformance_run(conformance, "crash")
    (crash,) = [f for f in journal.faults if f["kind"] == "crash"]
    m = record["metrics"]
    assert m["human_actions"] == 1 and m["alerted"] is False
    stuck, replay = runs(trace, crash["logical_date"])
    assert stuck["state"] == "running" and replay["original_run"] == stuck["run"]
    mine = attempts(trace, crash["logical_date"], crash["step"])
    assert [r["state"] for r in mine] == ["running", "success"]
