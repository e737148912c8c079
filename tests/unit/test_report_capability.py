"""The capability table from fake runs: every cell follows the runs, none is typed."""

from __future__ import annotations

import json
from pathlib import Path

from orchbench.claims import CLAIMS
from orchbench.report import build_report
from orchbench.report.capability import (
    ASSISTED,
    NA,
    NO,
    NO_SCHEDULER,
    NOT_MEASURED,
    NOT_RECORDED,
    NOT_RUN,
    PARTIAL,
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


def test_a_cell_that_passes_with_harness_help_reads_harness_assisted(tmp_path: Path) -> None:
    """The same passing run, with and without a kill by our adapter at the timeout: only
    help of a kind that can make the rule pass turns the cell (a memory limit our adapter
    passed does not get a hung step past its hang)."""
    res = tmp_path / "runs"
    done = {"capabilities": ["timeouts"], "human_actions": 0, "killed_attempts": 1}
    _run(res, "hang", "sys", "r1", "completed", **done)
    _run(res, "hang", "kfp", "r2", "completed", **done, harness_assists={"timeout_kill": 1})
    _run(res, "hang", "dock", "r3", "completed", **done, harness_assists={"memory_limit": 4})
    table = capability_table(load_runs(res))
    assert table["timeouts"]["sys"].verdict == YES
    assert table["timeouts"]["kfp"].verdict == ASSISTED
    assert "passed with harness help: timeout_kill ×1 (hang)" in table["timeouts"]["kfp"].text
    assert table["timeouts"]["dock"].verdict == YES
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    threats = md.split("## Threats to validity")[1]
    assert "Harness help to kfp, never credited to it: timeout_kill ×1 (hang)." in threats
    assert "No harness help in these runs: sys." in threats


def test_a_failing_cell_stays_no_whatever_the_help(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "hang", "kfp", "r1", "completed", capabilities=["timeouts"], human_actions=1,
         harness_assists={"timeout_kill": 2})  # fmt: skip
    assert capability_table(load_runs(res))["timeouts"]["kfp"].verdict == NO


def _fired(d: Path, fired_by: str) -> None:
    """Say in the run's env.json who fired its dates."""
    (d / "env.json").write_text(
        json.dumps({"schema": "orchbench.env/3", "clock": {"speed": 1.0, "fired_by": fired_by}})
    )


def test_backfills_count_only_what_the_systems_own_scheduler_produced(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    missed = {"missed_dates": ["2026-01-02"], "capabilities": ["backfills"]}
    missed |= {"backfill_in_order": True, "duplicate_dates": []}
    _fired(_run(res, "missed", "a", "r1", "completed", skipped_dates=[], **missed), "a")
    # produced with no intervention, but a date twice: partial
    twice = {**missed, "duplicate_dates": ["2026-01-02"]}
    _fired(_run(res, "missed", "e", "r5", "completed", skipped_dates=[], **twice), "e")
    _fired(_run(res, "missed", "b", "r2", "completed", skipped_dates=["2026-01-02"], **missed), "b")
    # the dates of c were fired by cron, not by c: its cell is not c's verdict
    _fired(_run(res, "missed", "c", "r3", "completed", skipped_dates=[], **missed), "cron")
    _run(res, "missed", "d", "r4", "completed", skipped_dates=[], **missed)  # no env.json
    table = capability_table(load_runs(res))["backfills"]
    assert table["a"].verdict == YES and "1/1 runs produced every missed date" in table["a"].text
    assert table["b"].verdict == NO
    assert table["c"].verdict == NO_SCHEDULER and "scheduled by cron" in table["c"].text
    assert table["d"].verdict == NOT_MEASURED
    assert table["e"].verdict == PARTIAL


def test_a_second_profile_gets_its_own_column_never_pooled(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "transient", "cron-hardened", "r1", "completed", capabilities=["retries"],
         human_actions=0)  # fmt: skip
    d = _run(res, "transient", "cron-hardened", "r2", "completed", capabilities=["retries"],
             human_actions=1)  # fmt: skip
    run = json.loads((d / "run.json").read_text())
    (d / "run.json").write_text(json.dumps({**run, "profile": "pipeline"}))
    table = capability_table(load_runs(res))
    assert table["retries"]["cron-hardened"].verdict == YES
    assert table["retries"]["cron-hardened/pipeline"].verdict == NO


def test_only_a_helped_run_that_passed_makes_the_cell_harness_assisted(tmp_path: Path) -> None:
    """Retries pooled over two scenarios: the hang run our adapter's kill helped failed
    the rule anyway (an intervention), the transient run passed alone: the cell is the
    system's partial, not harness-assisted."""
    res = tmp_path / "runs"
    _run(res, "transient", "kfp", "r1", "completed", capabilities=["retries"], human_actions=0)
    _run(res, "hang", "kfp", "r2", "completed", capabilities=["retries"], human_actions=1,
         harness_assists={"timeout_kill": 1})  # fmt: skip
    cell = capability_table(load_runs(res))["retries"]["kfp"]
    assert cell.verdict == "partial" and "harness help" not in cell.text


def test_the_scheduler_table_pools_only_scheduler_fired_runs(tmp_path: Path) -> None:
    from orchbench.report.scheduler import scheduler_table

    res = tmp_path / "runs"
    two = ["2026-01-02", "2026-01-03"]
    missed = {"missed_dates": two, "backfill_in_order": True, "human_actions": 0}
    _fired(_run(res, "missed", "a", "r1", "completed", skipped_dates=[], catchup_s=4.0,
                catchup_production_s=4.0, duplicate_dates=[], **missed), "a")  # fmt: skip
    _fired(_run(res, "late", "a", "r2", "completed", late_completed=True, late_extra_s=3.5,
                late_extra_production_s=3.5), "a")  # fmt: skip
    _fired(_run(res, "crash", "a", "r3", "completed", in_flight="adopted"), "a")
    _fired(_run(res, "missed", "k", "r4", "completed", skipped_dates=two, **missed), "cron")
    _run(res, "missed", "h", "r5", "completed", skipped_dates=[], **missed)  # harness-fired
    t = scheduler_table(load_runs(res)).set_index("runner")
    assert list(t.index) == ["a", "k"]
    a, k = t.loc["a"], t.loc["k"]
    assert a["missed dates produced without intervention"] == "2/2"
    assert a["in date order"] == "yes" and a["catch-up wall (production)"] == "4 s (4 s)"
    assert a["late partition: extra wait (production)"] == "3.5 s (4 s)"
    assert a["scheduler killed: the task in flight"] == "adopted ×1"
    assert k["fired by"] == "cron" and k["missed dates produced without intervention"] == "0/2"


def test_the_scheduler_table_takes_scheduler_fired_runs_without_scheduler_faults(
    tmp_path: Path,
) -> None:
    """cron fires even a clean run's dates: with no missed, late or crashed date among
    the runs (no such column at all), its row is dashes, not a crash."""
    from orchbench.report.scheduler import scheduler_table

    res = tmp_path / "runs"
    _fired(_run(res, "clean", "c", "r1", "completed"), "cron")
    _run(res, "clean", "h", "r2", "completed")  # harness-fired
    t = scheduler_table(load_runs(res)).set_index("runner")
    assert list(t.index) == ["c"]
    assert t.loc["c", "missed dates produced without intervention"] == "–"
    assert t.loc["c", "scheduler killed: the task in flight"] == "–"


def test_the_first_section_is_claims_by_systems_with_the_figure(tmp_path: Path) -> None:
    """The report opens on the glance table: the verdict and ``k/n``, the runs that pass
    the rule each on their own (one of two here: partial), linked to the latest run."""
    res = tmp_path / "results" / "runs"
    _run(res, "transient", "a", "r1", "completed", capabilities=["retries"], human_actions=0)
    _run(res, "transient", "a", "r2", "completed", capabilities=["retries"], human_actions=2)
    _run(res, "transient", "b", "r3", "completed", capabilities=["retries"], human_actions=1)
    table = capability_table(load_runs(res))
    assert (table["retries"]["a"].verdict, table["retries"]["a"].figure) == (PARTIAL, "1/2")
    assert (table["retries"]["b"].verdict, table["retries"]["b"].figure) == (NO, "0/1")
    md = (build_report(res, tmp_path / "results" / "report") / "report.md").read_text()
    first = md.split("\n## ")[1]
    assert first.startswith("At a glance")
    row = next(line for line in first.splitlines() if line.startswith("| Automatic retries"))
    a, b = "[partial 1/2](../runs/transient/a/r2)", "[no 0/1](../runs/transient/b/r3)"
    assert row == f"| Automatic retries | {a} | {b} |"
