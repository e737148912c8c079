"""The code-change scenario: the team's code repository, the day loop's deploy, the
wrapper's code version, and the ``code_version`` lineage fact it lets fail."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from orchbench.journal import Journal
from orchbench.metrics import analyse, lineage_by_fact
from orchbench.oracle import oracle_key
from orchbench.runner import CODE_CHANGE, RunContext, Runner
from orchbench.scenario import ScenarioError, load_scenario, parse_scenario
from orchbench.workflow import repo
from orchbench.world import World
from orchbench.wrapper import code_version
from tests.conftest import REPO, run_context
from tests.unit.journal_builder import Builder
from tests.unit.test_lineage import full_trace

D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"
HEADER = "schema: orchbench.scenario/1\nname: s\nclaim: a test scenario claim\ndays: 3\n"


def test_the_repository_is_real_git_and_a_revision_is_a_new_commit(tmp_path: Path) -> None:
    world = World(tmp_path / "world")
    first = repo.init_repo(world)
    assert repo.load_module(world, "train")["CS"] == 20
    v1 = code_version("train", world)
    second = repo.commit_revision(world, "train", 2)
    log = subprocess.run(
        ["git", "-C", str(world.code), "rev-list", "HEAD"], capture_output=True, text=True
    ).stdout.split()
    assert log == [second, first]
    # the same process sees the change: neither the module nor the hash is cached
    assert repo.load_module(world, "train")["CS"] == 10
    assert code_version("train", world) != v1
    assert code_version("ingest", world) == code_version("ingest")  # no module: unchanged


def test_a_world_without_a_repository_runs_revision_1(tmp_path: Path) -> None:
    world = World(tmp_path / "old-world")
    assert repo.load_module(world, "train")["CS"] == 20
    assert code_version("train", world) == code_version("train")


def test_scenario_code_changes_are_checked() -> None:
    s = parse_scenario(HEADER + "code_changes: [{day: 2, step: train, revision: 2}]\n")
    assert [c.day for c in s.code_changes_on(2)] == [2] and not s.code_changes_on(1)
    with pytest.raises(ScenarioError, match="after the last day"):
        parse_scenario(HEADER + "code_changes: [{day: 4, step: train, revision: 2}]\n")
    with pytest.raises(ScenarioError, match="no revision 9"):
        parse_scenario(HEADER + "code_changes: [{day: 2, step: train, revision: 9}]\n")
    with pytest.raises(ScenarioError, match=r"code_changes\.0\.step"):
        parse_scenario(HEADER + "code_changes: [{day: 2, step: ingest, revision: 2}]\n")


def test_the_oracle_key_includes_the_code_changes() -> None:
    changed = load_scenario(REPO / "scenarios" / "code_change.yaml")
    clean = changed.model_copy(update={"code_changes": []})
    assert oracle_key(changed) != oracle_key(clean)


class _Deploying(Runner):
    """Records which revision is committed when each hook of the day loop runs."""

    name = "deploying"
    system = "none"

    def __init__(self) -> None:
        super().__init__(repo_root=REPO)
        self.calls: list[str] = []

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        self.calls.append(f"deploy {step} r{revision} CS={self._cs(ctx)}")

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        self.calls.append(f"run {date} CS={self._cs(ctx)}")

    @staticmethod
    def _cs(ctx: RunContext) -> int:
        return repo.load_module(ctx.world, "train")["CS"]


def test_the_day_loop_commits_then_deploys_before_the_day_fires(tmp_path: Path) -> None:
    world = World(tmp_path / "world")
    repo.init_repo(world)
    ctx = run_context(tmp_path, load_scenario(REPO / "scenarios" / "code_change.yaml"), "deploying")
    runner = _Deploying()
    runner.run_days(ctx)
    assert runner.calls == [
        f"run {D1} CS=20",
        "deploy train r2 CS=10",
        f"run {D2} CS=10",
        f"run {D3} CS=10",
    ]
    [event] = [h for h in Journal.load(ctx.journal).harness if h["event"] == CODE_CHANGE]
    assert event["step"] == "train" and event["revision"] == 2
    assert event["commit"] == repo.head(world)


def code_change_journal() -> Builder:
    """Three days; train runs revision 1 on day 1 and revision 2 from day 2."""
    b = Builder()
    for date, train_cv in ((D1, "train-r1"), (D2, "train-r2"), (D3, "train-r2")):
        for step in ("ingest", "validate", "featurize"):
            b.step(step, date)
        b.step("train", date, code_version=train_cv)
    return b


def code_version_fact(b: Builder, trace: list[dict[str, object]]) -> float | None:
    return lineage_by_fact(analyse(b.journal()), trace)["code_version"]


def test_a_system_showing_one_train_version_across_the_change_fails_the_fact() -> None:
    b = code_change_journal()
    # records that tell the two versions apart: every fact holds
    assert code_version_fact(b, full_trace(b)) == 1.0
    # records that show one version of train before and after the change (a DAG version
    # that did not move): the three train facts fail, the nine others hold
    same = full_trace(b)
    for r in same:
        if r["step"] == "train":
            r["code_version"] = "dag v1/train"
    assert code_version_fact(b, same) == pytest.approx(9 / 12)
    # records with no version for train at all fail those facts too
    for r in same:
        if r["step"] == "train":
            r["code_version"] = None
    assert code_version_fact(b, same) == pytest.approx(9 / 12)
