"""The Metaflow overhead probe's pure parts: the flow file it writes for a shape, and its
reading of Metaflow's Client API records (``overhead.task_times``) on hand-made records:
which record is queued, started and completed per task, and each of windmill's checks
failing. No Metaflow import: it runs in the harness's venv."""

from __future__ import annotations

import ast
import copy
from typing import Any

import pytest

from orchbench.overhead import LONG, SHORT, fibo
from runners.metaflow.overhead import ProbeError, task_times
from runners.metaflow.overhead_flow import flow_name, flow_source, step_names

STEPS = ["start", "step_01", "end"]


def _task(t: float, value: int = 55) -> dict[str, Any]:
    """One task from ``t``: created (0.0), attempt 0 begun (+1.5), finished (+1.6)."""
    return {
        "task": str(int(t)),
        "created": t,
        "finished_at": t + 1.6,
        "finished": True,
        "successful": True,
        "current_attempt": 0,
        "attempts": [["0", t + 1.5]],
        "attempt_ok": [["True", t + 1.55]],
        "value": value,
    }


def _record() -> dict[str, Any]:
    return {
        "run_id": "7",
        "created": 998.0,
        "finished_at": 1005.6,
        "finished": True,
        "successful": True,
        "parameters": {"created": 998.5, "finished_at": 999.5},
        "steps": {step: [_task(1000.0 + 2.0 * i)] for i, step in enumerate(STEPS)},
    }


def test_the_flow_is_a_chain_of_the_shapes_steps_each_computing_its_fibo() -> None:
    for shape in (SHORT, LONG):
        steps = step_names(shape.tasks)
        assert len(steps) == shape.tasks and steps[0] == "start" and steps[-1] == "end"
        tree = ast.parse(flow_source(shape.tasks, shape.fibo_n))
        (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
        assert cls.name == flow_name(shape.tasks, shape.fibo_n)
        methods = [f for f in cls.body if isinstance(f, ast.FunctionDef)]
        assert [f.name for f in methods] == steps
        for f, after in zip(methods, [*steps[1:], None], strict=True):
            body = ast.unparse(f)
            assert f"self.value = fibo({shape.fibo_n})" in body
            assert (f"self.next(self.{after})" in body) == (after is not None)


def test_the_flow_files_fibo_is_the_shapes() -> None:
    namespace: dict[str, Any] = {}
    tree = ast.parse(flow_source(LONG.tasks, LONG.fibo_n))
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    exec(compile(ast.Module([fn], []), "<flow>", "exec"), namespace)
    assert namespace["fibo"](20) == fibo(20)


def test_a_flow_needs_start_and_end() -> None:
    with pytest.raises(ValueError, match="start and end"):
        step_names(1)


def test_queued_is_created_started_the_attempt_record_completed_finished_at() -> None:
    t = task_times(_record(), STEPS, 55)
    assert t["queued_s"] == [0.0, 2.0, 4.0]
    assert t["started_s"] == [1.5, 3.5, 5.5]
    assert t["completed_s"] == [1.6, 3.6, 5.6]
    assert t["total_s"] == 5.6
    assert t["run_events_s"] == {
        "run_created": -2.0,
        "parameters_created": -1.5,
        "parameters_finished": -0.5,
        "run_finished": 5.6,
    }


def test_a_run_that_did_not_succeed_fails() -> None:
    rec = _record()
    rec["successful"] = False
    with pytest.raises(ProbeError, match="successful False"):
        task_times(rec, STEPS, 55)


def test_a_missing_or_extra_step_fails() -> None:
    rec = _record()
    del rec["steps"]["step_01"]
    with pytest.raises(ProbeError, match="steps"):
        task_times(rec, STEPS, 55)


def test_a_step_with_two_tasks_fails() -> None:
    rec = _record()
    rec["steps"]["step_01"].append(_task(1002.5))
    with pytest.raises(ProbeError, match="2 tasks"):
        task_times(rec, STEPS, 55)


@pytest.mark.parametrize(
    "change",
    [
        {"current_attempt": 1},
        {"attempts": [["0", 1001.0], ["1", 1003.5]]},
        {"attempt_ok": [["False", 1002.0], ["True", 1003.55]]},
        {"successful": False},
    ],
)
def test_a_task_not_done_on_its_first_attempt_fails(change: dict[str, Any]) -> None:
    rec = _record()
    rec["steps"]["step_01"][0].update(copy.deepcopy(change))
    with pytest.raises(ProbeError, match="first attempt"):
        task_times(rec, STEPS, 55)


def test_a_wrong_value_fails() -> None:
    rec = _record()
    rec["steps"]["end"][0]["value"] = 54
    with pytest.raises(ProbeError, match="value 54, expected 55"):
        task_times(rec, STEPS, 55)


def test_overlapping_tasks_fail() -> None:
    rec = _record()
    rec["steps"]["step_01"][0]["attempts"] = [["0", 1001.0]]  # before start finished
    with pytest.raises(ProbeError, match="step_01 started before start completed"):
        task_times(rec, STEPS, 55)
