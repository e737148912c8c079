"""The cost-growth figures and fit (``orchbench.growth``) on fake points, the point
directory's publication through ``orchbench.rundir`` with its fit, the CLI's bad input,
and the report's section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchbench import growth, ownership, plugins, rundir, scale
from orchbench.point import POINT_JSON, SCHEMA, Point, load_point, load_points
from orchbench.report.blocks import Image, Para, Table
from orchbench.report.growth import growth_section

S = 1_000_000_000


def rec(start_s: float, end_s: float) -> dict[str, Any]:
    return {"type": scale.RECORD, "start_ns": int(start_s * S), "end_ns": int(end_s * S)}


def test_sample_metrics_fanout_with_parallelism_two() -> None:
    shape = scale.Shape("fanout", 4)
    records = [rec(0, 1), rec(0, 1), rec(1, 2), rec(1, 2)]
    m = growth.compute_sample(shape.tasks, records, 0, int(2.4 * S), limit=2)
    assert m["sum_task_s"] == 4.0 and m["parallelism"] == 2 and m["ideal_s"] == 2.0
    assert m["overhead_s_per_task"] == pytest.approx(0.1)
    assert m["observed_parallelism"] == 2 and m["task_records"] == 4


def test_parallelism_capped_by_tasks_and_touching_intervals_do_not_overlap() -> None:
    shape = scale.Shape("backfill", 3)
    records = [rec(0, 1), rec(1, 2), rec(2, 3)]
    m = growth.compute_sample(shape.tasks, records, 0, 3 * S, limit=50)
    assert m["parallelism"] == 3  # min(limit, tasks)
    assert m["observed_parallelism"] == 1


@pytest.mark.parametrize(
    ("exponent", "cls"),
    [(0.0, "roughly constant"), (1.0, "linear"), (2.0, "worse than linear")],
)
def test_fit_growth_classes(exponent: float, cls: str) -> None:
    pts = [(n, 3.0 * n**exponent) for n in (1, 10, 50, 100)]
    g = growth.fit_growth(pts)
    assert g.slope == pytest.approx(exponent, abs=1e-3) and g.cls == cls
    assert g.ns == (10, 50, 100)  # N = 1 left out


def test_fit_fixed_plus_per_task_cost_is_linear() -> None:
    """A fixed start-up cost plus a constant cost per task: total overhead linear."""
    pts = [(n, 3.0 + 0.75 * n) for n in (1, 10, 50, 100)]
    assert growth.fit_growth(pts).cls == "linear"


def test_fit_needs_two_sizes_and_floors_non_positive_values() -> None:
    assert growth.fit_growth([(10, 1.0)]).slope is None
    g = growth.fit_growth([(1, 1.0), (7, -0.01), (30, 0.0)], floor=1e-3)
    assert g.slope == 0.0 and g.cls == "roughly constant"


def point(n: int, wall: float, ideal: float, status: str = "completed", **kw: Any) -> Point:
    done = status == "completed"
    return Point(
        engine="fake",
        system="Fake",
        shape="fanout",
        n=n,
        tasks=n,
        runs=1,
        task={"name": scale.TASK_NAME, "sleep_s": 1.0},  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        reason=None if done else "fake",
        measured_at=kw.pop("measured_at", f"2026-01-01T00:00:{n % 60:02d}+00:00"),
        versions={},
        machine={},
        engine_parallelism=2,
        parallelism_source="fake",
        settings={},
        repeat=1,
        records=[],
        samples=[],
        **(
            {
                "wall_s": wall,
                "ideal_s": ideal,
                "sum_task_s": 2 * ideal,
                "min_wall_s": wall,
                "max_wall_s": wall,
                "overhead_s_per_task": (wall - ideal) / n,
                "parallelism": 2,
                "observed_parallelism": 2,
            }
            if done
            else {}
        ),
        **kw,
    )


def fitted(pts: list[Point]) -> list[Point]:
    """The points as ``orchbench scale`` publishes them one after another, each with the
    fit over those before it and itself."""
    out: list[Point] = []
    for p in pts:
        out.append(p.model_copy(update={"growth": growth.fit_with(p, out)}))
    return out


def test_fit_point_set_and_words() -> None:
    from orchbench.report.growth import describe_growth

    pts = [point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50, 100)]
    pts.append(point(200, 0, 0, status="timeout"))  # not fitted
    fit = growth.fit_point_set(pts)
    assert fit.wall.cls == "linear" and fit.overhead.cls == "linear"
    assert fit.over == (1, 10, 50, 100) and fit.overhead.ns == (10, 50, 100)
    assert fit.per_task_slope == pytest.approx(fit.overhead.slope - 1)
    assert "overhead per task stays roughly constant" in describe_growth(fit)


def test_each_point_records_the_fit_over_the_points_published_with_it() -> None:
    pts = fitted([point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50)])
    assert [p.growth.over for p in pts if p.growth] == [(1,), (1, 10), (1, 10, 50)]
    again = point(10, 20.0, 5.0, measured_at="2026-01-02T00:00:00+00:00")
    fit = growth.fit_with(again, pts)  # measured again: replaces N = 10, keeps the others
    assert fit.over == (1, 10, 50) and fit == growth.fit_point_set([pts[0], again, pts[2]])
    other = point(10, 2.0, 1.0).model_copy(update={"engine": "other"})
    assert growth.fit_with(other, pts).over == (10,)  # another engine's points do not count


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
    assert first == rundir.point_dir(tmp_path, "fake", "fanout-3")
    p = json.loads((first / POINT_JSON).read_text())
    assert p["schema"] == SCHEMA and p["status"] == "completed"
    assert p["records"] == ["journal-1.jsonl", "journal-2.jsonl"]
    assert [s["task_records"] for s in p["samples"]] == [3, 3]
    assert p["growth"]["over"] == [3] and p["growth"]["wall"]["cls"] == "not enough points"
    assert not (first / ownership.OWNER_FILE).exists()  # a published point has no owner
    assert len(scale.task_records(first / "journal-1.jsonl")) == 3
    again = scale.measure_point(engine, shape, tmp_path)
    assert again == first and load_point(again / POINT_JSON).repeat == 1
    scale.measure_point(engine, scale.Shape("fanout", 6), tmp_path)
    assert sorted(x.name for x in (tmp_path / "fake").iterdir()) == ["fanout-3", "fanout-6"]
    points, refused = load_points(tmp_path)
    assert [q.n for q in points] == [3, 6] and refused == []
    assert points[1].growth is not None and points[1].growth.over == (3, 6)


def test_a_profile_s_points_are_its_own_series(tmp_path: Path) -> None:
    class Tuned(FakeEngine):
        profiles = ("default", "tuned")

    shape = scale.Shape("fanout", 3)
    default = scale.measure_point(Tuned(tmp_path), shape, tmp_path)
    tuned = scale.measure_point(Tuned(tmp_path, "tuned"), shape, tmp_path)
    assert default == rundir.point_dir(tmp_path, "fake", "fanout-3")
    assert tuned == rundir.point_dir(tmp_path, "fake.tuned", "fanout-3")
    scale.measure_point(Tuned(tmp_path, "tuned"), scale.Shape("fanout", 6), tmp_path)
    points, _ = load_points(tmp_path)
    by = {(q.series, q.n): q for q in points}
    assert sorted(by) == [("fake", 3), ("fake/tuned", 3), ("fake/tuned", 6)]
    assert by[("fake/tuned", 3)].engine == "fake" and by[("fake/tuned", 3)].profile == "tuned"
    # each series is fitted over its own points only
    assert by[("fake/tuned", 6)].growth is not None
    assert by[("fake/tuned", 6)].growth.over == (3, 6)
    with pytest.raises(ValueError, match="no profile 'pool'"):
        Tuned(tmp_path, "pool")


def test_every_engine_is_named_with_every_profile_it_runs_as() -> None:
    names = scale.engine_names()
    for label in names:
        engine, profile = scale.split_label(label)
        assert profile in scale.engine_class(engine).profiles
        assert scale.series_label(engine, profile) == label
    assert len(names) == len(set(names))
    assert {scale.split_label(n)[0] for n in names} == set(plugins.scale_plugins())


def test_ctrl_c_in_a_sample_publishes_nothing(tmp_path: Path) -> None:
    class Interrupted(FakeEngine):
        aborted = 0

        def run(self, shape: scale.Shape, point: scale.PointContext) -> scale.Timing:
            assert (point.dir / ownership.OWNER_FILE).is_file()  # marked while it runs
            raise KeyboardInterrupt

        def abort(self) -> None:
            self.aborted += 1

    engine = Interrupted(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        scale.measure_point(engine, scale.Shape("fanout", 2), tmp_path)
    assert engine.aborted and list((tmp_path / "fake").iterdir()) == []


def test_a_dead_harness_s_temporary_point_is_removed_a_live_one_s_kept(tmp_path: Path) -> None:
    dead, live = (rundir.temp_point_dir(tmp_path, "fake", f"fanout-{n}") for n in (1, 2))
    (dead / ownership.OWNER_FILE).write_text("1-0\n")  # pid 1 did not start at tick 0
    assert rundir.remove_stale_temps(tmp_path) == 1
    assert not dead.exists() and live.is_dir()


def test_missing_records_make_the_point_failed(tmp_path: Path) -> None:
    class Lossy(FakeEngine):
        def run(self, shape: scale.Shape, point: scale.PointContext) -> scale.Timing:
            return scale.Timing(0, S)

    p = scale.measure_point(Lossy(tmp_path), scale.Shape("backfill", 2), tmp_path)
    rec_ = load_point(p / POINT_JSON)
    assert rec_.status == "failed" and "0 task records" in str(rec_.reason)
    assert rec_.wall_s is None and rec_.growth is not None and rec_.growth.over == ()


@pytest.mark.parametrize(
    "args",
    [
        ["--runners", "nope"],
        ["--runners", "kfp/nope"],
        ["--fanout", "1,x"],
        ["--backfill", "0"],
        ["--repeat", "0"],
    ],
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
    pts = fitted([point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50)])
    blocks = growth_section(pts)
    images = [b for b in blocks if isinstance(b, Image)]
    assert len(images) == 1 and images[0].png.startswith(b"\x89PNG")
    assert any(isinstance(b, Para) and "wall time linear" in b.text for b in blocks)


def test_report_table_reads_overhead_in_its_unit_and_names_each_source_once() -> None:
    pts = fitted([point(n, 2 + 0.6 * n, 0.5 * n) for n in (1, 10, 50)])
    pts[0] = pts[0].model_copy(update={"overhead_s_per_task": 2.854})
    pts[1] = pts[1].model_copy(update={"overhead_s_per_task": 0.0468})
    table = next(b for b in growth_section(pts) if isinstance(b, Table))
    per_task = [r[4] for r in table.rows]
    assert per_task[:2] == ["2.85 s", "46.8 ms"]
    sources = [r[6] for r in table.rows]
    assert sources[0] and sources[1:] == ["″", "″"]


def test_every_runner_and_profile_has_a_scale_engine_or_a_reason() -> None:
    """``make bench-scale`` covers every system and profile: each runner declares a scale
    engine, and each of its profiles is one the engine runs as or one it names, with the
    reason, as repeating another."""
    missing: list[str] = []
    for name, plugin in plugins.all_plugins().items():
        if not plugin.scale:
            missing.append(f"{name}: no scale engine")
            continue
        cls = scale.engine_class(name)
        assert not set(cls.profiles) & set(cls.unmeasured), name
        assert all(cls.unmeasured.values()), name  # a reason for each
        assert set(cls.profiles) | set(cls.unmeasured) <= set(plugin.profiles), name
        missing += [
            f"{name}/{p}: not measured, no reason given"
            for p in plugin.profiles
            if p not in cls.profiles and p not in cls.unmeasured
        ]
    assert missing == []
