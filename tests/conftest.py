"""Shared fixtures: small scenarios and worlds built with the real workflow code."""

from __future__ import annotations

import os
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
    from collections.abc import Iterator

    from tests.conformance.bench import Bench, Started

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


@pytest.fixture(scope="session")
def published_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results tree for the session: the conformance suite publishes every runner's
    default-profile runs of its short scenarios here (``conformance``), and the notebook
    tests read it as the published results (``ORCHBENCH_RESULTS``), as after ``make
    bench``, instead of running the same scenarios again."""
    return tmp_path_factory.mktemp("published")


# The conformance bench starts before the first test (``conformance_started``) and runs
# beside the tests that do not read it; the tests that do read it run last, the first of
# them waiting for it under this timeout instead of pyproject's 600 s.
BENCH_TIMEOUT_S = 2400


def _reads_bench(item: pytest.Item) -> bool:
    return "conformance" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that read the conformance bench go last (in their collected order), so
    the rest run while it runs."""
    readers = [item for item in items if _reads_bench(item)]
    for item in readers:
        item.add_marker(pytest.mark.timeout(BENCH_TIMEOUT_S))
    items[:] = [item for item in items if not _reads_bench(item)] + readers


@pytest.fixture(scope="session", autouse=True)
def conformance_started(
    request: pytest.FixtureRequest,
    published_runs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Started | None]:
    """The conformance bench (``tests/conformance/bench.py``), started once per session
    before the first test when a collected test reads it (none for ``pytest tests/unit``);
    stopped at the session's end if it still runs (an interrupted session)."""
    wanted = any(_reads_bench(item) for item in request.session.items)
    if not wanted or os.environ.get("ORCHBENCH_CONFORMANCE_RUNS"):
        yield None
        return
    from tests.conformance.bench import start_bench

    started = start_bench(published_runs, tmp_path_factory.mktemp("conformance-scenarios"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def bench_finished(conformance: Bench) -> None:
    """For a test that must not run beside the conformance bench, though it reads none of
    its runs: it needs what a bench lane holds (the harness's one Docker data root, locked
    by the kfp-docker lane's dockerd) or checks the whole machine for such processes. It
    runs with the bench's readers, after the bench."""


@pytest.fixture(scope="session")
def conformance(conformance_started: Started | None) -> Bench:
    """The conformance bench's runs, once per session: the conformance properties and the
    runner-specific tests that read its runs share it. ``ORCHBENCH_CONFORMANCE_RUNS=DIR``
    checks a bench run before again."""
    from tests.conformance.bench import read_bench

    if os.environ.get("ORCHBENCH_CONFORMANCE_RUNS"):
        return read_bench(Path(os.environ["ORCHBENCH_CONFORMANCE_RUNS"]))
    assert conformance_started is not None  # a test reading it was collected
    return conformance_started.result()
