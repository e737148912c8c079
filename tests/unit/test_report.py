"""The report from fake run directories: failures and gaps show as such, never as zeros."""

from __future__ import annotations

import json
from pathlib import Path

from orchbench.report import build_report
from orchbench.report.load import load_runs


def _run(root: Path, scenario: str, runner: str, run_id: str, status: str, **metrics) -> None:
    d = root / scenario / runner / run_id
    d.mkdir(parents=True)
    base = {
        "detected": True,
        "detection_s": 1.5,
        "stale_executions": 0,
        "wasted_cpu_s": 0.2,
        "rerun_ratio": 1.0,
        "human_actions": 1,
        "bad_model_deployed": False,
        "final_state_correct": True,
        "lineage_completeness": 0.5,
        "total_wall_s": 30.0,
        "lineage_by_fact": {"outputs": 0.0},
    }
    base.update(metrics)
    (d / "run.json").write_text(
        json.dumps(
            {
                "schema": "orchbench.run/1",
                "scenario": scenario,
                "runner": runner,
                "system": runner,
                "profile": "default",
                "run_id": run_id,
                "status": status,
                "reason": None if status == "completed" else f"{status} happened",
                "metrics": base if status == "completed" else None,
            }
        )
    )


def test_report_shows_failures_and_missing_runners(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(
        res,
        "schema_break",
        "cron",
        "r1",
        "completed",
        detected=False,
        detection_s=None,
        stale_executions=3,
    )
    _run(res, "schema_break", "cron-hardened", "r2", "timeout")
    _run(res, "clean", "cron", "r3", "completed", total_wall_s=10.0)
    _run(res, "clean", "cron", "r4", "completed", total_wall_s=20.0)
    _run(res, "clean", "cron-hardened", "r5", "harness_error")
    (res / "clean" / "cron" / ".tmp-r6").mkdir()  # unfinished: ignored
    runs = load_runs(res)
    assert len(runs) == 5
    out = build_report(res, tmp_path / "report")
    md = (out / "report.md").read_text()
    assert "**timeout: timeout happened**" in md
    assert "**harness_error: harness_error happened**" in md
    clean_cron = next(line for line in md.splitlines() if line.startswith("| cron | default | 2/2"))
    assert "15 (10–20)" in clean_cron  # median with min–max of two repeats
    sb_cron = next(
        line for line in md.splitlines() if line.startswith("| cron | default") and "| 3 |" in line
    )
    assert "| no |" in sb_cron and "| – |" in sb_cron  # not detected, no detection time
    assert (out / "summary.csv").exists() and (out / "index.html").exists()
    assert "r1" in (out / "runs.csv").read_text()


def test_missing_runner_for_a_scenario_says_not_run(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "a", "cron", "r1", "completed")
    _run(res, "b", "cron-hardened", "r2", "completed")
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    section_a = md.split("## a")[1].split("## b")[0]
    assert "| cron-hardened | | not run |" in section_a
