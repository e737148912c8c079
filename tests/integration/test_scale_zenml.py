"""The ZenML scale engine on the real package with small N (``runners/zenml/scale.py``):
every task journaled, the mapped fan-out's steps overlapping in the run's thread pool,
the catch-up script's runs one after another, point.json valid; nothing left running and
nothing written to ``~/.config/zenml`` or a ``.zen`` marker. Behaviour, not timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench import rundir, scale
from orchbench.point import POINT_JSON
from tests.integration.leftovers import processes_mentioning
from tests.integration.test_scale import check_points

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (REPO / ".venvs/zenml/bin/python").exists(), reason="make setup")
def test_zenml_scale_small(tmp_path: Path) -> None:
    """ZenML's dynamic map runs a 5-way fan-out's steps on its 10 worker threads (their
    starts are staggered by each launch's store writes, so how many overlap hangs on
    timing: 4 in the first live run; the test holds them to at most the 5 tasks); the
    catch-up script runs a 2-day backfill one run after another."""
    user_config = Path.home() / ".config" / "zenml"
    before = user_config.exists()
    paths = scale.run_scale(
        ["zenml"], scale.shapes_of({"fanout": (1, 5), "backfill": (2,)}), tmp_path
    )
    assert len(paths) == 3
    check_points(tmp_path, "zenml", {"fanout-1": 1, "fanout-5": range(1, 6), "backfill-2": 1})
    p = json.loads((rundir.point_dir(tmp_path, "zenml", "fanout-5") / POINT_JSON).read_text())
    assert p["engine_parallelism"] == 10 and p["parallelism"] == 5
    assert p["versions"]["zenml"] and p["settings"]["caching"].startswith("off")
    d = rundir.point_dir(tmp_path, "zenml", "backfill-2")
    records = scale.task_records(d / "journal-1.jsonl")
    assert [r["logical_date"] for r in records] == ["2026-01-01", "2026-01-02"]
    assert processes_mentioning(str(tmp_path)) == []
    assert user_config.exists() == before and not (REPO / ".zen").exists()
