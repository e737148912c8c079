"""What the system's scheduler did with the dates: the catch-up of dates an outage made it
miss, the wait for a late partition, and what became of the task in flight when the
scheduler was killed. From the journal (and, for the in-flight task, the native trace)
alone; ``orchbench.metrics.compute_metrics`` puts each figure in run.json.

"Without intervention" means: started before the operator's first decision
(``operator_intervention``; the fix when no decision was journaled). Work the operator's
recovery does never counts here.

- ``backfill``: for the ``missed_days`` outages (``fault_activated.detail.dates``):
  ``missed_dates``; ``backfilled_dates``, the missed dates every required step of which
  (``Analysis.required_steps``) has a good attempt without intervention;
  ``skipped_dates``, the others; ``backfill_order``, the dates from the first missed one
  on in the order their first attempt started after the scheduler came back
  (``scheduler_started``, or, for a run the harness fired, the first date due after the
  outage); ``backfill_in_order``, that order is date order; ``catchup_s`` and
  ``catchup_production_s``, from the scheduler coming back to the end of the last
  backfilled date's last good attempt, on the real and the production clock (None when
  nothing was backfilled); ``duplicate_dates``, dates a step of which succeeded more than
  once without intervention (the system ran the date twice).
- ``lateness``: for a ``late_data`` fault's date: ``late_completed`` (every required step
  good without intervention) and ``late_extra_s`` / ``late_extra_production_s``, how much
  later than on the run's other dates (their median) the ingest that read the data started
  after the date was due (``date_due`` to the start of the date's first good ingest): the
  wait for the partition, whatever waited (a sensor, a wait loop, retries). None when the
  date did not complete or no other date had a good ingest. (A whole day's wall was tried
  first: on a 2-day run it compares with the stack's colder first day, and came out
  negative for cron-hardened, whose fixed crontab minutes absorb the wait.)
- ``in_flight``: for a ``scheduler_crash``, what became of the attempt whose start set it
  off: ``re-run`` (the system started another attempt of that date and step without
  intervention), ``adopted`` (it ran to its end and a record of the system's own central
  view, not a passive log, agrees with the journal), ``orphaned`` (it ran to its end and
  only a passive log, or nothing, or a contradicting record, says so: nobody was watching
  it), ``crashed`` (it was killed with the scheduler, or failed, and the system's records
  show the failure) or ``lost`` (killed or failed, and the system's records show no
  failure). With
  ``in_flight_evidence``: the attempt, its journaled status and the system's record.
"""

from __future__ import annotations

import statistics
from typing import Any, Protocol

from orchbench.journal import Attempt, Journal
from orchbench.runner import DATE_DUE, SCHEDULER_STARTED
from orchbench.signals import production_s


class Analysis(Protocol):
    """What this module reads of ``orchbench.metrics.Analysis`` (which imports it)."""

    def by_date_step(self) -> dict[tuple[str, str], list[Any]]: ...

    def required_steps(self, date: str) -> tuple[str, ...]: ...


# the system's words for an attempt that ended badly (trace ``task_attempt.state``)
FAILED_STATES = frozenset({"failed", "crashed"})


def cut_ns(journal: Journal) -> float:
    """The operator's first decision (else the fix; else never): work started from then on
    is the operator's, not the system's."""
    marks = [int(r["t_ns"]) for r in journal.interventions]
    if marks:
        return min(marks)
    fix = journal.harness_time("fix_applied")
    return float(fix) if fix is not None else float("inf")


def _due(journal: Journal) -> dict[str, int]:
    """logical date -> when it was due (the day loop's ``date_due``)."""
    return {
        str(h["logical_date"]): int(h["t_ns"])
        for h in journal.harness
        if h.get("event") == DATE_DUE and "logical_date" in h
    }


Grouped = dict[tuple[str, str], list[Any]]  # ``Analysis.by_date_step()``


def _good(by: Grouped, date: str, step: str, cut: float) -> list[Attempt]:
    """The good attempts of ``date``'s ``step`` started before ``cut``, in start order."""
    return [i.attempt for i in by.get((date, step), []) if i.good and i.attempt.start_ns < cut]


def _done_ns(analysis: Analysis, by: Grouped, date: str, cut: float) -> int | None:
    """End of the date's last required step's good attempt started before ``cut``, or None
    when a required step has none (``by``: the analysis's attempts by date and step)."""
    ends = []
    for step in analysis.required_steps(date):
        good = _good(by, date, step, cut)
        if not good or good[0].end_ns is None:
            return None
        ends.append(min(a.end_ns for a in good if a.end_ns is not None))
    return max(ends)


def backfill(journal: Journal, analysis: Analysis) -> dict[str, Any]:
    """The ``backfill`` figures (module docstring); all None without an outage."""
    missed = sorted(
        {str(d) for f in journal.faults if f.get("kind") == "missed_days" for d in _dates(f)}
    )
    keys = (
        "missed_dates",
        "backfilled_dates",
        "skipped_dates",
        "backfill_order",
        "backfill_in_order",
        "catchup_s",
        "catchup_production_s",
        "duplicate_dates",
    )
    if not missed:
        return dict.fromkeys(keys)
    cut = cut_ns(journal)
    due = _due(journal)
    back = journal.harness_time(SCHEDULER_STARTED)
    if back is None:  # the harness fired the dates: back when the next date was due
        after = [t for d, t in due.items() if d > missed[-1]]
        back = min(after) if after else None
    by = analysis.by_date_step()
    done = {d: _done_ns(analysis, by, d, cut) for d in missed}
    filled = [d for d in missed if done[d] is not None]
    first: dict[str, int] = {}
    for a in journal.attempts:
        if a.logical_date >= missed[0] and back is not None and back <= a.start_ns < cut:
            first.setdefault(a.logical_date, a.start_ns)
    order = sorted(first, key=lambda d: first[d])
    last = max((done[d] for d in filled), default=None)
    return {
        "missed_dates": missed,
        "backfilled_dates": filled,
        "skipped_dates": [d for d in missed if d not in filled],
        "backfill_order": order,
        "backfill_in_order": order == sorted(order),
        "catchup_s": None if last is None or back is None else round((last - back) / 1e9, 3),
        "catchup_production_s": None
        if last is None or back is None
        else round(production_s(journal, back, last), 3),
        "duplicate_dates": duplicate_dates(journal, cut),
    }


def _dates(fault: dict[str, Any]) -> list[str]:
    return list((fault.get("detail") or {}).get("dates") or [fault.get("logical_date")])


def duplicate_dates(journal: Journal, cut: float) -> list[str]:
    """Dates a step of which succeeded more than once before ``cut``."""
    seen: dict[tuple[str, str], int] = {}
    for a in journal.attempts:
        if a.status == "success" and a.start_ns < cut:
            seen[(a.logical_date, a.step)] = seen.get((a.logical_date, a.step), 0) + 1
    return sorted({d for (d, _), n in seen.items() if n > 1})


def lateness(journal: Journal, analysis: Analysis) -> dict[str, Any]:
    """The ``lateness`` figures (module docstring); all None without a late_data fault."""
    late = [f for f in journal.faults if f.get("kind") == "late_data"]
    keys = ("late_completed", "late_extra_s", "late_extra_production_s")
    if not late:
        return dict.fromkeys(keys)
    date = str(late[0]["logical_date"])
    cut = cut_ns(journal)
    due = _due(journal)
    waits: dict[str, tuple[float, float]] = {}  # due -> the ingest that read the data
    by = analysis.by_date_step()
    for d, t in due.items():
        good = _good(by, d, "ingest", cut)
        if good:
            start = good[0].start_ns
            waits[d] = ((start - t) / 1e9, production_s(journal, t, start))
    done = _done_ns(analysis, by, date, cut) is not None
    others = [w for d, w in waits.items() if d != date]
    if not done or date not in waits or not others:
        return {**dict.fromkeys(keys), "late_completed": done}
    real = waits[date][0] - statistics.median(w[0] for w in others)
    prod = waits[date][1] - statistics.median(w[1] for w in others)
    return {
        "late_completed": True,
        "late_extra_s": round(real, 3),
        "late_extra_production_s": round(prod, 3),
    }


def in_flight(
    journal: Journal, matched: dict[str, dict[str, Any]], trace: list[dict[str, Any]]
) -> tuple[str | None, dict[str, Any] | None]:
    """What became of the attempt a ``scheduler_crash`` hit (module docstring), with the
    evidence; ``matched`` is ``metrics.match_trace`` of the journal's attempts. A record
    that starts after the operator's first decision is of the operator's re-run, not of
    this attempt; with no record of the task, a failed or crashed run of its date shows
    the failure."""
    crash = next(
        (f for f in journal.faults if f.get("kind") == "scheduler_crash" and f.get("attempt_id")),
        None,
    )
    attempts = {a.attempt_id: a for a in journal.attempts}
    hit: Attempt | None = attempts.get(crash["attempt_id"]) if crash else None
    if hit is None:
        return None, None
    cut = cut_ns(journal)
    again = [
        a
        for a in journal.attempts
        if (a.logical_date, a.step) == (hit.logical_date, hit.step)
        and hit.start_ns < a.start_ns < cut
    ]
    record = matched.get(hit.attempt_id)
    if record is not None and int(record.get("start_ns") or 0) >= cut:
        record = None  # the system's record of the operator's re-run, not of this attempt
    state = None if record is None else str(record.get("state"))
    passive = bool(record and record.get("passive"))
    # a system that keeps no record of the task may still show its run failed
    runs = [
        str(r.get("state"))
        for r in trace
        if r.get("kind") == "run_state" and r.get("logical_date") == hit.logical_date
    ]
    evidence = {
        "attempt_id": hit.attempt_id,
        "logical_date": hit.logical_date,
        "step": hit.step,
        "journal": hit.status,
        "system": state,
        "passive": passive,
        "native": None if record is None else record.get("native"),
        "re_runs": len(again),
        "runs": runs,
    }
    if again:
        return "re-run", evidence
    if hit.status != "success":  # killed with the scheduler, or died orphaned
        shown = state is not None and state in FAILED_STATES and not passive
        shown = shown or (record is None and any(r in FAILED_STATES for r in runs))
        return ("crashed" if shown else "lost"), evidence
    agrees = state == "success" and not passive
    return ("adopted" if agrees else "orphaned"), evidence
