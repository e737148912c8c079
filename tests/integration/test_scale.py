"""Cost-growth points on the real engines with small N: every task journaled, fan-out
tasks overlapping as the engine's parallelism says, point.json valid. Behaviour, not
timings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchbench import rundir, scale
from orchbench.point import POINT_JSON, SCHEMA
from tests.integration.leftovers import processes_mentioning
from tests.integration.test_cron import CRON

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def check_points(out: Path, engine: str, expect_overlap: dict[str, int | range]) -> None:
    """Each point complete and consistent; its observed overlap the expected number, or
    within the expected range where the overlap hangs on timing (a step process's start
    against the 1-s task: Dagster, ZenML), never above what the engine declares."""
    for shape in (scale.Shape("fanout", 1), scale.Shape("fanout", 5), scale.Shape("backfill", 2)):
        d = rundir.point_dir(out, engine, shape.name)
        p = json.loads((d / POINT_JSON).read_text())
        assert p["schema"] == SCHEMA and p["status"] == "completed", p.get("reason")
        assert p["engine"] == engine and p["versions"]
        records = scale.task_records(d / p["records"][0])
        assert len(records) == shape.tasks
        assert sorted({r["logical_date"] for r in records}) == shape.dates()
        assert p["sum_task_s"] >= shape.tasks * scale.TASK_S
        assert p["wall_s"] >= p["ideal_s"] > 0
        want = expect_overlap[shape.name]
        assert p["observed_parallelism"] in (want if isinstance(want, range) else (want,))


@pytest.mark.skipif(not (REPO / ".venvs/kfp/bin/python").exists(), reason="make setup")
def test_kfp_scale_small(tmp_path: Path) -> None:
    """kfp.local runs ParallelFor iterations two at a time; a backfill one run after another."""
    paths = scale.run_scale(
        ["kfp"], scale.shapes_of({"fanout": (1, 5), "backfill": (2,)}), tmp_path
    )
    assert len(paths) == 3
    check_points(tmp_path, "kfp", {"fanout-1": 1, "fanout-5": 2, "backfill-2": 1})
    p = json.loads((rundir.point_dir(tmp_path, "kfp", "fanout-5") / POINT_JSON).read_text())
    assert p["parallelism"] == 2
    assert p["growth"]["over"] == [1, 5]  # the fit over the fan-out points so far


@CRON
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="cron needs root (namespaces)")
def test_cron_scale_small(tmp_path: Path) -> None:
    """cron starts all jobs of a minute at once; the catch-up loop runs days in order."""
    scale.run_scale(["cron"], scale.shapes_of({"fanout": (1, 5), "backfill": (2,)}), tmp_path)
    check_points(tmp_path, "cron", {"fanout-1": 1, "fanout-5": 5, "backfill-2": 1})
    d = rundir.point_dir(tmp_path, "cron", "backfill-2")
    records = scale.task_records(d / "journal-1.jsonl")
    assert [r["logical_date"] for r in records] == ["2026-01-01", "2026-01-02"]


@CRON
@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="cron needs root (namespaces)")
def test_cron_hardened_scale_small(tmp_path: Path) -> None:
    """The hardened scripts' tasks (``lib.sh`` steps) start together at their minute, the
    runner's catch-up job re-runs the missed days in order, and two dates of one step at
    once meet ``lib.sh``'s per-step lock: the point fails with the mailed reason."""
    shapes = scale.shapes_of({"fanout": (1, 5), "backfill": (2,), "concurrent": (2,)})
    scale.run_scale(["cron-hardened"], shapes, tmp_path)
    check_points(tmp_path, "cron-hardened", {"fanout-1": 1, "fanout-5": 5, "backfill-2": 1})
    d = rundir.point_dir(tmp_path, "cron-hardened", "backfill-2")
    records = scale.task_records(d / "journal-1.jsonl")
    assert [r["logical_date"] for r in records] == ["2026-01-01", "2026-01-02"]
    d = rundir.point_dir(tmp_path, "cron-hardened", "concurrent-2")
    p = json.loads((d / POINT_JSON).read_text())
    assert p["status"] == "failed" and p["engine_parallelism"] == 1
    assert "another task is still running" in p["reason"]
    assert processes_mentioning(str(tmp_path)) == []


@pytest.mark.skipif(not (REPO / ".venvs/airflow/bin/airflow").exists(), reason="make setup")
def test_airflow_scale_small(tmp_path: Path) -> None:
    """Airflow's defaults (parallelism 32, max_active_tasks 16 per run, a backfill's
    max_active_runs 10) run a 5-way fan-out and a 2-day backfill all at once; nothing of
    the stack is left afterwards."""
    paths = scale.run_scale(
        ["airflow"], scale.shapes_of({"fanout": (1, 5), "backfill": (2,)}), tmp_path
    )
    assert len(paths) == 3
    check_points(tmp_path, "airflow", {"fanout-1": 1, "fanout-5": 5, "backfill-2": 2})
    for shape, limit in ((scale.Shape("fanout", 5), 16), (scale.Shape("backfill", 2), 10)):
        p = json.loads((rundir.point_dir(tmp_path, "airflow", shape.name) / POINT_JSON).read_text())
        assert p["engine_parallelism"] == limit and p["parallelism"] == shape.tasks
        assert p["versions"]["apache-airflow"] and p["settings"]["profile"] == "default"
    d = rundir.point_dir(tmp_path, "airflow", "backfill-2")
    records = scale.task_records(d / "journal-1.jsonl")
    assert sorted((r["logical_date"], r["item"]) for r in records) == [
        ("2026-01-01", 0), ("2026-01-02", 1),
    ]  # fmt: skip
    assert not processes_mentioning(str(tmp_path))


@pytest.mark.skipif(not (REPO / ".venvs/prefect/bin/python").exists(), reason="make setup")
def test_prefect_scale_small(tmp_path: Path) -> None:
    """Prefect maps a fan-out over threads with no limit as installed; the catch-up script
    runs the days one after another; nothing of the server or the scripts outlives the
    run."""
    scale.run_scale(["prefect"], scale.shapes_of({"fanout": (1, 5), "backfill": (2,)}), tmp_path)
    check_points(tmp_path, "prefect", {"fanout-1": 1, "fanout-5": 5, "backfill-2": 1})
    assert processes_mentioning(str(tmp_path)) == []
    assert sorted(p.name for p in (tmp_path / "prefect").iterdir()) == [
        "backfill-2",
        "fanout-1",
        "fanout-5",
    ]
