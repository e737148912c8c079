"""``runs_for``'s reuse of a small run an earlier notebook made: only a completed run of the
same runner on the byte-identical shortened scenario is reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench.report import notebooks
from tests.unit.test_report import _run


def test_earlier_small_run_needs_the_same_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notebooks, "WORK", tmp_path / "work")
    text = notebooks.small_scenario("schema_break").read_text()
    runs = tmp_path / "work" / "runs"
    same = _run(runs, "schema_break", "cron", "r1", "completed")
    (same / "scenario.yaml").write_text(text)
    other = _run(runs, "schema_break", "cron", "r2", "completed")  # a different scenario file
    failed = _run(runs, "schema_break", "airflow", "r3", "timeout")
    (failed / "scenario.yaml").write_text(text)

    got = notebooks.earlier_small_run("schema_break", "cron")
    assert got is not None and list(got["run_dir"]) == [str(same)]
    assert notebooks.earlier_small_run("schema_break", "airflow") is None  # not completed
    assert notebooks.earlier_small_run("schema_break", "prefect") is None  # none at all
    (same / "scenario.yaml").write_text(text + "# edited\n")
    assert notebooks.earlier_small_run("schema_break", "cron") is None
    assert other.is_dir()
