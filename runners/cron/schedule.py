"""The cron schedule of both cron runners, per profile: the one place for offsets and speed.

A team schedules the chain once a day at fixed minutes, spacing each job by the usual
duration of the one before it plus slack. The daemon's clock runs ``speed`` times faster
than real time (libfaketime) while the jobs see the real clock, so a job that takes ``d``
real seconds occupies ``d * speed`` fake seconds of its slot: every gap below must exceed
``speed`` times the real duration of the step before it.

Real durations of one step process (interpreter start and imports included, 20000
rows/day, 2 cores) vary about 2.5x with the machine's state: ``MEASURED_SLOW_S`` on a
busy or cold machine, ``MEASURED_WARM_S`` on a quiet warm one. ``default`` leaves about a
quarter more than the slow figures, like a team sizing slots for its bad days; ``tuned``
leaves about half more than the warm figures, and overlaps when the machine is slow (the
price of tightening cron offsets). At x300 one fake minute is 0.2 real seconds.

``pipeline`` has one crontab entry (``PIPELINE``, at ``default``'s first minute) running
the whole chain from one script: there are no slots between steps, only the lead-in.

``with_catchup`` adds cron-hardened's catch-up entry (``CATCHUP``, ``catchup.sh``) one
minute before the first job: it re-runs the dates of its look-back window that lack their
success marker, and the day's jobs wait for it (``lib.sh``). The day's jobs keep their
minutes; the daemon starts its lead-in before the catch-up's.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchbench.workflow.spec import STEP_NAMES

PIPELINE = "pipeline"  # the job of a one-entry crontab: pipeline.sh runs every step
CATCHUP = "catchup"  # cron-hardened's catch-up job (catchup.sh), before the day's first
MEASURED_SLOW_S: Mapping[str, float] = {
    "ingest": 1.1,
    "validate": 1.6,
    "featurize": 1.2,
    "train": 3.5,
    "evaluate": 1.1,
    "register": 1.1,
    "canary": 1.1,
}
MEASURED_WARM_S: Mapping[str, float] = {
    "ingest": 0.3,
    "validate": 0.6,
    "featurize": 0.45,
    "train": 1.4,
    "evaluate": 0.3,
    "register": 0.3,
    "canary": 0.3,
}


@dataclass(frozen=True)
class Schedule:
    """When each job fires (minutes after ``first_run``, daily) and how fast the clock runs.

    A job is a step (one crontab line per step, every step in order) or ``PIPELINE`` alone
    (one line whose script runs every step in order), optionally after ``CATCHUP`` (the
    catch-up of the dates that lack their marker, which runs no step of today's date).
    """

    speed: float  # fake seconds per real second (libfaketime ``x`` factor)
    first_run: dt.time  # daily time of the first job
    offsets_min: Mapping[str, int] = field(default_factory=dict)  # job -> minutes after it
    lead_in_s: float = 30.0  # fake seconds the daemon starts before the first job's minute

    def __post_init__(self) -> None:
        jobs = list(self.offsets_min)
        if jobs[:1] == [CATCHUP]:
            jobs = jobs[1:]
        if jobs not in (list(STEP_NAMES), [PIPELINE]):
            raise ValueError(
                f"offsets must name every step in order {STEP_NAMES}, or {PIPELINE}, "
                f"optionally after {CATCHUP}"
            )
        values = list(self.offsets_min.values())
        if values != sorted(values) or len(set(values)) != len(values):
            raise ValueError("offsets must be strictly increasing")

    @property
    def jobs(self) -> tuple[str, ...]:
        """The crontab's jobs, in the order they fire."""
        return tuple(self.offsets_min)

    def steps_of(self, job: str) -> tuple[str, ...]:
        """The steps of today's date one job runs (the catch-up: none)."""
        if job == CATCHUP:
            return ()
        return STEP_NAMES if job == PIPELINE else (job,)

    def with_catchup(self, before_min: int = 1) -> Schedule:
        """This schedule with the ``CATCHUP`` job ``before_min`` minutes before the first
        job; every other job keeps its minute."""
        if CATCHUP in self.offsets_min:
            return self
        first = dt.datetime.combine(dt.date(2000, 1, 2), self.first_run)
        offsets = {CATCHUP: 0, **{j: m + before_min for j, m in self.offsets_min.items()}}
        return replace(
            self,
            first_run=(first - dt.timedelta(minutes=before_min)).time(),
            offsets_min=offsets,
        )

    def fire_time(self, logical_date: dt.date, job: str) -> dt.datetime:
        """Fake wall-clock time ``job`` fires for ``logical_date``.

        A daily job processes yesterday's data: logical date D runs on day D+1.
        """
        day = logical_date + dt.timedelta(days=1)
        base = dt.datetime.combine(day, self.first_run)
        return base + dt.timedelta(minutes=self.offsets_min[job])

    def daemon_start(self, logical_date: dt.date) -> dt.datetime:
        """Fake time the day's daemon starts: ``lead_in_s`` before the first job."""
        return self.fire_time(logical_date, self.jobs[0]) - dt.timedelta(seconds=self.lead_in_s)

    def cron_fields(self, job: str) -> str:
        """The five time fields of the job's crontab line."""
        t = dt.datetime.combine(dt.date(2000, 1, 1), self.first_run) + dt.timedelta(
            minutes=self.offsets_min[job]
        )
        return f"{t.minute} {t.hour} * * *"

    def margins(self, measured: Mapping[str, float]) -> dict[str, float]:
        """Slot length / fake duration of each job but the last (>1 means it fits); the
        catch-up has no usual duration (today's jobs wait for it)."""
        out = {}
        for a, b in itertools.pairwise(self.jobs):
            if not self.steps_of(a):
                continue
            slot_s = (self.offsets_min[b] - self.offsets_min[a]) * 60
            work_s = sum(measured[s] for s in self.steps_of(a))
            out[a] = round(slot_s / (work_s * self.speed), 2)
        return out

    def real_day_s(self, measured: Mapping[str, float]) -> float:
        """Expected real seconds of one simulated day (lead-in, slots, the last job)."""
        last = self.jobs[-1]
        fake = self.lead_in_s + self.offsets_min[last] * 60
        return fake / self.speed + sum(measured[s] for s in self.steps_of(last))

    def describe(self) -> dict[str, Any]:
        return {
            "speed": self.speed,
            "first_run": self.first_run.strftime("%H:%M"),
            "lead_in_s": self.lead_in_s,
            "crontab": {j: self.cron_fields(j) for j in self.jobs},
            "offsets_min": dict(self.offsets_min),
            "slot_margin_slow": self.margins(MEASURED_SLOW_S),
            "slot_margin_warm": self.margins(MEASURED_WARM_S),
            "expected_real_day_s": round(self.real_day_s(MEASURED_WARM_S), 2),
        }


DEFAULT_OFFSETS_MIN: Mapping[str, int] = {
    "ingest": 0,
    "validate": 7,
    "featurize": 17,
    "train": 25,
    "evaluate": 45,
    "register": 52,
    "canary": 59,
}

SCHEDULES: dict[str, Schedule] = {
    # As teams usually write it: each slot is a bad day's duration plus about a quarter.
    "default": Schedule(speed=300, first_run=dt.time(2, 0), offsets_min=DEFAULT_OFFSETS_MIN),
    # The default crontab on a clock ten times slower (issue 23, point 7): does the
    # compression change the verdicts? About 2 real minutes per simulated day.
    "x30": Schedule(speed=30, first_run=dt.time(2, 0), offsets_min=DEFAULT_OFFSETS_MIN),
    # Tightened after watching warm runs: about half more than a good day's duration.
    "tuned": Schedule(
        speed=300,
        first_run=dt.time(2, 0),
        offsets_min={
            "ingest": 0,
            "validate": 3,
            "featurize": 8,
            "train": 12,
            "evaluate": 23,
            "register": 26,
            "canary": 29,
        },
    ),
    # One crontab entry runs the whole chain from one script (pipeline.sh), at default's
    # first minute on default's clock: the steps follow each other with no slot between.
    PIPELINE: Schedule(speed=300, first_run=dt.time(2, 0), offsets_min={PIPELINE: 0}),
}
