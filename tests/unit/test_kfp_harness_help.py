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
