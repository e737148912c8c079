"""Who was told, and when: the alert and visibility signals of a run, on the real and the
production clock, and the attempts a system misreports. Part of the metrics layer
(``orchbench.metrics`` puts these in run.json); read from the journal and the native trace.

- **alerted**: a non-passive trace ``alert`` (a message pushed to a human: a mail, a
  callback, a hook) at or after the first fault activation.
- **visible**: a non-passive ``task_attempt`` or ``run_state`` in a failure state
  (``trace.FAILURE_STATES``): the failure shows in the system's own central view (UI, API,
  CLI run listing). Collectors mark what they read from a log file nobody is pointed to
  ``passive``, so it is neither. A retried try the central view shows is visible, never
  alerted.
- **production clock**: a real interval plus, for each ``compressed_wait`` journaled
  inside it (``orchbench.journal.COMPRESSED_WAIT``), that wait's ``production_s`` minus its
  real length (pro rata where the interval cuts the wait). Step work, retry delays and
  poll intervals run in real time and stay as they are.
- **misreported**: a journaled attempt whose record in the system (``match_trace``) says
  otherwise: ``success`` where the step failed or was killed, a failure where it
  succeeded, or ``running`` with a start time (read when the run was collected: the system
  says it started the try and it still runs) for an attempt whose process had ended or
  been killed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchbench.journal import COMPRESSED_WAIT, Attempt, Journal
from orchbench.trace import FAILURE_STATES


@dataclass(frozen=True)
class Signals:
    """The first alert and the first visible failure after the first fault activation,
    seconds after it on the real and the production clock (None: never)."""

    alerted: bool
    alert_s: float | None
    alert_production_s: float | None
    visible: bool
    visible_s: float | None
    visible_production_s: float | None


def _failing(r: dict[str, Any]) -> bool:
    return str(r.get("state", "")).lower() in FAILURE_STATES


def alert_time(r: dict[str, Any]) -> int | None:
    """When a trace record alerted a human (None: it is no alert)."""
    if r.get("passive") or r.get("kind") != "alert":
        return None
    return r.get("t_ns")


def visible_time(r: dict[str, Any]) -> int | None:
    """When a trace record showed a failure in the system's central view (None: it did
    not). A task attempt shows at its end (else its start)."""
    if r.get("passive") or not _failing(r):
        return None
    if r.get("kind") == "task_attempt":
        return r["end_ns"] if r.get("end_ns") is not None else r.get("start_ns")
    if r.get("kind") == "run_state":
        return r.get("t_ns")
    return None


def production_s(journal: Journal, start_ns: int, end_ns: int) -> float:
    """Seconds from ``start_ns`` to ``end_ns`` on the production clock (module docstring)."""
    total = (end_ns - start_ns) / 1e9
    for w in journal.harness:
        if w.get("event") != COMPRESSED_WAIT:
            continue
        w0, w1, prod = int(w["start_ns"]), int(w["end_ns"]), float(w["production_s"])
        if w1 <= w0:  # no real length: the whole wait lies inside when its moment does
            total += prod if start_ns <= w0 < end_ns else 0.0
            continue
        overlap = min(end_ns, w1) - max(start_ns, w0)
        if overlap > 0:
            total += overlap / (w1 - w0) * (prod - (w1 - w0) / 1e9)
    return total


def _first(journal: Journal, trace: list[dict[str, Any]], when: Any) -> int | None:
    """The earliest signal ``when`` finds at or after the first activation. One timed
    before it counts as at it when it is for the activation's date and step (a record
    without a step matches on date): system clocks are coarser than ours."""
    first = min(journal.faults, key=lambda f: f["t_ns"])
    act = int(first["t_ns"])
    best: int | None = None
    for r in trace:
        t = when(r)
        if t is None:
            continue
        if t < act:
            same = r.get("logical_date") == first.get("logical_date") and r.get("step") in (
                None,
                first.get("step"),
            )
            if not same:
                continue
            t = act
        best = t if best is None else min(best, t)
    return best


def signals(journal: Journal, trace: list[dict[str, Any]]) -> Signals:
    """Alerted and visible, from the trace alone; nothing without a fault activation."""
    if not journal.faults:
        return Signals(False, None, None, False, None, None)
    act = min(int(f["t_ns"]) for f in journal.faults)
    out: list[Any] = []
    for when in (alert_time, visible_time):
        t = _first(journal, trace, when)
        if t is None:
            out += [False, None, None]
        else:
            out += [True, (t - act) / 1e9, production_s(journal, act, t)]
    return Signals(*out)


def _attempt_state(a: Attempt) -> dict[str, Any]:
    out: dict[str, Any] = {"status": a.status, "start_ns": a.start_ns, "end_ns": a.end_ns}
    if a.error_type:
        out["error"] = f"{a.error_type}: {a.error or ''}"[:300]
    return out


def _system_state(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("state", "source", "run", "attempt", "start_ns", "end_ns", "passive")
    return {k: r[k] for k in keys if r.get(k) is not None}


def misreported(
    attempts: Iterable[Attempt], matched: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each attempt whose matched system record contradicts the journal, with both records
    side by side (``matched``: ``metrics.match_trace``)."""
    out = []
    for a in attempts:
        r = matched.get(a.attempt_id)
        if r is None:
            continue
        state = str(r.get("state", "")).lower()
        if state == "success" and a.status != "success":
            says = f"success where the step {'was killed' if a.status == 'killed' else 'failed'}"
        elif _failing(r) and a.status == "success":
            says = f"{state} where the step succeeded"
        elif state == "running" and r.get("start_ns") and (a.finished or a.status == "killed"):
            says = "running after the attempt's process had ended"
        else:
            continue
        out.append(
            {
                "attempt_id": a.attempt_id,
                "logical_date": a.logical_date,
                "step": a.step,
                "attempt": a.attempt,
                "system_says": says,
                "journal": _attempt_state(a),
                "system": _system_state(r),
            }
        )
    return out
