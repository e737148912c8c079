"""The cron daemon's idle time of one date, derived once the date has finished.

The daemon runs on a libfaketime clock ``speed`` times faster than the real one; the jobs
run on the real clock. So the real time the pipeline spends waiting for a crontab minute
stands for ``speed`` times as much in production, and nothing else does:

- the lead-in: from the daemon's start to the first job's minute;
- each gap: from the last job's end (a job works from its first attempt's start to its
  last attempt's end, as journaled; a job that made no attempt, e.g. a hardened job that
  refused to run, ends at its minute) to the next step's minute. When some job of the
  date is still working at that minute (a job that overran its slot, a hardened upstream
  still retrying, a hung job), the real clock rules there: no wait, so the production
  time is never overstated.

Step work, hardened retry delays (``sleep`` in the job, real clock) and flock waits are
real time and never counted. A restarted daemon (``scheduler_crash``) is one more
segment, with its own start and clock; a minute that passed while the daemon was down
never fires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from orchbench.journal import Attempt
from orchbench.workflow.spec import STEP_NAMES
from runners.cron.schedule import Schedule


@dataclass(frozen=True)
class Segment:
    """One daemon's life on a date: real start and end (ns) and its clock at start."""

    start_ns: int
    end_ns: int
    fake_start: dt.datetime


@dataclass(frozen=True)
class Wait:
    start_ns: int
    end_ns: int
    production_s: float


def fire_ns(schedule: Schedule, seg: Segment, date: dt.date, step: str) -> int:
    """Real time (ns) at which the segment's daemon clock shows ``step``'s minute."""
    fake_s = (schedule.fire_time(date, step) - seg.fake_start).total_seconds()
    return seg.start_ns + round(fake_s / schedule.speed * 1e9)


def compressed_waits(
    schedule: Schedule, date: dt.date, segments: Iterable[Segment], attempts: Iterable[Attempt]
) -> list[Wait]:
    """The date's waits on the daemon's clock (see the module docstring), in time order."""
    day = date.isoformat()
    mine = [a for a in attempts if a.logical_date == day]
    out: list[Wait] = []
    for seg in segments:
        busy = _jobs(mine, seg)
        lo = seg.start_ns  # the later of the segment's start and the last minute that fired
        for step in STEP_NAMES:
            t = fire_ns(schedule, seg, date, step)
            if not seg.start_ns <= t <= seg.end_ns:
                continue
            if not any(start <= t < end for start, end in busy):
                since = max([lo, *(end for _, end in busy if end <= t)])
                if t > since:
                    out.append(Wait(since, t, (t - since) / 1e9 * schedule.speed))
            lo = t
    return out


def _jobs(attempts: list[Attempt], seg: Segment) -> list[tuple[int, int]]:
    """Per step, when its job of this segment worked: first attempt's start to last
    attempt's end (retry delays inside); to the segment's end if the last never ended."""
    out = []
    for step in STEP_NAMES:
        ran = [a for a in attempts if a.step == step and seg.start_ns <= a.start_ns <= seg.end_ns]
        if not ran:
            continue
        last = max(ran, key=lambda a: a.start_ns)
        ends = [a.end_ns for a in ran if a.end_ns is not None]
        end = seg.end_ns if last.end_ns is None else max(ends)
        out.append((min(a.start_ns for a in ran), end))
    return out
