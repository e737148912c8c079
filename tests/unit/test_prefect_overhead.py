"""The Prefect overhead probe's reading of Prefect's records (hand-made records, no server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchbench.overhead import SHAPES, Shape
from runners.prefect.overhead import (
    ProbeError,
    flow_run_marks,
    persisted_value,
    probe_run,
    run_name,
)

THREE = Shape("3x_fibo10", 3, 10)  # a short shape: values 55


def ts(seconds: float) -> str:
    whole, frac = divmod(round(seconds * 1_000_000), 1_000_000)
    return f"2026-12-06T12:00:{whole:02d}.{frac:06d}Z"


def state(kind: str, at: float, name: str | None = None) -> dict[str, Any]:
    return {"type": kind, "name": name or kind.title(), "timestamp": ts(at), "data": None}


def records(
    steps: int = 3,
    start: float = 1.0,
    gap: float = 0.02,
    dispatch: float = 0.01,
    run: float = 0.05,
    value: int = 55,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """``steps`` sequential task runs as Prefect records them (listed out of order, each
    history out of order), values ``value``."""
    task_runs, states, t = [], {}, start
    for i in range(steps):
        tid = f"id-{i}"
        task_runs.append({"id": tid, "name": f"task_{i:02d}", "run_count": 1})
        done = state("COMPLETED", t + dispatch + run)
        done["value"] = value
        states[tid] = [done, state("PENDING", t), state("RUNNING", t + dispatch)]
        t += dispatch + run + gap
    return list(reversed(task_runs)), states


def value(s: dict[str, Any]) -> Any:
    return s.get("value")


def test_timings_are_prefects_state_times_in_name_order() -> None:
    task_runs, states = records()
    res = probe_run(task_runs, states, value, THREE)
    assert res["queued_s"] == pytest.approx([0.0, 0.08, 0.16])
    assert res["started_s"] == pytest.approx([0.01, 0.09, 0.17])
    assert res["completed_s"] == pytest.approx([0.06, 0.14, 0.22])
    assert res["total_s"] == pytest.approx(0.22)


def test_a_missing_or_extra_task_run_fails() -> None:
    task_runs, states = records()
    with pytest.raises(ProbeError, match="expected task runs"):
        probe_run(task_runs[1:], states, value, THREE)
    with pytest.raises(ProbeError, match="expected task runs"):
        probe_run(task_runs, states, value, Shape("2x_fibo10", 2, 10))


def test_a_retried_or_cached_task_fails() -> None:
    task_runs, states = records()
    task_runs[0]["run_count"] = 2
    with pytest.raises(ProbeError, match="run_count 2"):
        probe_run(task_runs, states, value, THREE)
    task_runs, states = records()
    states["id-1"] = [state("PENDING", 1.08), state("COMPLETED", 1.09, "Cached")]
    with pytest.raises(ProbeError, match="task_01"):
        probe_run(task_runs, states, value, THREE)


def test_a_wrong_value_fails() -> None:
    task_runs, states = records()
    states["id-2"][0]["value"] = 54
    with pytest.raises(ProbeError, match="task_02 returned 54"):
        probe_run(task_runs, states, value, THREE)


def test_the_value_checked_is_the_shapes_fibo() -> None:
    task_runs, states = records(value=144)  # fibo(12)
    twelve = Shape("3x_fibo12", 3, 12)
    assert probe_run(task_runs, states, value, twelve)["total_s"] == pytest.approx(0.22)
    with pytest.raises(ProbeError, match="task_00 returned 144, expected 55"):
        probe_run(task_runs, states, value, THREE)


def test_each_shape_runs_under_a_name_that_says_which() -> None:
    assert {run_name(s, 0) for s in SHAPES.values()} == {
        "overhead-40x_fibo10-00",
        "overhead-10x_fibo33-00",
    }


def test_overlapping_tasks_fail() -> None:
    task_runs, states = records(gap=-0.1)
    with pytest.raises(ProbeError, match="task_01 started before task_00 completed"):
        probe_run(task_runs, states, value, THREE)


def test_flow_run_marks_are_first_entries_relative_to_the_first_task() -> None:
    marks = flow_run_marks(
        [state("RUNNING", 0.5), state("SCHEDULED", 0.0), state("PENDING", 0.3)], t0_s=_epoch(1.0)
    )
    assert marks == pytest.approx({"Scheduled": -1.0, "Pending": -0.7, "Running": -0.5})


def _epoch(seconds: float) -> float:
    from runners.prefect.native import ts_ns

    t = ts_ns(ts(seconds))
    assert t is not None
    return t / 1e9


def test_persisted_value_reads_the_json_result_the_state_names(tmp_path: Path) -> None:
    f = tmp_path / "abc"
    f.write_text(json.dumps({"metadata": {}, "result": "55"}))
    assert persisted_value({"data": {"storage_key": str(f)}}) == 55
    assert persisted_value({"data": {"storage_key": str(tmp_path / "missing")}}) is None
    assert persisted_value({"data": None}) is None
