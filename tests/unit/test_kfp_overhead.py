"""The kfp overhead probe's pure parts: kfp.local's console output (as the runner's driver
writes it) into the three time lists, and the checks refusing a retried task, a cache
hit, a wrong value, overlapping tasks and a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench.overhead import Shape
from runners.kfp import native
from runners.kfp.overhead import read_values, task_name, task_times

SHAPE = Shape("3x_fibo10", 3, 10)
CYAN, RESET = "\x1b[96m", "\x1b[0m"


def _task_lines(name: str, q: str, s: str, c: str, status: str = "SUCCESS") -> list[str]:
    """What kfp.local prints for one executed task (``q``/``c`` HH:MM:SS.mmm; ``s`` the
    executor's seconds.mmm within 12:00)."""
    return [
        f"{q} - INFO - Executing task {CYAN}'{name}'{RESET}",
        f"{q} - INFO - Streamed logs:",
        "",
        f"    [KFP Executor 2026-12-06 12:00:{s.replace('.', ',')} INFO]: Looking for component",
        f"    [KFP Executor 2026-12-06 12:00:{s.replace('.', ',')} INFO]: Got executor_input:",
        "    {",
        "    }",
        f"    [KFP Executor 2026-12-06 12:00:{s.replace('.', ',')} INFO]: Wrote executor "
        "output file to /x/executor_output.json.",
        f"{c} - INFO - Task {CYAN}'{name}'{RESET} finished with status {status}",
        f"{c} - INFO - Task {CYAN}'{name}'{RESET} outputs:",
        "    Output: 55",
    ]


def _log(tmp_path: Path, body: list[str], ended: str = "SUCCESS") -> native.Submission:
    lines = [
        '2026-12-06 12:00:00.000 - orchbench-kfp: submitting {"logical_date": "2026-01-01"}',
        "12:00:00.100 - INFO - Running pipeline: 'orchbench-overhead'",
        *body,
        f"2026-12-06 12:00:09.000 - orchbench-kfp: pipeline run {ended}",
    ]
    path = tmp_path / "kfp-submission-01.log"
    path.write_text("\n".join(lines) + "\n")
    return native.parse_log(path)


def _three(**override: list[str]) -> list[str]:
    tasks = {
        "fibo-task": _task_lines("fibo-task", "12:00:01.000", "01.400", "12:00:01.500"),
        "fibo-task-2": _task_lines("fibo-task-2", "12:00:01.501", "01.900", "12:00:02.000"),
        "fibo-task-3": _task_lines("fibo-task-3", "12:00:02.002", "02.300", "12:00:02.500"),
    }
    tasks.update(override)
    return [line for lines in tasks.values() for line in lines]


VALUES = {task_name(i): 55 for i in range(3)}


def test_task_names_follow_kfps_compiler() -> None:
    assert [task_name(i) for i in range(3)] == ["fibo-task", "fibo-task-2", "fibo-task-3"]


def test_three_lists_from_kfps_log_lines(tmp_path: Path) -> None:
    run = task_times(_log(tmp_path, _three()), VALUES, SHAPE)
    assert run["queued_s"] == [0.0, 0.501, 1.002]
    assert run["started_s"] == [0.4, 0.9, 1.3]
    assert run["completed_s"] == [0.5, 1.0, 1.5]
    assert run["output_written_s"] == [0.4, 0.9, 1.3]
    assert run["total_s"] == 1.5


def test_refuses_a_retried_task(tmp_path: Path) -> None:
    retried = _task_lines("fibo-task-2", "12:00:01.501", "01.600", "12:00:01.700", "FAILURE")
    retried += ["12:00:01.700 - INFO - Task fibo-task-2 failed (attempt 1/2). Retrying in 0.0s..."]
    retried += _task_lines("fibo-task-2", "12:00:01.701", "01.900", "12:00:02.000")
    with pytest.raises(AssertionError, match="fibo-task-2 executed 2 times"):
        task_times(_log(tmp_path, _three(**{"fibo-task-2": retried})), VALUES, SHAPE)


def test_refuses_a_cache_hit(tmp_path: Path) -> None:
    hit = ["12:00:01.501 - INFO - Task fibo-task-2 cache hit (key=0123456789ab); skipping"]
    with pytest.raises(AssertionError, match="fibo-task-2 has a hit record"):
        task_times(_log(tmp_path, _three(**{"fibo-task-2": hit})), VALUES, SHAPE)


def test_refuses_a_wrong_value(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="fibo-task-3 stored Output 54, expected 55"):
        task_times(_log(tmp_path, _three()), {**VALUES, "fibo-task-3": 54}, SHAPE)


def test_refuses_a_missing_output(tmp_path: Path) -> None:
    values = {k: v for k, v in VALUES.items() if k != "fibo-task"}
    with pytest.raises(AssertionError, match="fibo-task stored Output None"):
        task_times(_log(tmp_path, _three()), values, SHAPE)


def test_refuses_overlapping_tasks(tmp_path: Path) -> None:
    early = _task_lines("fibo-task-2", "12:00:01.400", "01.450", "12:00:02.000")
    with pytest.raises(AssertionError, match="fibo-task-2 queued before fibo-task completed"):
        task_times(_log(tmp_path, _three(**{"fibo-task-2": early})), VALUES, SHAPE)


def test_refuses_a_failed_run(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="the pipeline run is failed"):
        task_times(_log(tmp_path, _three(), ended="FAILURE: boom"), VALUES, SHAPE)


def test_refuses_times_out_of_order(tmp_path: Path) -> None:
    # the task's executor line before kfp.local's "Executing": another clock or time zone
    odd = _task_lines("fibo-task-3", "12:00:02.002", "01.999", "12:00:02.500")
    with pytest.raises(AssertionError, match="out of order"):
        task_times(_log(tmp_path, _three(**{"fibo-task-3": odd})), VALUES, SHAPE)


def test_reads_the_output_parameter_of_each_task(tmp_path: Path) -> None:
    run = tmp_path / "orchbench-overhead-2026-12-06-12-00-00-100000"
    for i, value in enumerate((55, 55, 54)):
        (run / task_name(i)).mkdir(parents=True)
        out = {"parameterValues": {"Output": value}}
        (run / task_name(i) / "executor_output.json").write_text(json.dumps(out))
    assert read_values(tmp_path, SHAPE) == {"fibo-task": 55, "fibo-task-2": 55, "fibo-task-3": 54}
    (tmp_path / "orchbench-overhead-2026-12-06-12-00-05-000000").mkdir()
    with pytest.raises(AssertionError, match="2 run directories"):
        read_values(tmp_path, SHAPE)
