"""The Airflow overhead probe's reading of Airflow's task-instance records
(``overhead.task_times``) on hand-made REST records, and its DAG file's shapes. No Airflow
import: it runs in the harness's venv."""

from __future__ import annotations

from typing import Any

import pytest

from orchbench.card import source_literal
from orchbench.overhead import LONG, SHAPES, SHORT, Shape
from runners.airflow.overhead import DAG_FILE, dag_id, task_times

THREE = Shape("3x_fibo10", 3, 10)


def ts(seconds: float) -> str:
    whole, frac = divmod(round(seconds * 1_000_000), 1_000_000)
    return f"2026-12-06T12:00:{whole:02d}.{frac:06d}Z"


def records(gap: float = 0.9) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Three sequential task instances (listed out of order) and their XCom values."""
    tis, t = [], 1.0
    for i in range(3):
        tis.append(
            {
                "task_id": f"task_{i:02d}",
                "state": "success",
                "try_number": 1,
                "queued_when": ts(t),
                "start_date": ts(t + 0.02),
                "end_date": ts(t + 0.17),
            }
        )
        t += 0.17 + gap
    return list(reversed(tis)), {f"task_{i:02d}": 55 for i in range(3)}


def test_the_dag_file_has_one_dag_per_shape_named_for_it() -> None:
    assert source_literal(DAG_FILE, "SHAPES") == {
        s.name: (s.tasks, s.fibo_n) for s in SHAPES.values()
    }
    assert dag_id(SHORT) == "orchbench_overhead_40x_fibo10"
    assert dag_id(LONG) == "orchbench_overhead_10x_fibo33"


def test_timings_are_airflows_task_instance_times_in_task_order() -> None:
    tis, values = records()
    res = task_times(tis, values, THREE)
    assert res["queued_s"] == pytest.approx([0.0, 1.07, 2.14])
    assert res["started_s"] == pytest.approx([0.02, 1.09, 2.16])
    assert res["completed_s"] == pytest.approx([0.17, 1.24, 2.31])
    assert res["total_s"] == pytest.approx(2.31)


def test_a_missing_task_fails() -> None:
    tis, values = records()
    with pytest.raises(AssertionError, match="expected 3 task instances, got 2"):
        task_times(tis[1:], values, THREE)


@pytest.mark.parametrize(("state", "try_number"), [("failed", 1), ("success", 2)])
def test_a_task_not_successful_on_try_1_fails(state: str, try_number: int) -> None:
    tis, values = records()
    tis[0].update(state=state, try_number=try_number)
    with pytest.raises(AssertionError, match=f"task_02: {state} on try {try_number}"):
        task_times(tis, values, THREE)


def test_a_wrong_or_missing_value_fails() -> None:
    tis, values = records()
    with pytest.raises(AssertionError, match="task_01 returned 54, expected 55"):
        task_times(tis, {**values, "task_01": 54}, THREE)
    with pytest.raises(AssertionError, match="task_01 returned None"):
        task_times(tis, {k: v for k, v in values.items() if k != "task_01"}, THREE)
    with pytest.raises(AssertionError, match="expected 144"):  # the shape's fibo(n)
        task_times(tis, values, Shape("3x_fibo12", 3, 12))


def test_overlapping_tasks_fail() -> None:
    tis, values = records(gap=-0.1)
    with pytest.raises(AssertionError, match="task 1 started before task 0 ended"):
        task_times(tis, values, THREE)
