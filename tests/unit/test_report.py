"""The report from fake run directories: failures and gaps show as such, never as zeros."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from orchbench.journal import Journal
from orchbench.metrics import classify_attempts
from orchbench.records import RUN_SCHEMA
from orchbench.report import build_report
from orchbench.report.load import load_runs


def _run(
    root: Path,
    scenario: str,
    runner: str,
    run_id: str,
    status: str,
    *,
    capabilities: list[str] | None = None,
    faults: int = 1,
    journal: list[dict] | None = None,
    native: list[dict] | None = None,
    profile: str = "default",
    days: int = 2,
    **metrics,
) -> Path:
    """A hand-written run directory (run.json, scenario.yaml, optional journal/native).

    With a journal, run.json's ``attempts`` holds its classification as the harness writes
    it."""
    d = root / scenario / runner / run_id
    d.mkdir(parents=True)
    base = {
        "alerted": True,
        "alert_s": 1.5,
        "alert_production_s": 1.5,
        "visible": True,
        "visible_s": 1.0,
        "misreported_attempts": 0,
        "stale_executions": 0,
        "wasted_cpu_s": 0.2,
        "rerun_cost_ratio": 1.0,
        "human_actions": 1,
        "operator_commands": 2,
        "recovered": True,
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
                "schema": RUN_SCHEMA,
                "scenario": scenario,
                "runner": runner,
                "system": runner,
                "profile": profile,
                "run_id": run_id,
                "status": status,
                "reason": None if status == "completed" else f"{status} happened",
                "metrics": base if status == "completed" else None,
                "attempts": None
                if journal is None
                else [
                    c.model_dump() for c in classify_attempts(Journal.from_records(iter(journal)))
                ],
            }
        )
    )
    fault_list = [{"kind": "schema_break", "day": 1, "at": "ingest"}] * faults
    (d / "scenario.yaml").write_text(
        yaml.safe_dump(
            {
                "name": scenario,
                "days": days,
                "faults": fault_list,
                "capabilities": capabilities or [],
            }
        )
    )
    if journal is not None:
        (d / "journal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in journal))
    if native is not None:
        (d / "native.jsonl").write_text("".join(json.dumps(r) + "\n" for r in native))
    return d


def test_report_shows_failures_and_missing_runners(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(
        res,
        "schema_break",
        "cron",
        "r1",
        "completed",
        alerted=False,
        alert_s=None,
        alert_production_s=None,
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
    assert "| no | – | – |" in sb_cron  # not alerted: no alert time on either clock
    assert (out / "summary.csv").exists() and (out / "index.html").exists()
    assert "r1" in (out / "runs.csv").read_text()


def test_each_scenario_heading_says_the_days_its_runs_cover(tmp_path: Path) -> None:
    """A cut scenario (a quick bench's) is told apart from the shipped one by its runs'
    ``scenario.yaml`` copies, not by the report knowing the shipped files."""
    res = tmp_path / "runs"
    _run(res, "a", "cron", "r1", "completed", days=1)
    _run(res, "b", "cron", "r2", "completed", days=2)
    _run(res, "b", "cron-hardened", "r3", "completed", days=5)
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    assert "### a (1 day)\n" in md and "### b (2–5 days)\n" in md


def test_missing_runner_for_a_scenario_says_not_run(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    _run(res, "a", "cron", "r1", "completed")
    _run(res, "b", "cron-hardened", "r2", "completed")
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    section_a = md.split("## a")[1].split("## b")[0]
    assert "| cron-hardened |  | not run |" in section_a


def test_environment_lists_step_images_and_threats_name_parallel_lanes(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    base = {"tag": "orchbench-step:aaa", "suite": "bookworm", "debian_packages": ["python3"],
            "requirements": "runners/kfp/requirements.txt",
            "python_packages": ["kfp==2.17.3", "scikit-learn==1.9.1", "six==1.17.0"]}  # fmt: skip
    variant = {"tag": "orchbench-step-variant:bbb", "base": "orchbench-step:aaa",
               "requirements": ["scikit-learn==1.8.0"],
               "python_packages": ["kfp==2.17.3", "scikit-learn==1.8.0"]}  # fmt: skip
    for run_id, variants, jobs in (("r1", {}, 1), ("r2", {variant["tag"]: variant}, 3)):
        d = _run(res, "env_mismatch", "kfp-docker", run_id, "completed")
        settings = {"image": base["tag"], "image_manifest": base, "variant_images": variants}
        (d / "env.json").write_text(
            json.dumps({"system": "KFP", "bench_jobs": jobs, "settings": settings})
        )
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    env = md.split("## Environment")[1].split("## Threats")[0]
    row = next(line for line in env.splitlines() if "| orchbench-step:aaa |" in line)
    assert "Debian bookworm" in row and "scikit-learn==1.9.1" in row and "six" not in row
    row = next(line for line in env.splitlines() if "orchbench-step-variant:bbb" in line)
    assert "orchbench-step:aaa + scikit-learn==1.8.0" in row
    assert "benched 3 runners at a time" in md.split("## Threats")[1]


def test_headline_alerts_skip_runs_where_no_fault_took_effect(tmp_path: Path) -> None:
    from orchbench.report.tables import headline

    res = tmp_path / "runs"
    _run(res, "schema_break", "kfp-docker", "r1", "completed", faults_activated=1)
    _run(res, "env_mismatch", "kfp-docker", "r2", "completed", faults_activated=0,
         alerted=False, alert_s=None)  # fmt: skip
    row = headline(load_runs(res)).iloc[0]
    assert row["alerted"] == "yes" and row["runs"] == "2/2"


def _env(d: Path, central_view: str | None, speed: float, compressed: list[str]) -> None:
    clock = {"schedule_interval_s": 86400.0, "speed": speed, "compressed": compressed}
    (d / "env.json").write_text(json.dumps({"central_view": central_view, "clock": clock}))


def test_a_system_without_a_central_view_shows_so_instead_of_a_time(tmp_path: Path) -> None:
    from orchbench.report.tables import NO_VIEW, headline

    res = tmp_path / "runs"
    _env(_run(res, "schema_break", "cron", "r1", "completed", visible=False, visible_s=None),
         None, 300.0, ["the schedule interval between dates"])  # fmt: skip
    _env(_run(res, "schema_break", "airflow", "r2", "completed"), "Airflow UI", 1.0, [])
    _run(res, "schema_break", "prefect", "r3", "completed", visible=False, visible_s=None)
    rows = headline(load_runs(res)).set_index("runner")
    assert rows.loc["cron", "visible"] == NO_VIEW == rows.loc["cron", "visible s"]
    assert rows.loc["airflow", "visible"] == "yes" and rows.loc["airflow", "visible s"] == "1"
    # an env.json from before /3 does not say whether there is a view: not "no view"
    assert rows.loc["prefect", "visible"] == "no"


def test_threats_list_every_runner_clock(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    cron = ["the schedule interval between dates", "the daemon's idle time, x300"]
    _env(_run(res, "clean", "cron", "r1", "completed"), None, 300.0, cron)
    _env(_run(res, "clean", "airflow", "r2", "completed"), "Airflow UI", 1.0, cron[:1])
    _run(res, "clean", "prefect", "r3", "completed")  # no env.json
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    threats = md.split("## Threats to validity")[1]
    assert "Clock of `cron/default`: scheduler on a clock x300 the real one" in threats
    assert "the daemon's idle time, x300" in threats
    assert "`airflow/default`: scheduler on the real clock" in threats
    assert "`prefect/default`: clock not recorded" in threats


def test_misreported_attempts_show_their_evidence(tmp_path: Path) -> None:
    res = tmp_path / "runs"
    evidence = {
        "attempt_id": "a1",
        "logical_date": "2026-01-02",
        "step": "train",
        "attempt": 1,
        "system_says": "success where the step failed",
        "journal": {"status": "failed", "error": "ValueError: Input X contains NaN"},
        "system": {"state": "success", "source": "kfp-log"},
    }
    _run(res, "partial_write", "kfp-docker", "r1", "completed", misreported_attempts=1,
         misreported=[evidence])  # fmt: skip
    _run(res, "partial_write", "airflow", "r2", "completed")
    md = (build_report(res, tmp_path / "rep") / "report.md").read_text()
    section = md.split("## Misreported attempts")[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| kfp-docker"))
    assert "2026-01-02 train #1" in row and "success where the step failed" in row
    assert "failed (ValueError: Input X contains NaN)" in row and "success (kfp-log)" in row
    assert "| airflow" not in section


def test_deployments_compare_profiles_only_over_scenarios_both_completed(tmp_path: Path) -> None:
    from orchbench.report.tables import deployments

    res = tmp_path / "runs"
    _run(res, "a", "airflow", "r1", "completed", total_wall_s=60.0)
    _run(res, "a", "airflow", "r2", "completed", profile="celery", total_wall_s=90.0)
    _run(res, "b", "airflow", "r3", "completed", total_wall_s=5.0)  # no celery run of b
    _run(res, "b", "airflow", "r4", "timeout", profile="celery")
    _run(res, "a", "kfp", "r5", "completed")  # one profile only: not in the table
    d = deployments(load_runs(res))
    assert list(zip(d["runner"], d["profile"], strict=True)) == [
        ("airflow", "celery"),
        ("airflow", "default"),
    ]
    assert list(d["wall s"]) == ["90", "60"] and set(d["scenarios"]) == {1}
    out = build_report(res, tmp_path / "report")
    assert "What the deployment changes" in (out / "report.md").read_text()
    _run(tmp_path / "one", "a", "kfp", "r6", "completed")
    assert deployments(load_runs(tmp_path / "one")).empty


def test_seconds_read_at_a_glance_and_keep_their_sign() -> None:
    """Report cells headed "s" show two decimals below 10 s, one below 100 s, none above,
    without trailing zeros; a nonzero time too small to show is "<0.01", never 0."""
    from orchbench.report.tables import seconds

    got = [seconds(v) for v in (0, 0.00186, 0.0283, 1, 1.5, 4.644, 15, 29.74, 376.4, -0.002, -2.5)]
    assert got == ["0", "<0.01", "0.03", "1", "1.5", "4.64", "15", "29.7", "376", ">-0.01", "-2.5"]


def test_configuration_cards_show_what_each_runner_recorded(tmp_path: Path) -> None:
    """One row per runner x profile from the latest run's env.json card; an aspect the
    runner did not record reads "not declared", never a guess."""
    from orchbench.card import ASPECTS, NOT_DECLARED

    res = tmp_path / "results" / "runs"
    old = _run(res, "clean", "sys", "r1", "completed", faults=0)
    new = _run(res, "clean", "sys", "r2", "completed", faults=0)
    bare = _run(res, "clean", "bare", "r3", "completed", faults=0)
    for d, card in ((old, {"executor": "old"}), (new, {"executor": "threads", "retries": "3"})):
        (d / "env.json").write_text(json.dumps({"schema": "orchbench.env/4", "card": card}))
    (bare / "env.json").write_text(json.dumps({"schema": "orchbench.env/3"}))
    md = (build_report(res, tmp_path / "results" / "report") / "report.md").read_text()
    table = md.split("## Configuration cards")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| " + " | ".join(["runner", "profile", *ASPECTS]) + " |"
    cells = {r.split(" | ")[0].removeprefix("| "): r.strip("| ").split(" | ") for r in rows[1:]}
    want = {a: NOT_DECLARED for a in ASPECTS} | {"executor": "threads", "retries": "3"}
    assert cells["sys"][2:] == list(want.values())
    assert set(cells["bare"][2:]) == {NOT_DECLARED}
