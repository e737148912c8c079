"""Shared fixtures: small scenarios and worlds built with the real workflow code."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from fault_injection import state as fault_state
from orchbench.runner import RunContext
from orchbench.scenario import Scenario
from orchbench.workflow.data import prepare_world
from orchbench.world import World

if TYPE_CHECKING:
    from tests.conformance.bench import Bench

REPO = Path(__file__).resolve().parent.parent


def make_scenario(**over: Any) -> Scenario:
    base: dict[str, Any] = {
        "schema": "orchbench.scenario/1",
        "name": "t",
        "claim": "a test scenario claim",
        "days": 2,
        "data": {"rows_per_day": 1000, "seed": 3},
    }
    base.update(over)
    return Scenario.model_validate(base)


def run_context(tmp_path: Path, scenario: Scenario, runner: str, **extra: Any) -> RunContext:
    """A RunContext for hook-level tests: the world under ``tmp_path`` (its fault state's
    folder made, nothing prepared), a 60 s deadline."""
    world = World(tmp_path / "world")
    world.faults_state.parent.mkdir(parents=True, exist_ok=True)
    return RunContext(
        scenario=scenario,
        runner=runner,
        profile="default",
        run_id="r1",
        run_dir=tmp_path,
        world=world,
        deadline=time.monotonic() + 60,
        repo_root=REPO,
        **extra,
    )


@pytest.fixture
def small_world(tmp_path: Path) -> tuple[World, Path]:
    """A world for a 2-day scenario with 1000 rows a day, and a journal path beside it."""
    world = prepare_world(tmp_path / "world", make_scenario())
    fault_state.arm(world, [])
    return world, tmp_path / "journal.jsonl"


# ``make test`` hands its first pass's conformance bench to the second: the first pass
# publishes it into ``ORCHBENCH_CONFORMANCE_OUT`` (emptied first) instead of a temporary
# directory, and the second reads it from there (``ORCHBENCH_CONFORMANCE_RUNS``) for the
# tests that read the bench and also start a system of their own (marked ``parallel`` in
# their module), so those run on the xdist workers beside the other tests, not one after
# another once the bench is done.
OUT_ENV = "ORCHBENCH_CONFORMANCE_OUT"
RUNS_ENV = "ORCHBENCH_CONFORMANCE_RUNS"


@pytest.fixture(scope="session")
def published_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results tree for the session: the conformance suite publishes every runner's
    default-profile runs of its short scenarios here (``conformance``), and the notebook
    tests read it as the published results (``ORCHBENCH_RESULTS``), as after ``make
    bench``, instead of running the same scenarios again."""
    if os.environ.get(OUT_ENV):
        out = Path(os.environ[OUT_ENV]).resolve()
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        return out
    return tmp_path_factory.mktemp("published")


# The conformance bench runs in the setup of the first test that asks for it, under that
# test's timeout: every such test gets this one instead of pyproject's 600 s.
BENCH_TIMEOUT_S = 2400
# ``make test`` runs the tests that do not read the conformance bench (``parallel``) after
# the bench and its readers, on several xdist workers (``-m parallel -n TEST_JOBS --dist
# loadgroup``); tests that look at state shared by the whole machine (the harness's Docker
# daemon, cron daemons on a fake clock) carry one ``xdist_group``, so they run one after
# another on one worker.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "conformance" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(BENCH_TIMEOUT_S))
        elif not item.get_closest_marker("parallel"):
            item.add_marker(pytest.mark.parallel)


@pytest.fixture(scope="session")
def conformance(published_runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Bench:
    """The conformance bench (``tests/conformance/bench.py``), run once per session: the
    conformance properties and the runner-specific tests that read its runs share it."""
    from tests.conformance.bench import read_bench, run_bench

    if os.environ.get(RUNS_ENV):  # a bench run before: make test's second pass, or by hand
        return read_bench(Path(os.environ[RUNS_ENV]).resolve())
    return run_bench(published_runs, tmp_path_factory.mktemp("conformance-scenarios"))
