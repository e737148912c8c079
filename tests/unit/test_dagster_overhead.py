"""The Dagster overhead probe's reading of Dagster's event records (``overhead.task_times``)
on hand-made records: which event is queued, started and completed per op, with the
multiprocess and the in-process executor, and each of windmill's checks failing. No
Dagster import: it runs in the harness's venv."""

from __future__ import annotations

from typing import Any

import pytest

from orchbench.overhead import LONG, SHAPES, SHORT
from runners.dagster.overhead import JOB_SHAPES, job_name, step_keys, task_times

OPS = ["task_00", "task_01", "task_02"]


def _op_events(step: str, t: float, worker: bool) -> list[dict[str, Any]]:
    """One op's events from ``t``: worker start (0.0), start (+2.0), output, success (+2.5)."""
    out = [{"type": "STEP_WORKER_STARTING", "step": step, "t": t}] if worker else []
    out += [
        {"type": "STEP_WORKER_STARTED", "step": step, "t": t + 1.5},
        {"type": "STEP_START", "step": step, "t": t + 2.0},
        {"type": "STEP_OUTPUT", "step": step, "t": t + 2.2},
        {"type": "HANDLED_OUTPUT", "step": step, "t": t + 2.3},
        {"type": "STEP_SUCCESS", "step": step, "t": t + 2.5},
    ]
    return out


def _record(worker: bool = True, status: str = "SUCCESS") -> dict[str, Any]:
    events = [
        {"type": "RUN_ENQUEUED", "step": None, "t": 995.0},
        {"type": "RUN_START", "step": None, "t": 999.0},
    ]
    for i, step in enumerate(OPS):
        events += _op_events(step, 1000.0 + 3.0 * i, worker)
    events.append({"type": "RUN_SUCCESS", "step": None, "t": 1008.0})
    return {
        "run_id": "r1",
        "status": status,
        "events": events,
        "values": dict.fromkeys(OPS, 55),
    }


def test_the_code_location_has_one_job_per_shape_named_for_it() -> None:
    assert {s.name: (s.tasks, s.fibo_n) for s in SHAPES.values()} == JOB_SHAPES
    assert job_name(SHORT) == "orchbench_overhead_40x_fibo10"
    assert job_name(LONG) == "orchbench_overhead_10x_fibo33"


def test_each_shapes_ops_are_named_in_order() -> None:
    assert step_keys(SHORT)[0] == "task_00" and step_keys(SHORT)[-1] == "task_39"
    assert step_keys(LONG) == [f"task_{i:02d}" for i in range(10)]


def test_multiprocess_queued_is_the_worker_start_started_and_completed_the_step_events() -> None:
    t = task_times(_record(), OPS, worker=True, expected=55)
    assert t["queued_s"] == [0.0, 3.0, 6.0]
    assert t["started_s"] == [2.0, 5.0, 8.0]
    assert t["completed_s"] == [2.5, 5.5, 8.5]
    assert t["total_s"] == 8.5
    assert t["run_events_s"] == {"RUN_ENQUEUED": -5.0, "RUN_START": -1.0, "RUN_SUCCESS": 8.0}


def test_in_process_queued_is_the_step_start() -> None:
    t = task_times(_record(worker=False), OPS, worker=False, expected=55)
    assert t["queued_s"] == t["started_s"] == [0.0, 3.0, 6.0]
    assert t["completed_s"] == [0.5, 3.5, 6.5]


def test_a_multiprocess_op_without_its_worker_start_fails() -> None:
    with pytest.raises(AssertionError, match="lacks"):
        task_times(_record(worker=False), OPS, worker=True, expected=55)


def test_a_run_that_did_not_succeed_fails() -> None:
    with pytest.raises(AssertionError, match="FAILURE"):
        task_times(_record(status="FAILURE"), OPS, worker=True, expected=55)


@pytest.mark.parametrize("kind", ["STEP_UP_FOR_RETRY", "STEP_RESTARTED", "STEP_FAILURE"])
def test_an_op_not_done_on_its_first_try_fails(kind: str) -> None:
    rec = _record()
    rec["events"].insert(4, {"type": kind, "step": "task_00", "t": 1002.1})
    with pytest.raises(AssertionError, match="try 1"):
        task_times(rec, OPS, worker=True, expected=55)


def test_an_op_started_twice_fails() -> None:
    rec = _record()
    rec["events"].append({"type": "STEP_START", "step": "task_01", "t": 1009.0})
    with pytest.raises(AssertionError, match="twice"):
        task_times(rec, OPS, worker=True, expected=55)


@pytest.mark.parametrize("value", [None, 54, "55"])
def test_an_op_that_stored_anything_but_55_fails(value: Any) -> None:
    rec = _record()
    rec["values"]["task_02"] = value
    with pytest.raises(AssertionError, match="expected 55"):
        task_times(rec, OPS, worker=True, expected=55)


def test_the_value_checked_is_the_one_given() -> None:
    rec = _record()
    rec["values"] = dict.fromkeys(OPS, 3524578)  # fibo(33), the long shape's
    assert task_times(rec, OPS, worker=True, expected=3524578)["total_s"] == 8.5
    with pytest.raises(AssertionError, match="stored 3524578, expected 55"):
        task_times(rec, OPS, worker=True, expected=55)


def test_an_op_started_before_its_predecessor_ended_fails() -> None:
    rec = _record()
    for e in rec["events"]:
        if e["step"] == "task_01" and e["type"] == "STEP_START":
            e["t"] = 1002.4  # task_00 ends at 1002.5
    with pytest.raises(AssertionError, match="started before"):
        task_times(rec, OPS, worker=True, expected=55)
