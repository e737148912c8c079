"""Shared fixtures: small scenarios and worlds built with the real workflow code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fault_injection import state as fault_state
from orchbench.scenario import Scenario
from orchbench.workflow.data import prepare_world
from orchbench.world import World

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


@pytest.fixture
def small_world(tmp_path: Path) -> tuple[World, Path]:
    """A world for a 2-day scenario with 1000 rows a day, and a journal path beside it."""
    world = prepare_world(tmp_path / "world", make_scenario())
    fault_state.arm(world, [])
    return world, tmp_path / "journal.jsonl"


@pytest.fixture(scope="session")
def published_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One results tree for the session: the cron and Prefect integration tests (and the
    Airflow celery test's default-profile 2-day ``schema_break``) publish their
    default-profile runs here, and the notebook tests read it as the published
    results (``ORCHBENCH_RESULTS``), as after ``make bench``, instead of running the same
    scenarios again."""
    return tmp_path_factory.mktemp("published")
