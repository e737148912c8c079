"""The cron overhead probe's pure parts (``runners.cron.overhead``): cron's syslog lines
into each job's start and end, a job log into the task's checks, the two clocks of a
run's timeline, the slot rule. Hand-made records; no cron runs here."""

from __future__ import annotations

import pytest

from orchbench.overhead import LONG, SHORT
from runners.cron.overhead import (
    JOB_SLOW_S,
    JOB_WARM_S,
    cron_jobs,
    run_times,
    slot_min,
    task_record,
)

S = "/tmp/x/scripts"


def _cron(pid: int, job: str, start: int, end: int, failed: int | None = None) -> list[str]:
    cmd = f"{S}/{job}.sh >> /tmp/x/logs/{job}.log 2>&1"
    out = [
        f"{start - 5} <86>Dec  6 14:12:25 CRON[{pid - 1}]: pam_unix(cron:session): opened",
        f"{start} <78>Dec  6 14:12:25 CRON[{pid - 1}]: (root) CMD ([{pid}] {cmd})",
    ]
    if failed is not None:
        out.append(
            f"{end - 1} <78>Dec  6 14:12:25 CRON[{pid - 1}]: (CRON) error "
            f"(grandchild #{pid} failed with exit status {failed})"
        )
    out.append(f"{end} <78>Dec  6 14:12:25 CRON[{pid - 1}]: (root) END ([{pid}] {cmd})")
    return out


def test_cron_jobs_reads_cmd_and_end_per_job() -> None:
    lines = [
        "100 <78>Dec  6 14:12:25 cron[1]: (CRON) INFO (pidfile fd = 3)",
        *_cron(30, "task_00", 1000, 1500),
        *_cron(32, "task_01", 3000, 3400),
    ]
    jobs = cron_jobs("\n".join(lines))
    assert jobs == {
        "task_00": {"pid": 30, "start_ns": 1000, "end_ns": 1500},
        "task_01": {"pid": 32, "start_ns": 3000, "end_ns": 3400},
    }


def test_cron_jobs_refuses_a_failed_job_a_job_run_twice_and_a_missing_end() -> None:
    with pytest.raises(AssertionError, match="failed with exit status 1"):
        cron_jobs("\n".join(_cron(30, "task_00", 1000, 1500, failed=1)))
    twice = _cron(30, "task_00", 1000, 1500) + _cron(40, "task_00", 2000, 2500)
    with pytest.raises(AssertionError, match="more than once"):
        cron_jobs("\n".join(twice))
    with pytest.raises(AssertionError, match="no CMD or no END"):
        cron_jobs("\n".join(_cron(30, "task_00", 1000, 1500)[:2]))


def _log(task: str, *, attempt: str = "", rc: int = 0, value: int = 55) -> str:
    a = f" attempt {attempt}" if attempt else ""
    return (
        f"[2026-12-06 14:00:00.000000100+00:00] {task} 2026-01-01 start{a}\n"
        f"{task} 2026-01-01: returned {value}\n"
        f"[2026-12-06 14:00:00.250000000+00:00] {task} 2026-01-01 end exit={rc}{a}\n"
    )


def test_task_record_reads_the_job_logs_start_and_end() -> None:
    rec = task_record(_log("task_03"), "task_03", 55)
    assert rec["end_ns"] - rec["start_ns"] == 249_999_900
    assert task_record(_log("task_03", attempt="1/3"), "task_03", 55) == rec


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_log("task_03", attempt="2/3"), "not a success on try 1"),
        (_log("task_03", rc=1), "not exit=0"),
        (_log("task_03", value=54), "expected"),
        (_log("task_03") * 2, "2 start and 2 end"),
        ("", "0 start and 0 end"),
        ("[2026-12-06 14:00:00+00:00] task_03 2026-01-01 refused: no marker\n", "refused"),
    ],
)
def test_task_record_refuses_a_retry_a_failure_a_wrong_value_and_a_rerun(
    text: str, match: str
) -> None:
    with pytest.raises(AssertionError, match=match):
        task_record(text, "task_03", 55)


def _recs(*spans: tuple[float, float]) -> list[dict[str, int]]:
    return [{"start_ns": int(a * 1e9), "end_ns": int(b * 1e9)} for a, b in spans]


def test_run_times_puts_minutes_back_on_crons_clock_and_keeps_job_time_real() -> None:
    # x300: one minute is 0.2 s real; jobs fire 0.01 s after their minute, run 0.05 s
    recs = _recs((10.01, 10.06), (10.21, 10.26), (10.61, 10.66))
    t = run_times(["a", "b", "c"], recs, [0, 1, 3], 300.0)
    assert t["started_s"] == pytest.approx([0.0, 60.0, 180.0])
    assert t["completed_s"] == pytest.approx([0.05, 60.05, 180.05])
    assert t["queued_s"] == t["started_s"]
    assert t["total_s"] == pytest.approx(180.05)
    assert t["real_started_s"] == pytest.approx([0.0, 0.2, 0.6])
    assert t["real_total_s"] == pytest.approx(0.65)


def test_run_times_one_job_both_clocks_agree() -> None:
    recs = _recs((5.0, 5.5), (5.6, 6.0))
    t = run_times(["a", "b"], recs, [0, 0], 300.0)
    assert t["completed_s"] == t["real_completed_s"] == pytest.approx([0.5, 1.0])


def test_run_times_refuses_overlapping_tasks() -> None:
    recs = _recs((0.0, 0.5), (0.2, 0.6))  # b's minute came while a still ran
    with pytest.raises(AssertionError, match="b started before a ended"):
        run_times(["a", "b"], recs, [0, 1], 300.0)


def test_slots_cover_the_jobs_occupancy_of_the_compressed_clock() -> None:
    for profile, durations, margin in (("default", JOB_SLOW_S, 1.25), ("tuned", JOB_WARM_S, 1.5)):
        for variant in ("naive", "hardened"):
            for shape in (SHORT, LONG):
                slot = slot_min(profile, variant, shape)
                assert slot * 60 >= durations[(variant, shape.name)] * 300 * margin
                assert (slot - 1) * 60 < durations[(variant, shape.name)] * 300 * margin or (
                    slot == 1
                )
    assert slot_min("tuned", "naive", SHORT) == 1
