"""The one aggregation over repeats, and the overhead definitions of the metrics layer."""

from __future__ import annotations

import math

import pytest

from orchbench.aggregate import median, spread
from orchbench.overhead import probe_summary


def test_spread_of_numbers() -> None:
    s = spread([3.0, 1.0, 2.0, 10.0])
    assert s is not None
    assert (s.n, s.median, s.min, s.max) == (4, 2.5, 1.0, 10.0)
    assert s.cv == pytest.approx(4.0825 / 4.0, rel=1e-3)  # sample stdev / mean
    assert s.varies


def test_spread_leaves_out_what_is_not_a_number_and_counts_booleans() -> None:
    s = spread([None, float("nan"), "x", True, False, True])
    assert s is not None and (s.n, s.median, s.min, s.max) == (3, 1.0, 0.0, 1.0)
    assert spread([None, float("nan")]) is None
    assert math.isnan(median([]))


def test_one_value_or_equal_values_have_no_spread_to_show() -> None:
    one = spread([5])
    assert one is not None and one.cv is None and not one.varies
    same = spread([2.0, 2.0])
    assert same is not None and same.cv == 0.0 and not same.varies
    assert spread([-1.0, 1.0]).cv is None  # zero mean: cv undefined


def test_probe_summary_per_task_is_the_median_total_over_tasks() -> None:
    def run(total: float) -> dict:
        # 3 tasks, 1 s each, queued 0.1 s after the previous one ended, started 0.05 s later
        q, s, c, t = [], [], [], 0.0
        for _ in range(3):
            q.append(t)
            s.append(t + 0.05)
            c.append(t + 1.05)
            t += 1.15
        return {"total_s": total, "queued_s": q, "started_s": s, "completed_s": c}

    out = probe_summary([run(3.0), run(3.6), run(3.3)], tasks=3)
    assert out["probe_s_per_task"] == pytest.approx(1.1)
    assert (out["median_total_s"], out["min_total_s"], out["max_total_s"]) == (3.3, 3.0, 3.6)
    assert out["median_gap_s"] == pytest.approx(0.1)
    assert out["median_dispatch_s"] == pytest.approx(0.05)
    assert out["median_execution_s"] == pytest.approx(1.0)
