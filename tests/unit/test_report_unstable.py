"""Repeat discipline: a cell whose repeats disagree on an outcome is flagged, timings are
not outcomes, and a cell run once is never flagged."""

from __future__ import annotations

from pathlib import Path

from orchbench.report import build_report
from orchbench.report.load import load_runs
from orchbench.report.tables import unstable
from tests.unit.test_report import _run


def test_repeats_that_disagree_on_an_outcome_are_flagged(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "schema_break", "cron", "c1", "completed", alerted=False, alert_s=None)
    _run(res, "schema_break", "cron", "c2", "completed", alerted=True, total_wall_s=99.0)
    _run(res, "schema_break", "airflow", "a1", "completed", total_wall_s=10.0)
    _run(res, "schema_break", "airflow", "a2", "completed", total_wall_s=20.0)
    _run(res, "clean", "prefect", "p1", "completed", human_actions=3)
    table = unstable(load_runs(res))
    assert table[["scenario", "runner", "outcome", "runs"]].values.tolist() == [
        ["schema_break", "cron", "alerted", 2]
    ]
    md = (build_report(res, tmp_path / "report") / "report.md").read_text()
    assert "## Unstable outcomes" in md and "| schema_break | cron | default | alerted |" in md


def test_no_section_without_repeats_and_a_calm_one_when_they_agree(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "schema_break", "cron", "c1", "completed")
    md = (build_report(res, tmp_path / "r1") / "report.md").read_text()
    assert "Unstable outcomes" not in md
    _run(res, "schema_break", "cron", "c2", "completed", total_wall_s=77.0)
    md = (build_report(res, tmp_path / "r2") / "report.md").read_text()
    assert "Every repeated cell gave the same outcomes." in md
