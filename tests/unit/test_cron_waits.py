"""runners.cron.waits on hand-made journals: which real intervals of a cron date were the
daemon's compressed idle time (lead-in and gaps before a crontab minute), and which were
not (step work, hardened retry delays, a job still running at the next minute)."""

from __future__ import annotations

import datetime as dt

import pytest

from orchbench.journal import Attempt
from runners.cron.schedule import SCHEDULES
from runners.cron.waits import Segment, compressed_waits

S = 1_000_000_000
T0 = 1_000 * S
DATE = dt.date(2026, 1, 2)
SCHED = SCHEDULES["default"]  # x300; minutes 0, 7, 17, 25, 45, 52, 59 after 02:00
SEG = Segment(T0, T0 + 20 * S, SCHED.daemon_start(DATE))  # 30 fake s of lead-in
# real seconds after T0 at which each job's minute comes: (30 + 60 * minute) / 300
FIRE = {"ingest": 0.1, "validate": 1.5, "featurize": 3.5, "train": 5.1, "evaluate": 9.1}


def attempt(step: str, start_s: float, end_s: float | None, n: int = 1) -> Attempt:
    return Attempt(
        attempt_id=f"{step}-{n}",
        run_id="r",
        runner="cron-hardened",
        logical_date=DATE.isoformat(),
        step=step,
        attempt=n,
        pid=1,
        start_ns=T0 + round(start_s * S),
        code_version=None,
        inputs=[],
        end_ns=None if end_s is None else T0 + round(end_s * S),
        status="success" if end_s is not None else "killed",
    )


def spans(waits) -> list[tuple[float, float]]:
    return [(round((w.start_ns - T0) / S, 3), round((w.end_ns - T0) / S, 3)) for w in waits]


def test_clean_day_lead_in_and_every_gap_before_a_minute() -> None:
    runs = [attempt(s, t + 0.05, t + 0.55) for s, t in FIRE.items()]
    waits = compressed_waits(SCHED, DATE, [SEG], runs)
    assert spans(waits)[:3] == [(0.0, 0.1), (0.65, 1.5), (2.05, 3.5)]
    assert waits[0].production_s == pytest.approx(30.0)  # the lead-in, fake seconds
    # validate's minute is 7 min after ingest's; ingest's job worked 0.55 s of them
    assert waits[1].production_s == pytest.approx(7 * 60 - 0.55)
    # the production clock from ingest's minute to validate's is the crontab's 7 minutes
    assert 0.55 + waits[1].production_s == pytest.approx(420.0)
    # register and canary made no attempt: the gap runs from the previous minute
    assert spans(waits)[-2:] == [(9.65, 10.5), (10.5, 11.9)]
    assert len(waits) == 7


def test_retry_delay_and_flock_wait_are_real_time() -> None:
    runs = [
        attempt("ingest", 0.15, 0.6),
        attempt("validate", 1.55, 2.0),  # failed; the job sleeps its retry delay (real)
        attempt("validate", 4.0, 4.5, n=2),  # featurize's minute (3.5) came meanwhile
        attempt("featurize", 4.55, 5.0),  # it waited on flock, then ran
    ]
    waits = compressed_waits(SCHED, DATE, [SEG], runs)
    got = spans(waits)
    assert (0.6, 1.5) in got and (5.0, 5.1) in got
    assert not any(a < 4.5 and b > 2.0 for a, b in got)  # nothing from 2.0 to 4.5


def test_refused_job_and_a_job_that_never_ended() -> None:
    runs = [
        attempt("ingest", 0.15, 0.6),
        attempt("validate", 1.55, 2.0),  # failed at once (exit 65): featurize refuses
        attempt("train", 5.15, None),  # a hung attempt, never ended: the day ends with it
    ]
    got = spans(compressed_waits(SCHED, DATE, [SEG], runs))
    assert (2.0, 3.5) in got and (3.5, 5.1) in got  # refused featurize: from its minute
    assert max(b for _, b in got) == 5.1  # nothing counted while train still ran


def test_restarted_daemon_counts_its_own_lead_in_and_skips_passed_minutes() -> None:
    first = Segment(T0, T0 + 2 * S, SCHED.daemon_start(DATE))
    # killed at 2 s real (fake 02:09:30); restarted 1 s later on the clock it then reads
    restart_fake = SCHED.daemon_start(DATE) + dt.timedelta(seconds=2 * 300)
    second = Segment(T0 + 3 * S, T0 + 20 * S, restart_fake)
    runs = [attempt("ingest", 0.15, 0.6), attempt("validate", 1.55, 1.9)]
    got = spans(compressed_waits(SCHED, DATE, [first, second], runs))
    # the second daemon's lead-in ends at featurize's minute: 3 s + (1050 - 600) / 300
    assert (0.0, 0.1) in got and (0.6, 1.5) in got and (3.0, 4.5) in got
    lead_in = compressed_waits(SCHED, DATE, [first, second], runs)[2]
    assert lead_in.production_s == pytest.approx(1.5 * 300)  # nothing worked in it


def test_the_mail_cron_sends_after_a_job_is_real_time() -> None:
    runs = [attempt("ingest", 0.15, 0.6), attempt("validate", 1.55, 2.0)]
    mail = T0 + round(2.16 * S)  # the failed validate's report reached the sink
    waits = compressed_waits(SCHED, DATE, [SEG], runs, marks=[mail, T0 + 30 * S])
    got = spans(waits)
    assert (2.16, 3.5) in got  # featurize's wait starts once the mail is in
    before_featurize = waits[got.index((2.16, 3.5))]
    assert before_featurize.production_s == pytest.approx(10 * 60 - (2.16 - 1.5))


def test_one_entry_crontab_counts_only_its_lead_in() -> None:
    """Profile pipeline: pipeline.sh runs every step from one minute; the gaps between
    its steps (and the minutes the default crontab would have) are real time."""
    sched = SCHEDULES["pipeline"]
    assert sched.jobs == ("pipeline",) and sched.cron_fields("pipeline") == "0 2 * * *"
    seg = Segment(T0, T0 + 20 * S, sched.daemon_start(DATE))
    t = 0.15
    runs = []
    for step in ("ingest", "validate", "featurize", "train", "evaluate", "register", "canary"):
        runs.append(attempt(step, t, t + 0.9))
        t += 1.0  # 0.1 s between steps: the script starting the next one
    waits = compressed_waits(sched, DATE, [seg], runs)
    assert spans(waits) == [(0.0, 0.1)]
    assert waits[0].production_s == pytest.approx(30.0)
    # the default crontab on the same attempts counts the minutes between the steps
    assert len(compressed_waits(SCHED, DATE, [SEG], runs)) > 1


def test_schedule_takes_every_step_or_one_pipeline_job() -> None:
    from runners.cron.schedule import Schedule

    with pytest.raises(ValueError):
        Schedule(speed=300, first_run=dt.time(2), offsets_min={"ingest": 0, "train": 5})
    sched = SCHEDULES["pipeline"]
    assert sched.margins({"pipeline": 1.0}) == {}
    assert sched.real_day_s(dict.fromkeys(sched.steps_of("pipeline"), 1.0)) == pytest.approx(
        30 / 300 + 7
    )
