"""The cron daemon's idle time of one date, derived once the date has finished.

The daemon runs on a libfaketime clock ``speed`` times faster than the real one; the jobs
run on the real clock. So the real time the pipeline spends waiting for a crontab minute
stands for more in production, and nothing else does:

- the lead-in: from the daemon's start to the first job's minute;
- each gap: from the last job's end (a job works from its first attempt's start to its
  last attempt's end, as journaled; a job that made no attempt, e.g. a hardened job that
  refused to run, ends at its minute) to the next step's minute. A catch-up job works
  from its first attempt of an older date to its last: it runs their chains back to back
  on the real clock, and no minute that comes meanwhile counts as a wait. When some job
  of the date is still working at that minute (a job that overran its slot, a hardened
  upstream still retrying, a hung job, the catch-up), the real clock rules there: no
  wait, so the production time is never overstated.

A wait's production length is what production would wait there: the crontab's time from
the last minute that fired (or the daemon's start) to this one, less the real time the
jobs worked since that minute (a job takes as long in production). Not its real length x
``speed``: the compressed clock kept running while the jobs worked, so a 1 s job in a
7-minute slot leaves 419 s of production wait but only (7 x 60 / speed - 1) real seconds.

Step work, hardened retry delays (``sleep`` in the job, real clock), flock waits and the
mail cron sends when a job ends (the adapter passes its receive times as ``marks``) are
real time and never counted. A restarted daemon (``scheduler_crash``) is one more
segment, with its own start and clock; a minute that passed while the daemon was down
never fires.

A one-entry crontab (profile ``pipeline``: ``pipeline.sh`` runs every step) has one
minute, so only its lead-in: its steps follow each other on the real clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from orchbench.journal import Attempt
from runners.cron.schedule import CATCHUP, Schedule


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


def fire_ns(schedule: Schedule, seg: Segment, date: dt.date, job: str) -> int:
    """Real time (ns) at which the segment's daemon clock shows ``job``'s minute."""
    fake_s = (schedule.fire_time(date, job) - seg.fake_start).total_seconds()
    return seg.start_ns + round(fake_s / schedule.speed * 1e9)


def compressed_waits(
    schedule: Schedule,
    date: dt.date,
    segments: Iterable[Segment],
    attempts: Iterable[Attempt],
    marks: Iterable[int] = (),
) -> list[Wait]:
    """The date's waits on the daemon's clock (see the module docstring), in time order.

    ``marks``: other instants (ns) at which the date's jobs were still at work, such as
    the receive time of the mail cron sent when a job ended: a wait starts after them.
    """
    every = list(attempts)  # the date's, and other dates' a catch-up job ran in its daemon
    day = date.isoformat()
    marked = sorted(marks)
    out: list[Wait] = []
    for seg in segments:
        busy = _jobs(every, seg, day)
        anchor = seg.start_ns  # the segment's start, then the last minute that fired
        for job in schedule.jobs:
            t = fire_ns(schedule, seg, date, job)
            if not seg.start_ns <= t <= seg.end_ns:
                continue
            if not any(start <= t < end for start, end in busy):
                ends = [end for _, end in busy if end <= t]
                since = max([anchor, *ends, *(m for m in marked if anchor <= m <= t)])
                if t > since:
                    # the clock ran x speed from the anchor to this minute; the jobs' work
                    # in between (since - anchor) takes as long in production
                    production = (t - anchor) / 1e9 * schedule.speed - (since - anchor) / 1e9
                    out.append(Wait(since, t, production))
            anchor = t
    return out


def _jobs(attempts: list[Attempt], seg: Segment, day: str) -> list[tuple[int, int]]:
    """When each job of this segment worked: per step of ``day``, and the catch-up job
    (every attempt of another date: the older dates it re-ran, one after the other on the
    real clock), from its first attempt's start to its last attempt's end (retry delays
    and the gaps between a catch-up's steps inside); to the segment's end if the last
    never ended."""
    jobs: dict[str, list[Attempt]] = {}
    for a in attempts:
        if seg.start_ns <= a.start_ns <= seg.end_ns:
            jobs.setdefault(a.step if a.logical_date == day else CATCHUP, []).append(a)
    out = []
    for ran in jobs.values():
        last = max(ran, key=lambda a: a.start_ns)
        ends = [a.end_ns for a in ran if a.end_ns is not None]
        end = seg.end_ns if last.end_ns is None else max(ends)
        out.append((min(a.start_ns for a in ran), end))
    return sorted(out)
