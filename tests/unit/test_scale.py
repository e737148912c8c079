"""The cost-growth metrics and fit (``orchbench.scale``) on fake points, the point
directory's atomic publication, the CLI's bad input, and the report's section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchbench import scale
from orchbench.report.blocks import Image, Para, Table
from orchbench.report.growth import growth_section

S = 1_000_000_000


def rec(start_s: float, end_s: float) -> dict[str, Any]:
    return {"type": scale.RECORD, "start_ns": int(start_s * S), "end_ns": int(end_s * S)}


def test_sample_metrics_fanout_with_parallelism_two() -> None:
    shape = scale.Shape("fanout", 4)
    records = [rec(0, 1), rec(0, 1), rec(1, 2), rec(1, 2)]
    m = scale.compute_sample(shape, records, 0, int(2.4 * S), limit=2)
    assert m["sum_task_s"] == 4.0 and m["parallelism"] == 2 and m["ideal_s"] == 2.0
    assert m["overhead_s_per_task"] == pytest.approx(0.1)
    assert m["observed_parallelism"] == 2 and m["task_records"] == 4


def test_parallelism_capped_by_tasks_and_touching_intervals_do_not_overlap() -> None:
    shape = scale.Shape("backfill", 3)
    records = [rec(0, 1), rec(1, 2), rec(2, 3)]
    m = scale.compute_sample(shape, records, 0, 3 * S, limit=50)
    assert m["parallelism"] == 3  # min(limit, tasks)
    assert m["observed_parallelism"] == 1


@pytest.mark.parametrize(
    ("exponent", "cls"),
    [(0.0, "roughly constant"), (1.0, "linear"), (2.0, "worse than linear")],
)
def test_fit_growth_classes(exponent: float, cls: str) -> None:
    pts = [(n, 3.0 * n**exponent) for n in (1, 10, 50, 100)]
    g = scale.fit_growth(pts)
    assert g.slope == pytest.approx(exponent, abs=1e-3) and g.cls == cls
    assert g.ns == (10, 50, 100)  # N = 1 left out


def test_fit_fixed_plus_per_task_cost_is_linear() -> None:
    """A fixed start-up cost plus a constant cost per task: total overhead linear."""
    pts = [(n, 3.0 + 0.75 * n) for n in (1, 10, 50, 100)]
    assert scale.fit_growth(pts).cls == "linear"


def test_fit_needs_two_sizes_and_floors_non_positive_values() -> None:
    assert scale.fit_growth([(10, 1.0)]).slope is None
    g = scale.fit_growth([(1, 1.0), (7, -0.01), (30, 0.0)], floor=1e-3)
    assert g.slope == 0.0 and g.cls == "roughly constant"


def point(n: int, wall: float, ideal: float, status: str = "completed") -> dict[str, Any]:
    return {
        "schema": scale.SCHEMA,
        "engine": "fake",
        "system": "Fake",
        "shape": "fanout",
        "n": n,
        "tasks": n,
        "task": {"name": scale.TASK_NAME, "sleep_s": 1.0},
        "status": status,
        "wall_s": wall,
        "ideal_s": ideal,
        "min_wall_s": wall,
        "max_wall_s": wall,
        "overhead_s_per_task": (wall - ideal) / n,
        "parallelism": 2,
        "observed_parallelism": 2,
        "parallelism_source": "fake",
        "versions": {},
    }


def test_fit_point_set_and_words() -> None:
    pts = [point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50, 100)]
    pts.append(point(200, 0, 0, status="timeout"))  # not fitted
    fits = scale.fit_point_set(pts)
    assert fits["wall"].cls == "linear" and fits["overhead"].cls == "linear"
    assert "overhead per task stays roughly constant" in scale.describe_growth(fits)


def test_parse_sizes() -> None:
    assert scale.parse_sizes(None, "fanout") == scale.DEFAULT_SIZES["fanout"]
    assert scale.parse_sizes("", "backfill") == ()
    assert scale.parse_sizes("1, 7,7", "backfill") == (1, 7)
    for bad in ("x", "0", "1,-2", "5000"):
        with pytest.raises(ValueError, match="--fanout"):
            scale.parse_sizes(bad, "fanout")


class FakeEngine(scale.ScaleEngine):
    """Writes the task records itself (a contract test of measure_point, not an engine)."""

    name = "fake"
    system = "Fake"

    def parallelism(self, shape: scale.Shape) -> tuple[int, str]:
        return 2, "fake"

    def run(self, shape: scale.Shape, point: scale.PointContext) -> scale.Timing:
        for i in range(shape.tasks):
            scale.run_task(
                point.journal,
                engine=self.name,
                point=shape.name,
                item=i,
                logical_date="2026-01-01",
                sleep_s=0.0,
            )
        return scale.Timing(0, 2 * S)


def test_measure_point_publishes_atomically_and_replaces(tmp_path: Path) -> None:
    engine = FakeEngine(tmp_path)
    shape = scale.Shape("fanout", 3)
    first = scale.measure_point(engine, shape, tmp_path, repeat=2)
    assert first == tmp_path / "fake" / "fanout-3"
    p = json.loads((first / scale.POINT_JSON).read_text())
    assert p["schema"] == scale.SCHEMA and p["status"] == "completed"
    assert p["records"] == ["journal-1.jsonl", "journal-2.jsonl"]
    assert len(scale.task_records(first / "journal-1.jsonl")) == 3
    again = scale.measure_point(engine, shape, tmp_path)
    assert again == first and json.loads((again / scale.POINT_JSON).read_text())["repeat"] == 1
    assert sorted(x.name for x in (tmp_path / "fake").iterdir()) == ["fanout-3"]
    assert [q["n"] for q in scale.load_points(tmp_path)] == [3]


def test_missing_records_make_the_point_failed(tmp_path: Path) -> None:
    class Lossy(FakeEngine):
        def run(self, shape: scale.Shape, point: scale.PointContext) -> scale.Timing:
            return scale.Timing(0, S)

    p = scale.measure_point(Lossy(tmp_path), scale.Shape("backfill", 2), tmp_path)
    rec_ = json.loads((p / scale.POINT_JSON).read_text())
    assert rec_["status"] == "failed" and "0 task records" in rec_["reason"]


@pytest.mark.parametrize(
    "args",
    [["--runners", "nope"], ["--fanout", "1,x"], ["--backfill", "0"], ["--repeat", "0"]],
)
def test_cli_bad_input_one_line_exit_2(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "scale"
    done = subprocess.run(
        [sys.executable, "-m", "orchbench", "scale", *args, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "error" in done.stderr
    assert not out.exists()


def test_report_section_from_points() -> None:
    pts = [point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50)]
    blocks = growth_section(pts)
    images = [b for b in blocks if isinstance(b, Image)]
    assert len(images) == 1 and images[0].png.startswith(b"\x89PNG")
    assert any(isinstance(b, Para) and "wall time linear" in b.text for b in blocks)


def test_report_table_reads_overhead_in_its_unit_and_names_each_source_once() -> None:
    pts = [point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50)]
    pts[0]["overhead_s_per_task"], pts[1]["overhead_s_per_task"] = 2.854, 0.0468
    table = next(b for b in growth_section(pts) if isinstance(b, Table))
    per_task = [r[4] for r in table.rows]
    assert per_task[:2] == ["2.85 s", "46.8 ms"]
    sources = [r[6] for r in table.rows]
    assert sources[0] and sources[1:] == ["″", "″"]
