"""The ZenML overhead probe's reading of ZenML's step run records
(``overhead.task_times``) on hand-made records: which timestamp is queued, started and
completed per step, and each of windmill's checks failing. No ZenML import: it runs in the
harness's venv."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orchbench.overhead import LONG, SHORT, Shape
from runners.zenml.overhead import PROBED, ProbeError, epoch_s, task_name, task_times

SHAPE = Shape("3x_fibo10", 3, 10)
T0 = dt.datetime(2026, 12, 6, 14, 0, 0)  # ZenML stores UTC without a zone


def _iso(s: float) -> str:
    return (T0 + dt.timedelta(seconds=s)).isoformat()


def _step(i: int, t: float, **kw: Any) -> dict[str, Any]:
    """Step ``i`` started at ``t``, its row created at +0.02, ended at +0.5."""
    return {
        "name": task_name(i),
        "status": "completed",
        "version": 1,
        "created": _iso(t + 0.02),
        "start_time": _iso(t),
        "end_time": _iso(t + 0.5),
        "value": 55,
        **kw,
    }


def _record(steps: list[dict[str, Any]] | None = None, status: str = "completed") -> dict:
    return {
        "run_id": "r1",
        "name": "orchbench-overhead-3x_fibo10-01-abcd",
        "status": status,
        "created": _iso(9.6),
        "start_time": _iso(9.5),
        "end_time": _iso(12.7),
        # listed newest first, as a store may: the order comes from the names
        "steps": steps if steps is not None else [_step(i, 10.0 + i) for i in (2, 1, 0)],
    }


def test_the_probe_has_the_two_profiles_and_the_shared_shapes() -> None:
    assert PROBED["zenml"] == ("default", "server")
    assert (SHORT.tasks, SHORT.expected, LONG.tasks, LONG.fibo_n) == (40, 55, 10, 33)
    assert task_name(0) == "task_00" and task_name(39) == "task_39"


def test_zenml_timestamps_without_a_zone_are_utc() -> None:
    assert (
        epoch_s("2026-12-06T14:00:00.250000")
        == dt.datetime(2026, 12, 6, 14, 0, 0, 250000, tzinfo=dt.UTC).timestamp()
    )
    assert epoch_s(None) is None


def test_started_is_start_time_completed_end_time_and_queued_is_started() -> None:
    t = task_times(_record(), SHAPE)
    assert t["started_s"] == pytest.approx([0.0, 1.0, 2.0])
    assert t["queued_s"] == t["started_s"]  # no queued state on the local orchestrator
    assert t["completed_s"] == pytest.approx([0.5, 1.5, 2.5])
    assert t["created_s"] == pytest.approx([0.02, 1.02, 2.02])
    assert t["total_s"] == pytest.approx(2.5)
    assert t["run_s"] == {"created": -0.4, "start_time": -0.5, "end_time": 2.7}


def test_a_run_that_did_not_complete_fails() -> None:
    with pytest.raises(ProbeError, match="failed, not completed"):
        task_times(_record(status="failed"), SHAPE)


def test_a_missing_or_foreign_step_fails() -> None:
    with pytest.raises(ProbeError, match=r"expected steps task_00\.\.task_02"):
        task_times(_record([_step(0, 10.0), _step(1, 11.0)]), SHAPE)
    with pytest.raises(ProbeError, match="expected steps"):
        task_times(_record([_step(i, 10.0 + i) for i in range(4)]), SHAPE)


def test_a_retried_step_fails() -> None:
    """A retry is a second step run of the same name (the first ``retried``)."""
    steps = [_step(0, 10.0), _step(1, 11.0, status="retried"), _step(1, 11.6, version=2)]
    steps.append(_step(2, 12.2))
    with pytest.raises(ProbeError, match=r"task_01 .*not completed on try 1"):
        task_times(_record(steps), SHAPE)


def test_a_step_on_a_later_try_or_not_completed_fails() -> None:
    with pytest.raises(ProbeError, match="try 1"):
        task_times(_record([_step(0, 10.0), _step(1, 11.0, version=2), _step(2, 12.0)]), SHAPE)
    with pytest.raises(ProbeError, match="try 1"):
        task_times(
            _record([_step(0, 10.0), _step(1, 11.0, status="cached"), _step(2, 12.0)]), SHAPE
        )


def test_a_wrong_value_fails() -> None:
    steps = [_step(0, 10.0), _step(1, 11.0, value=54), _step(2, 12.0)]
    with pytest.raises(ProbeError, match="task_01 returned 54, expected 55"):
        task_times(_record(steps), SHAPE)


def test_a_step_without_end_time_fails() -> None:
    steps = [_step(0, 10.0), _step(1, 11.0, end_time=None), _step(2, 12.0)]
    with pytest.raises(ProbeError, match="no start_time or end_time"):
        task_times(_record(steps), SHAPE)


def test_overlapping_steps_fail() -> None:
    steps = [_step(0, 10.0), _step(1, 10.4), _step(2, 12.0)]  # task_00 ends at 10.5
    with pytest.raises(ProbeError, match="task_01 started before task_00 ended"):
        task_times(_record(steps), SHAPE)
