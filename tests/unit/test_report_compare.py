"""``--compare``: changes beyond the threshold are marked in the metric's direction."""

from __future__ import annotations

from pathlib import Path

from orchbench.cli import main
from orchbench.report.compare import compare
from orchbench.report.load import load_runs
from tests.unit.test_report import _run


def test_compare_marks_worse_better_and_flips(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _run(old, "s", "airflow", "r1", "completed", total_wall_s=10.0, lineage_completeness=0.5)
    _run(new, "s", "airflow", "r2", "completed", total_wall_s=20.0, lineage_completeness=0.9)
    _run(old, "s", "prefect", "r3", "completed", alerted=True)
    _run(new, "s", "prefect", "r4", "completed", alerted=False)
    _run(new, "s", "kfp", "r5", "completed")
    t = compare(load_runs(new), load_runs(old)).set_index(["runner", "metric"])
    assert t.loc[("airflow", "total_wall_s"), "mark"] == "worse"
    assert t.loc[("airflow", "lineage_completeness"), "mark"] == "better"
    assert t.loc[("airflow", "human_actions"), "mark"] == ""
    assert t.loc[("prefect", "alerted"), "mark"] == "changed"
    assert t.loc[("kfp", "*"), "mark"] == "added"


def test_cli_compare(tmp_path: Path, capsys) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _run(old, "s", "airflow", "r1", "completed", total_wall_s=10.0)
    _run(new, "s", "airflow", "r2", "completed", total_wall_s=30.0)
    assert main(["report", str(new), "--out", str(tmp_path / "rep"), "--compare", str(old)]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Comparison with an older result set" in md and "worse" in md
    try:
        main(["report", str(new), "--out", str(tmp_path / "r2"), "--compare", str(tmp_path / "x")])
    except SystemExit as e:
        assert e.code == 2
    assert not (tmp_path / "r2").exists()
    assert "--compare" in capsys.readouterr().err
