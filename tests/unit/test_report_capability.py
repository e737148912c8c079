"""The capability table from fake runs: every cell follows the runs, none is typed."""

from __future__ import annotations

from pathlib import Path

from orchbench.claims import CLAIMS
from orchbench.report import build_report
from orchbench.report.capability import (
    NA,
    NO,
    NOT_RECORDED,
    NOT_RUN,
    RULES,
    STATIC_RULES,
    YES,
    capability_table,
)
from orchbench.report.load import load_runs
from orchbench.trace import declared
from tests.unit.test_report import _run


def test_every_claim_has_exactly_one_rule() -> None:
    for cid, claim in CLAIMS.items():
        assert (cid in STATIC_RULES) == claim.static
        assert (cid in RULES) != claim.static


def test_cells_follow_the_measured_runs(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "transient", "a", "r1", "completed", capabilities=["retries"], human_actions=0)
    _run(res, "transient", "b", "r2", "completed", capabilities=["retries"], human_actions=3)
    _run(res, "schema", "a", "r3", "completed", capabilities=["dependency_management"])
    _run(
        res,
        "schema",
        "b",
        "r4",
        "completed",
        capabilities=["dependency_management"],
        stale_executions=2,
    )
    table = capability_table(load_runs(res))
    assert table["retries"]["a"].verdict == YES
    assert table["retries"]["b"].verdict == NO
    assert table["dependency_management"]["a"].verdict == YES
    assert table["dependency_management"]["b"].verdict == NO
    assert table["retries"]["a"].runs and table["retries"]["a"].runs[0].endswith("r1")
    assert table["backfills"]["a"].verdict == NOT_RUN  # no tagged scenario ran


def test_not_applicable_shows_reason_and_static_rows_need_a_declared_record(
    tmp_path: Path,
) -> None:
    res = tmp_path / "runs"
    _run(res, "env", "a", "r1", "not_applicable", capabilities=["container_isolation"])
    acc = {"accelerator_type": "nvidia.com/gpu", "accelerator_limit": 1}
    gpu = {"train": {**acc, "enforced": ["accelerator_type", "accelerator_limit"]}}
    rec = declared(
        source="pipeline.yaml",
        typed_artifacts=[{"step": "train", "name": "model", "type": "system.Model"}],
        resources=gpu,
    )
    _run(res, "env", "b", "r2", "completed", capabilities=["container_isolation"], native=[rec])
    table = capability_table(load_runs(res))
    cell = table["container_isolation"]["a"]
    assert cell.verdict == NA and "not_applicable happened" in cell.text
    assert table["typed_artifacts"]["a"].verdict == NOT_RECORDED
    assert table["gpu_control"]["a"].verdict == NOT_RECORDED
    assert table["typed_artifacts"]["b"].verdict == YES
    assert "system.Model" in table["typed_artifacts"]["b"].text
    assert table["gpu_control"]["b"].verdict == YES


def test_report_links_each_cell_to_its_run(tmp_path: Path) -> None:
    res = tmp_path / "results" / "runs"
    _run(res, "transient", "a", "r1", "completed", capabilities=["retries"], human_actions=0)
    out = build_report(res, tmp_path / "results" / "report")
    md = (out / "report.md").read_text()
    assert "](../runs/transient/a/r1)" in md
    assert "claim,runner,verdict" in (out / "capabilities.csv").read_text()
