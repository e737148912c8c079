"""The journal: attempt numbering by exclusive markers, killed attempts and writers, torn
lines."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from pathlib import Path

from orchbench import journal as jr


def _start(path: Path, step: str, aid: str, date: str = "2026-01-01") -> int:
    return jr.append_start(
        path,
        {
            "type": "attempt_start",
            "attempt_id": aid,
            "run_id": "r",
            "runner": "t",
            "logical_date": date,
            "step": step,
            "pid": 1,
            "start_ns": 1,
            "inputs": [],
        },
    )


def test_attempt_numbers_count_per_date_and_step(tmp_path: Path) -> None:
    j = tmp_path / "j.jsonl"
    assert _start(j, "train", "a") == 1
    assert _start(j, "train", "b") == 2
    assert _start(j, "train", "c", date="2026-01-02") == 1
    assert _start(j, "validate", "d") == 1


def _many(path: str, k: int) -> None:
    for i in range(20):
        _start(Path(path), "train", f"{k}-{i}")


def test_concurrent_starts_get_distinct_numbers(tmp_path: Path) -> None:
    j = tmp_path / "j.jsonl"
    procs = [mp.Process(target=_many, args=(str(j), k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    nums = sorted(a.attempt for a in jr.Journal.load(j).attempts)
    assert nums == list(range(1, 81))


def test_start_without_end_is_killed_and_torn_line_skipped(tmp_path: Path) -> None:
    j = tmp_path / "j.jsonl"
    _start(j, "train", "a")
    _start(j, "evaluate", "b")
    jr.append_record(
        j,
        {"type": "attempt_end", "attempt_id": "b", "end_ns": 5, "cpu_s": 0.1, "status": "success"},
    )
    with j.open("a") as f:
        f.write('{"type": "attempt_end", "attempt_id": "a", "end_')  # writer killed mid-line
    journal = jr.Journal.load(j)
    by = {a.attempt_id: a for a in journal.attempts}
    assert by["a"].status == "killed" and not by["a"].finished
    assert by["b"].status == "success" and by["b"].wall_s is not None


def test_harness_and_operator_records(tmp_path: Path) -> None:
    j = tmp_path / "j.jsonl"
    jr.harness_event(j, "fix_applied", faults=["f1"])
    jr.operator_action(j, "bash validate.sh")
    journal = jr.Journal.load(j)
    assert journal.harness_time("fix_applied") is not None
    assert journal.harness_time("nope") is None
    assert journal.operator_actions[0]["command"] == "bash validate.sh"


def _start_then_die(path: str) -> None:
    _start(Path(path), "train", "killed")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_writer_killed_right_after_its_start_leaves_the_start_in_the_journal(
    tmp_path: Path,
) -> None:
    """No fsync: a SIGKILLed writer's line is already the kernel's (issue 29)."""
    j = tmp_path / "j.jsonl"
    p = mp.Process(target=_start_then_die, args=(str(j),))
    p.start()
    p.join()
    assert p.exitcode == -signal.SIGKILL
    (a,) = jr.Journal.load(j).attempts
    assert (a.attempt_id, a.attempt, a.status) == ("killed", 1, "killed")
    assert _start(j, "train", "next") == 2
