"""The cron scale engines (runners/cron/scale.py): each profile's crontab, clock,
parallelism and settings, and the hardened scripts they generate run by hand (bash,
lib.sh, the step program; no cron daemon)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchbench import plugins, scale
from orchbench.policy import DEFAULT_POLICY
from runners.cron import scale_task
from runners.cron.adapter import ALERT_TO, JOB_PATH
from runners.cron.scale import CronScale, HardenedCronScale, Plan, mailed_reports, runner_for
from runners.cron.schedule import SCHEDULES

REPO = Path(__file__).resolve().parents[2]
SHAPES = [scale.Shape("fanout", 3), scale.Shape("concurrent", 2), scale.Shape("backfill", 2)]


def plan_of(engine: CronScale, shape: scale.Shape, root: Path = Path("/s")) -> Plan:
    return engine.plan(shape, root / "sample", root / "logs", root / "journal.jsonl")


def test_engine_names_list_each_measured_profile() -> None:
    names = scale.engine_names()
    for label in ("cron", "cron/x30", "cron-hardened", "cron-hardened/x30"):
        assert label in names
    assert "cron-hardened/pipeline" in names
    assert "cron/tuned" not in names and "cron-hardened/tuned" not in names
    assert scale.engine_class("cron-hardened") is HardenedCronScale
    assert scale.engine_class("cron") is CronScale


def test_every_profile_is_measured_or_has_a_reason() -> None:
    for name, cls in (("cron", CronScale), ("cron-hardened", HardenedCronScale)):
        declared = set(plugins.all_plugins()[name].profiles)
        assert set(cls.profiles) | set(cls.unmeasured) == declared
        assert not set(cls.profiles) & set(cls.unmeasured)
        assert set(cls.profiles) <= set(cls.runner_class.profiles)


@pytest.mark.parametrize(
    ("cls", "profile"),
    [(CronScale, "pipeline"), (CronScale, "tuned"), (HardenedCronScale, "tuned"), (CronScale, "x")],
)
def test_an_unknown_or_unmeasured_profile_is_refused(cls: type[CronScale], profile: str) -> None:
    with pytest.raises(ValueError, match=f"no profile {profile!r}"):
        cls(REPO, profile)


@pytest.mark.parametrize("cls", [CronScale, HardenedCronScale])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_tuned_would_repeat_default_exactly(cls: type[CronScale], shape: scale.Shape) -> None:
    """``unmeasured['tuned']``: its crontab, scripts and daemon clock are default's."""
    default = cls(REPO)
    tuned = cls(REPO)
    tuned._cron = runner_for(cls.runner_class, "tuned", REPO)
    a, b = plan_of(default, shape), plan_of(tuned, shape)
    assert a.crontab() == b.crontab() and a.scripts == b.scripts
    assert (a.fire, a.fake_start, a.minute) == (b.fire, b.fake_start, b.minute)
    assert default.schedule.speed == tuned.schedule.speed
    # and the schedules do differ, in what these shapes never use
    assert SCHEDULES["tuned"].offsets_min != SCHEDULES["default"].offsets_min


@pytest.mark.parametrize(
    ("cls", "profile", "speed"),
    [
        (CronScale, "default", 300),
        (CronScale, "x30", 30),
        (HardenedCronScale, "default", 300),
        (HardenedCronScale, "x30", 30),
        (HardenedCronScale, "pipeline", 300),
    ],
)
def test_each_profile_runs_its_runner_s_clock(
    cls: type[CronScale], profile: str, speed: float
) -> None:
    engine = cls(REPO, profile)
    assert engine.label == (cls.name if profile == "default" else f"{cls.name}/{profile}")
    assert isinstance(engine._cron, cls.runner_class) and engine._cron.profile == profile
    assert engine.schedule.speed == SCHEDULES[profile].speed == speed
    s = engine.settings(scale.Shape("fanout", 2))
    assert s["profile"] == profile and f"x{speed}" in s["clock"]
    assert s["schedule"]["speed"] == speed
    plan = plan_of(engine, scale.Shape("fanout", 2))
    # the daemon starts the schedule's lead-in before the crontab's first minute
    lead = (plan.fire - plan.fake_start).total_seconds()
    assert lead == engine.schedule.lead_in_s + (60 if cls is HardenedCronScale else 0)


@pytest.mark.parametrize(
    ("cls", "profile", "shape", "expected", "said"),
    [
        (CronScale, "default", scale.Shape("fanout", 5), 5, "cron forks every job"),
        (CronScale, "x30", scale.Shape("concurrent", 4), 4, "4 line(s) at 02:00"),
        (CronScale, "default", scale.Shape("backfill", 3), 1, "one at a time"),
        (HardenedCronScale, "default", scale.Shape("fanout", 5), 5, "its own lib.sh lock"),
        (HardenedCronScale, "x30", scale.Shape("concurrent", 4), 1, "flock -n locks/task.lock"),
        (HardenedCronScale, "default", scale.Shape("backfill", 3), 1, "catchup.sh"),
        (HardenedCronScale, "pipeline", scale.Shape("fanout", 5), 1, "runs pipeline.sh"),
        (HardenedCronScale, "pipeline", scale.Shape("concurrent", 4), 1, "per step, not per"),
        (HardenedCronScale, "pipeline", scale.Shape("backfill", 3), 1, "one after another"),
    ],
)
def test_parallelism_is_read_from_the_crontab(
    cls: type[CronScale], profile: str, shape: scale.Shape, expected: int, said: str
) -> None:
    limit, source = cls(REPO, profile).parallelism(shape)
    assert limit == expected and said in source and "crontab" in source


def test_naive_lines_are_the_task_commands_with_their_logs() -> None:
    engine = CronScale(REPO)
    plan = plan_of(engine, scale.Shape("concurrent", 2))
    assert "MAILTO" not in plan.env  # naive cron has none
    assert plan.env[scale.ENV_POINT] == "concurrent-2" and plan.env[scale.ENV_ENGINE] == "cron"
    lines = plan.crontab().splitlines()[-2:]
    assert all(line.startswith("0 2 * * * ") for line in lines)
    assert "-m orchbench.scale task 1 2026-01-02 >> /s/logs/job-001.log 2>&1" in lines[1]
    back = plan_of(engine, scale.Shape("backfill", 3))
    assert (
        back.crontab()
        .splitlines()[-1]
        .endswith("2026-01-01 2026-01-03 >> /s/logs/catchup.log 2>&1")
    )


def test_hardened_crontab_is_the_runner_s() -> None:
    engine = HardenedCronScale(REPO, "x30")
    plan = plan_of(engine, scale.Shape("fanout", 2))
    env = plan.env
    assert env["MAILTO"] == ALERT_TO and env["LOGICAL_DATE"] == "2026-01-01"
    assert env["RETRIES"] == str(DEFAULT_POLICY.retries)
    assert env["STEP_TIMEOUT_S"] == f"{DEFAULT_POLICY.timeout_s:g}"
    assert env["STEP_MODULE"] == "runners.cron.scale_task"
    assert env["PIPELINE_LOGS"] == "/s/logs" and env["ORCHBENCH_WORLD"] == "/s/sample/world"
    assert env["PIPELINE_START"] == "2026-01-01" and env["CATCHUP_DAYS"] == "7"
    assert env[scale.ENV_ENGINE] == "cron-hardened/x30"
    lines = plan.crontab().splitlines()
    assert lines[-3:] == [
        "59 1 * * * /s/sample/scripts/catchup.sh",
        "0 2 * * * /s/sample/scripts/task_000.sh",
        "0 2 * * * /s/sample/scripts/task_001.sh",
    ]
    task = plan.scripts[Path("/s/sample/scripts/task_001.sh")]
    assert f"source {REPO}/runners/cron/scripts/hardened/lib.sh" in task
    assert 'run_step task_001 ""' in task
    assert (
        "for step in task_000 task_001; do" in plan.scripts[Path("/s/sample/scripts/pipeline.sh")]
    )
    assert "LAST_STEP=task_001" in plan.scripts[Path("/s/sample/scripts/catchup.sh")]


def test_pipeline_is_one_entry_running_the_chain() -> None:
    plan = plan_of(HardenedCronScale(REPO, "pipeline"), scale.Shape("fanout", 3))
    assert plan.crontab().splitlines()[-2:] == [
        "59 1 * * * /s/sample/scripts/catchup.sh",
        "0 2 * * * /s/sample/scripts/pipeline.sh",
    ]
    text = plan.scripts[Path("/s/sample/scripts/pipeline.sh")]
    assert "for step in task_000 task_001 task_002; do" in text
    conc = plan_of(HardenedCronScale(REPO, "pipeline"), scale.Shape("concurrent", 2))
    assert conc.crontab().splitlines()[-1] == (
        "0 2 * * * LOGICAL_DATE=2026-01-02 /s/sample/scripts/pipeline.sh"
    )


@pytest.mark.parametrize(("days", "window"), [(3, "7"), (9, "9")])
def test_the_backfill_is_the_catch_up_entry(days: int, window: str) -> None:
    plan = plan_of(HardenedCronScale(REPO), scale.Shape("backfill", days))
    assert plan.crontab().splitlines()[-1] == "59 1 * * * /s/sample/scripts/catchup.sh"
    assert len(plan.jobs) == 1 and plan.minute == "59 1 * * *"
    assert plan.env["CATCHUP_DAYS"] == window  # the runner's 7, widened to cover the days
    today = scale.FIRST_DATE + dt.timedelta(days=days)
    assert plan.env["LOGICAL_DATE"] == today.isoformat()
    assert plan.fire.date() == today + dt.timedelta(days=1)


def test_item_of_a_step() -> None:
    assert scale_task.item_of("task_007", "2026-01-01") == 7
    assert scale_task.item_of("task", "2026-01-03") == 2
    with pytest.raises(ValueError):
        scale_task.item_of("ingest", "2026-01-01")


def test_mailed_reports_read_the_report_line(tmp_path: Path) -> None:
    (tmp_path / "1.eml").write_text(
        "X-Sink-Received-Ns: 1\nSubject: Cron <root@h> /s/task.sh (failed)\n\n"
        "task for 2026-01-02 failed (exit 1): another task is still running\nlast lines\n"
    )
    assert mailed_reports(tmp_path) == [
        "task for 2026-01-02 failed (exit 1): another task is still running"
    ]
    assert mailed_reports(tmp_path / "none") == []


# --- the generated scripts, run as cron would run the lines (no daemon) --------------------

needs_tools = pytest.mark.skipif(
    not (shutil.which("flock") and shutil.which("timeout")), reason="flock, timeout"
)


def start_jobs(plan: Plan, tmp: Path, lines: list[str]) -> list[subprocess.Popen[str]]:
    for path, text in plan.scripts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    env = {
        **plan.env,
        "PIPELINE_PYTHON": sys.executable,
        "PATH": JOB_PATH,
        "HOME": str(tmp),
        "PYTHONPATH": str(REPO),
    }
    return [
        subprocess.Popen(
            ["/bin/sh", "-c", line.split(" ", 5)[5]],
            env=env,
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in lines
    ]


@needs_tools
def test_the_catch_up_chain_runs_the_days_in_order(tmp_path: Path) -> None:
    plan = plan_of(HardenedCronScale(REPO), scale.Shape("backfill", 2), tmp_path)
    (tmp_path / "journal.jsonl").touch()
    (proc,) = start_jobs(plan, tmp_path, plan.crontab().splitlines()[-1:])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and not out and not err  # quiet: cron mails nothing
    records = scale.task_records(tmp_path / "journal.jsonl")
    assert [(r["logical_date"], r["item"]) for r in records] == [
        ("2026-01-01", 0),
        ("2026-01-02", 1),
    ]
    data = Path(plan.env["PIPELINE_DATA"])
    assert (data / "markers/2026-01-02/task.ok").is_file()
    assert (data / "markers/2026-01-03/catchup.ok").is_file()
    manifest = [json.loads(x) for x in (tmp_path / "logs/manifest.jsonl").read_text().splitlines()]
    assert [(m["date"], m["step"], m["exit"]) for m in manifest] == [
        ("2026-01-01", "task", 0),
        ("2026-01-02", "task", 0),
    ]


@needs_tools
def test_two_dates_of_one_step_cannot_overlap(tmp_path: Path) -> None:
    """What ``parallelism`` says of concurrent-K: lib.sh's step lock refuses the second."""
    plan = plan_of(HardenedCronScale(REPO), scale.Shape("concurrent", 2), tmp_path)
    (tmp_path / "journal.jsonl").touch()
    procs = start_jobs(plan, tmp_path, plan.crontab().splitlines()[-2:])
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 1]
    refused = next(err for rc, err in results if rc == 1)
    assert "another task is still running" in refused
    assert len(scale.task_records(tmp_path / "journal.jsonl")) == 1
    assert os.path.isdir(plan.env["PIPELINE_DATA"])
