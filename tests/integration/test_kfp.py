"""The KFP runner with the real ``kfp.local`` runner (SubprocessRunner) and the real
compiled spec: the conformance suite's schema break and hang runs read for KFP's own
records (recovery by re-submission, a hang killed by the harness's timeout); re-run with
caching, the ``dsl.If`` gate blocking a worse model, and the clear error for an
unreachable ``--kfp-host``. Scenarios of its own are small (2 days, 2000 rows) and written
to ``tmp_path``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchbench.harness import run_scenario
from orchbench.journal import Journal
from orchbench.runner import EnvironmentMissing
from orchbench.trace import read_trace
from runners.kfp.adapter import KfpRunner
from tests.conformance.bench import Bench

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venvs" / "kfp" / "bin" / "python"
DAY2 = "2026-01-02"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VENV.exists(), reason=".venvs/kfp missing: run `make setup`"),
]

HEAD = """schema: orchbench.scenario/1
name: {name}
claim: "kfp integration test scenario {name}"
days: 2
data: {{rows_per_day: 2000, seed: {seed}}}
"""


def scenario(tmp_path: Path, name: str, body: str, seed: int = 7) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(HEAD.format(name=name, seed=seed) + body)
    return p


def run(tmp_path: Path, path: Path) -> tuple[dict[str, Any], Journal, list[dict[str, Any]]]:
    out = run_scenario(path, "kfp", out_root=tmp_path / "runs")
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed", record["reason"]
    return record, Journal.load(out / "journal.jsonl"), read_trace(out / "native.jsonl")


def hang_scenario(
    tmp_path: Path, name: str, timeout_s: float, day: int = 2, at: str = "train"
) -> Path:
    """No retries, the policy's timeout, and a step that blocks forever on ``day``."""
    return scenario(
        tmp_path,
        name,
        f"policy: {{retries: 0, retry_delay_s: 0, timeout_s: {timeout_s}}}\n"
        f"faults:\n  - {{kind: hang, day: {day}, at: {at}, params: {{mode: block}}}}\n",
    )


def pids_with_env(needle: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle.encode() in (d / "environ").read_bytes().split(b"\0"):
                found.append(int(d.name))
        except OSError:
            continue
    return found


def conformance_run(
    conformance: Bench, scenario: str, runner: str = "kfp"
) -> tuple[dict[str, Any], Journal, list[dict[str, Any]], Path]:
    """The conformance suite's run of ``scenario`` (2 days, default profile)."""
    out = conformance.run_dir(runner, scenario)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed", record["reason"]
    return record, Journal.load(out / "journal.jsonl"), read_trace(out / "native.jsonl"), out


def test_schema_break_stops_downstream_and_recovers_by_resubmission(conformance: Bench) -> None:
    record, journal, trace, _ = conformance_run(conformance, "schema_break")
    m = record["metrics"]
    assert m["bad_model_deployed"] is False
    assert m["rerun_cost_ratio"] is not None and m["rerun_cost_ratio"] < 2.0
    fix = journal.harness_time("fix_applied")
    day2 = "2026-01-02"
    before = [a for a in journal.attempts if a.logical_date == day2 and a.start_ns < fix]
    assert {a.step for a in before} == {"ingest", "validate"}  # nothing downstream ran
    assert all(a.status == "failed" for a in before if a.step == "validate")
    states = {
        (r["step"], r["state"])
        for r in trace
        if r["kind"] == "task_attempt" and r["logical_date"] == day2
    }
    assert ("validate", "failed") in states and ("train", "upstream_failed") in states
    runs = [r for r in trace if r["kind"] == "run_state" and r["logical_date"] == day2]
    assert [r["state"] for r in runs] == ["failed", "success"]
    (declared,) = [r for r in trace if r["kind"] == "declared"]
    assert declared["resources"]["train"]["accelerator_limit"] is None  # CPU-only train
    assert declared["resources"]["featurize"]["memory_limit"]  # every task declares one
    assert declared["resources"]["featurize"]["enforced"] == []  # kfp.local ignores it
    assert m["memory_limit_enforced"] is False  # SubprocessRunner: no container, no limit
    assert "memory_limit" not in m["harness_assists"]  # and the adapter passes none
    assert "better_than_champion" in declared["deploy_condition"]
    assert {"step": "train", "name": "model", "type": "system.Model", "direction": "output"} in (
        declared["typed_artifacts"]
    )
    assert m["lineage_by_fact"]["model_training"] == 1.0


def test_transient_failure_recovery_reuses_cached_upstream(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "kfp_exhausted",
        "policy: {retries: 1, retry_delay_s: 0.2, timeout_s: 60}\n"
        "faults:\n  - {kind: transient_error, day: 2, at: train, params: {failures: 2}}\n",
    )
    record, journal, trace = run(tmp_path, path)
    fix = journal.harness_time("fix_applied")
    rerun = {a.step for a in journal.attempts if a.start_ns >= fix}
    assert "train" in rerun and not rerun & {"ingest", "validate", "featurize"}
    cached = {r["step"] for r in trace if r["kind"] == "task_attempt" and r["state"] == "cached"}
    assert cached == {"ingest", "validate", "featurize"}
    assert record["metrics"]["final_state_correct"] is True


def test_gate_skips_deploy_of_worse_candidate(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        "kfp_regression",
        "gate: {min_accuracy: 0.9}\n"
        "faults:\n  - {kind: accuracy_regression, day: 2, at: train, "
        "params: {method: perturb, scale: 0.3, seed: 0}}\n",
        seed=8,
    )
    record, journal, trace = run(tmp_path, path)
    assert record["metrics"]["bad_model_deployed"] is False
    day2 = "2026-01-02"
    evals = [a for a in journal.attempts if a.logical_date == day2 and a.step == "evaluate"]
    assert evals and evals[0].result["deploy"] is False
    first_run = next(r["run"] for r in trace if r.get("logical_date") == day2)
    skipped = {
        r["step"]
        for r in trace
        if r["kind"] == "task_attempt" and r["run"] == first_run and r["state"] == "skipped"
    }
    assert skipped == {"register", "canary"}


def test_hang_is_killed_by_the_harness_timeout(conformance: Bench) -> None:
    """The conformance ``hang`` (train sleeps on day 2, timeout 6 s): kfp.local has no
    timeout of its own, so the harness kills the task at the policy's timeout."""
    _record, journal, trace, _ = conformance_run(conformance, "hang")
    timeout = 6.0
    # on a loaded machine a healthy train may pass the 6 s too and be killed as well: the
    # hung one is the one the journal has as killed
    (hung,) = [a for a in journal.attempts if a.step == "train" and a.status == "killed"]
    kills = [h for h in journal.assists if h["assist"] == "timeout_kill"]
    (kill,) = [h for h in kills if h["logical_date"] == hung.logical_date == "2026-01-02"]
    assert kill["step"] == "train"
    assert (kill["t_ns"] - hung.start_ns) / 1e9 < timeout + 5
    killed = [
        r
        for r in trace
        if r["kind"] == "task_attempt" and r.get("killed_by") and r["logical_date"] == DAY2
    ]
    assert [(r["step"], r["state"], r["killed_by"]) for r in killed] == [
        ("train", "failed", "harness-timeout")
    ]


def fired_by(out: Path) -> str:
    return json.loads((out / "env.json").read_text())["clock"]["fired_by"]


def test_missed_days_fired_by_cron_nothing_catches_up(conformance: Bench) -> None:
    """The conformance ``missed_days`` (3 days, day 2 missed), system-scheduled: kfp.local
    has no scheduler, so cron fires the dates from a one-entry crontab. Documented
    behaviour: cron has no catch-up and kfp.local no scheduler, so no missed date runs
    after the host is back until the operator re-submits it, one command per date."""
    _record, journal, trace, out = conformance_run(conformance, "missed_days")
    assert fired_by(out) == "cron"
    tab = (out / "logs" / "kfp-crontab.txt").read_text().splitlines()
    entries = [line for line in tab if not line.split("=", 1)[0].isidentifier()]
    assert len(entries) == 1 and '--logical-date "$LOGICAL_DATE"' in entries[0]
    (outage,) = [f for f in journal.faults if f["kind"] == "missed_days"]
    missed = set(outage["detail"]["dates"])
    started = journal.harness_time("scheduler_started")
    recovery = journal.harness_time("recovery_started")
    assert started is not None and recovery is not None and missed
    # the date after the outage ran (its daemon fired it), the missed ones did not
    after = {a.logical_date for a in journal.attempts if started < a.start_ns < recovery}
    assert after and not after & missed
    assert {a.logical_date for a in journal.attempts if a.start_ns >= recovery} == missed
    commands = [a["command"] for a in journal.operator_actions]
    assert sorted(d for d in missed for c in commands if f"--logical-date {d}" in c) == sorted(
        missed
    )
    runs = {r["logical_date"] for r in trace if r["kind"] == "run_state"}
    assert missed <= runs  # KFP's records of the missed dates are the re-submissions'


def test_scheduler_crash_under_cron_orphans_the_task_and_nothing_reruns_it(
    conformance: Bench,
) -> None:
    """The conformance ``scheduler_crash``, fired by cron: the crash SIGKILLs the KFP
    driver cron started; the task it ran is left orphaned (KFP's record of it ends at
    "executing", its run crashed), and cron, which outlived its job, never fires that
    minute again: no restart is journaled, and the step runs again only in the
    operator's re-submission."""
    record, journal, trace, out = conformance_run(conformance, "scheduler_crash")
    assert fired_by(out) == "cron"
    (crash,) = [f for f in journal.faults if f["kind"] == "scheduler_crash"]
    day, step = crash["logical_date"], crash["step"]
    m = record["metrics"]
    assert not (m["harness_assists"] or {}).get("scheduler_restarted")
    assert m["human_actions"] == 1 and m["in_flight"] in ("lost", "crashed", "orphaned")
    kfp = [r for r in trace if r.get("logical_date") == day]
    runs = [r["state"] for r in kfp if r["kind"] == "run_state"]
    assert runs[0] == "crashed"
    mine = [r for r in kfp if r["kind"] == "task_attempt" and r["step"] == step]
    assert mine[0]["state"] == "running" and mine[0]["end_ns"] is None
    recovery = journal.harness_time("recovery_started")
    ours = [a for a in journal.attempts if a.logical_date == day and a.step == step]
    assert recovery is not None and all(
        a.start_ns > recovery for a in ours if a.start_ns > crash["t_ns"]
    )


def test_unreachable_kfp_host_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHBENCH_KFP_HOST", "http://127.0.0.1:9")
    with pytest.raises(EnvironmentMissing, match="not reachable"):
        KfpRunner("default", repo_root=REPO).check_environment()
