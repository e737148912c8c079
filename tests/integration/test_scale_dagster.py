"""Cost-growth points on a real ``dagster dev`` with small N (``runners/dagster/scale.py``):
every task journaled, the fan-out's steps never more at once than the multiprocess
executor's ``max_concurrent`` (how many overlap hangs on each step process's start, about
1.5 s against the 1-s task: 2 on a quiet machine, 1 in the CI of 1ae9dcd), the backfill's
runs one at a time as the runner's run queue allows, and nothing of ``dagster dev`` left
afterwards. Behaviour, not timings."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from orchbench import rundir, scale
from orchbench.point import POINT_JSON
from tests.integration.leftovers import processes_mentioning
from tests.integration.test_scale import check_points

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not (REPO / ".venvs/dagster/bin/python").exists(), reason="make setup")
def test_dagster_scale_small(tmp_path: Path) -> None:
    dot_dagster = Path.home() / ".dagster"
    had_dot_dagster = dot_dagster.exists()
    paths = scale.run_scale(
        ["dagster"], scale.shapes_of({"fanout": (1, 5), "backfill": (2,)}), tmp_path
    )
    assert len(paths) == 3
    steps = min(5, multiprocessing.cpu_count())  # max_concurrent unset: cpu_count()
    overlap = range(1, steps + 1)
    check_points(tmp_path, "dagster", {"fanout-1": 1, "fanout-5": overlap, "backfill-2": 1})
    fanout = json.loads(
        (rundir.point_dir(tmp_path, "dagster", "fanout-5") / POINT_JSON).read_text()
    )
    assert fanout["engine_parallelism"] == multiprocessing.cpu_count()
    assert "max_concurrent" in fanout["parallelism_source"]
    backfill = json.loads(
        (rundir.point_dir(tmp_path, "dagster", "backfill-2") / POINT_JSON).read_text()
    )
    assert backfill["engine_parallelism"] == 1  # the runner's run_queue max_concurrent_runs
    assert backfill["settings"]["limits"]["run_coordinator"] == "QueuedRunCoordinator"
    assert backfill["versions"]["dagster"] and backfill["system_version"]
    records = scale.task_records(
        rundir.point_dir(tmp_path, "dagster", "backfill-2") / "journal-1.jsonl"
    )
    assert sorted((r["logical_date"], r["item"]) for r in records) == [
        ("2026-01-01", 0), ("2026-01-02", 1),
    ]  # fmt: skip
    assert processes_mentioning(str(tmp_path)) == []
    assert had_dot_dagster or not dot_dagster.exists()  # DAGSTER_HOME, telemetry off
