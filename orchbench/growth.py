"""Cost-growth figures: one sample's metrics, the medians over a point's samples, and the
log-log fit over an engine and shape's points. The metrics layer's half for
``orchbench scale`` (what is measured and how: ``orchbench/scale.py``); results are
``orchbench.point`` records.

**Sample** (``compute_sample``), from the task records and two harness timestamps:
``wall_s`` (work handed to the engine until it shows it done), ``sum_task_s`` (Σ task
time), ``parallelism`` (the engine's limit capped by the shape's tasks), ``ideal_s`` =
Σ task / parallelism, ``overhead_s_per_task`` = (wall − ideal) / tasks, and
``observed_parallelism`` (the most task records overlapping in time: a check of the
declared parallelism, not an input).

**Fit** (``fit_growth``): the least-squares slope ``s`` of log(y) against log(N) over the
points with N > 1 (N = 1 is dominated by fixed start-up cost; all points when fewer than
two have N > 1), classed by ``orchbench.point.CONSTANT_BELOW`` / ``LINEAR_BELOW``.
Applied to wall time and to total overhead (wall − ideal, floored at
``OVERHEAD_FLOOR_S`` so the log exists): total overhead linear in N means a roughly
constant overhead per task; the slope of overhead per task is ``s - 1``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from orchbench.point import (
    CONSTANT_BELOW,
    LINEAR_BELOW,
    Growth,
    GrowthClass,
    Point,
    PointGrowth,
    Sample,
)

OVERHEAD_FLOOR_S = 1e-3  # total overhead below this counts as this for the log-log fit


def max_overlap(records: Sequence[dict[str, Any]]) -> int:
    """The most records whose [start, end) intervals overlap at one instant."""
    events = sorted(
        [(r["start_ns"], 1) for r in records] + [(r["end_ns"], -1) for r in records],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    best = cur = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def compute_sample(
    tasks: int, records: Sequence[dict[str, Any]], start_ns: int, end_ns: int, limit: int
) -> dict[str, Any]:
    """The figures of one measured sample of a point of ``tasks`` tasks."""
    if limit < 1:
        raise ValueError(f"parallelism must be at least 1, got {limit}")
    wall = (end_ns - start_ns) / 1e9
    total = sum((r["end_ns"] - r["start_ns"]) / 1e9 for r in records)
    parallelism = min(limit, tasks)
    ideal = total / parallelism
    return {
        "wall_s": round(wall, 4),
        "sum_task_s": round(total, 4),
        "parallelism": parallelism,
        "ideal_s": round(ideal, 4),
        "overhead_s_per_task": round((wall - ideal) / tasks, 5),
        "observed_parallelism": max_overlap(records),
        "task_records": len(records),
    }


def summarize_samples(samples: Sequence[Sample]) -> dict[str, Any]:
    """Medians over a point's samples, with min/max of wall time."""
    walls = [s.wall_s for s in samples]
    out: dict[str, Any] = {
        k: round(statistics.median(getattr(s, k) for s in samples), 5)
        for k in ("wall_s", "sum_task_s", "ideal_s", "overhead_s_per_task")
    }
    out["min_wall_s"], out["max_wall_s"] = min(walls), max(walls)
    out["parallelism"] = samples[0].parallelism
    out["observed_parallelism"] = max(s.observed_parallelism for s in samples)
    return out


def growth_class(slope: float) -> GrowthClass:
    if slope < CONSTANT_BELOW:
        return "roughly constant"
    if slope < LINEAR_BELOW:
        return "linear"
    return "worse than linear"


def fit_growth(points: Iterable[tuple[int, float]], floor: float = 0.0) -> Growth:
    """Least-squares slope of log(y) against log(N) over the points with N > 1 (all points
    if fewer than two have N > 1); y below ``floor`` counts as ``floor`` (must be > 0
    when a y can be <= 0)."""
    pts = sorted((n, max(y, floor)) for n, y in points)
    use = [p for p in pts if p[0] > 1]
    if len({n for n, _ in use}) < 2:
        use = pts
    if len({n for n, _ in use}) < 2 or any(y <= 0 for _, y in use):
        return Growth(slope=None, cls="not enough points", ns=tuple(n for n, _ in use))
    xs = [math.log(n) for n, _ in use]
    ys = [math.log(y) for _, y in use]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return Growth(slope=round(slope, 3), cls=growth_class(slope), ns=tuple(n for n, _ in use))


def fit_point_set(points: Sequence[Point]) -> PointGrowth:
    """Growth of wall time and of total overhead over one engine x shape's completed
    points."""
    ok = sorted((p for p in points if p.completed), key=lambda p: p.n)
    wall = fit_growth((p.n, p.wall_s or 0.0) for p in ok)
    overhead = fit_growth(
        ((p.n, (p.wall_s or 0.0) - (p.ideal_s or 0.0)) for p in ok), floor=OVERHEAD_FLOOR_S
    )
    return PointGrowth(
        wall=wall,
        overhead=overhead,
        per_task_slope=None if overhead.slope is None else overhead.slope - 1,
        over=tuple(p.n for p in ok),
    )


def fit_with(new: Point, published: Iterable[Point]) -> PointGrowth:
    """The fit ``new`` records: over the published points of its engine, profile and
    shape, ``new`` in place of the one of its N it replaces."""
    same = [p for p in published if (p.series, p.shape) == (new.series, new.shape) and p.n != new.n]
    return fit_point_set([*same, new])
