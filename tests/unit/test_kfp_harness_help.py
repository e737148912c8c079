"""What the kfp adapters journal as harness help and as operator commands (fake contexts:
only our journal and recovery plan; no KFP runs)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchbench.contracts import RecoveryPlan
from orchbench.journal import Journal
from runners.kfp.adapter import KfpRunner
from runners.kfp.docker_adapter import KfpDockerRunner
from tests.conftest import make_scenario


def test_kfp_docker_journals_the_memory_limit_it_gave_each_container(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    ctx: Any = SimpleNamespace(journal=journal)
    runner = KfpDockerRunner()
    runner._limit, runner._declared_limits = 512_000_000, {"train": "512M"}
    runner.task_started(ctx, "2026-01-02", "train")
    runner.task_started(ctx, "2026-01-02", "alert-on-failure")  # a container too
    runner._limit = None  # a spec without a memory limit: nothing was supplied
    runner.task_started(ctx, "2026-01-03", "train")
    assists = Journal.load(journal).assists
    assert [(h["assist"], h["step"]) for h in assists] == [
        ("memory_limit", "train"),
        ("memory_limit", "alert-on-failure"),
    ]
    assert assists[0]["memory_limit_bytes"] == 512_000_000 and assists[0]["declared"] == "512M"
    assert "task_executor.py" in assists[0]["by"]  # where kfp.local says it ignores it


def test_kfp_local_supplies_no_memory_limit(tmp_path: Path) -> None:
    ctx: Any = SimpleNamespace(journal=tmp_path / "journal.jsonl")
    KfpRunner().task_started(ctx, "2026-01-02", "train")
    assert not (tmp_path / "journal.jsonl").exists()


def test_recover_types_one_command_per_date_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed: list[str] = []
    submitted: list[tuple[str, bool]] = []
    ctx: Any = SimpleNamespace(
        operator=typed.append,
        journal=tmp_path / "journal.jsonl",
        scenario=make_scenario(),
    )
    runner = KfpRunner()
    trace = [{"kind": "task_attempt", "logical_date": "2026-01-03", "step": "ingest",
              "state": "success"}]  # fmt: skip
    monkeypatch.setattr(runner, "_trace", lambda c: trace)
    monkeypatch.setattr(runner, "command", lambda c, d, cache=True: ["py", "run", d, str(cache)])
    monkeypatch.setattr(
        runner, "_submit_until_done", lambda c, d, cache=True: submitted.append((d, cache))
    )
    plan = RecoveryPlan(restart_from={"2026-01-03": "ingest", "2026-01-02": "train"})
    runner.recover(ctx, plan)
    assert typed == ["python run 2026-01-02 True", "python run 2026-01-03 False"]
    # a step KFP last shows successful has a stale cache entry: that date without cache
    assert submitted == [("2026-01-02", True), ("2026-01-03", False)]
    assert not (tmp_path / "journal.jsonl").exists()  # no harness help, no other record


def test_cron_fires_kfp_only_on_system_scheduled_runs_from_one_crontab_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kfp.local has no scheduler: cron fires it when the run is system-scheduled. The
    crontab runs the harness's own submission command for the date cron gives it."""
    from orchbench.runner import HARNESS, SYSTEM

    runner = KfpRunner()
    harness: Any = SimpleNamespace(scheduling=HARNESS)
    system: Any = SimpleNamespace(scheduling=SYSTEM)
    assert runner.fired_by(harness) == HARNESS and runner.fired_by(system) == "cron"
    ctx: Any = SimpleNamespace(step_env=lambda: {"ORCHBENCH_RUN_ID": "r1", "ORCHBENCH_X": "a b"})
    monkeypatch.setattr(
        runner, "command", lambda c, d, cache=True: ["/py", "-m", "m", "--logical-date", d, "--x"]
    )
    tab = runner.crontab(ctx, "2026-01-02", tmp_path / "sub 1.log").splitlines()
    assert tab[:4] == [
        "LOGICAL_DATE=2026-01-02",
        "ORCHBENCH_RUN_ID=r1",
        "ORCHBENCH_X=a b",
        "PYTHONUNBUFFERED=1",
    ]
    (entry,) = tab[4:]
    assert "MAILTO" not in "".join(tab)  # output goes to the log: nothing to mail
    assert entry.startswith("0 2 * * * cd ")
    assert '/py -m m --logical-date "$LOGICAL_DATE" --x >> ' in entry
    assert entry.endswith(f"'{tmp_path / 'sub 1.log'}' 2>&1")
