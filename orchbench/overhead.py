"""The three overheads orchbench measures: three definitions, three names.

- ``outside_steps_s_per_attempt`` (``run.json`` metrics, every workflow run): the days
  phase's wall time (harness ``run_started`` to ``days_finished``) minus the summed wall of
  the attempts started in it, divided by their number. It counts whatever is not a step:
  the system's scheduling and dispatch, schedule slack (cron's clock slots), retry delays;
  negative when attempts overlap.
- ``overhead_s_per_task`` (``orchbench scale``'s ``point.json``, computed with the scale
  figures): (wall − ideal) / tasks, where ideal = Σ task / parallelism, over a synthetic
  DAG of N short sleeping tasks. This is the only figure named "overhead per task".
- ``probe_s_per_task`` (``results/overhead/<system>.json``, the windmill-benchmarks
  method): the median total of the probe runs (first task queued to last task ended, the
  system's own timestamps) / tasks, for 40 sequential ``fibo(10)`` tasks.

They answer different questions and are never compared with one another.
"""

from __future__ import annotations

import statistics
from typing import Any

from orchbench.journal import Journal


def outside_steps_s_per_attempt(journal: Journal) -> float | None:
    """See the module docstring; None if the days phase is unknown or ran no attempt."""
    start, end = journal.harness_time("run_started"), journal.harness_time("days_finished")
    if start is None or end is None:
        return None
    phase = [a for a in journal.attempts if start <= a.start_ns <= end]
    if not phase:
        return None
    return ((end - start) / 1e9 - sum(a.wall_s or 0.0 for a in phase)) / len(phase)


def probe_summary(runs: list[dict[str, Any]], tasks: int) -> dict[str, Any]:
    """The figures of a probe's measured runs.

    Each run gives ``total_s`` and, per task in order, ``queued_s``, ``started_s`` and
    ``completed_s`` (the system's timestamps, seconds from the first task's queueing).
    Returns the median/min/max total, ``probe_s_per_task`` (median total / tasks) and, as
    medians over every task of every run: the gap from one task's end to the next one's
    queueing (scheduler latency), dispatch (queued to started) and execution (started to
    ended).
    """
    totals = [r["total_s"] for r in runs]
    gaps, dispatch, execution = [], [], []
    for r in runs:
        q_, s_, c_ = r["queued_s"], r["started_s"], r["completed_s"]
        gaps += [q_[i] - c_[i - 1] for i in range(1, tasks)]
        dispatch += [s_[i] - q_[i] for i in range(tasks)]
        execution += [c_[i] - s_[i] for i in range(tasks)]
    median = statistics.median(totals)
    return {
        "tasks": tasks,
        "runs": len(runs),
        "median_total_s": round(median, 3),
        "min_total_s": round(min(totals), 3),
        "max_total_s": round(max(totals), 3),
        "probe_s_per_task": round(median / tasks, 4),
        "median_gap_s": round(statistics.median(gaps), 4),
        "median_dispatch_s": round(statistics.median(dispatch), 4),
        "median_execution_s": round(statistics.median(execution), 4),
    }


def stamp_probe(entry: dict[str, Any], runner: Any) -> dict[str, Any]:
    """A probe profile's entry with what every ``results/overhead/<system>.json`` entry
    carries beside the figures: the machine, the runner's versions (kept when the probe
    already read them) and the system's version as its plugin names it."""
    from orchbench import plugins
    from orchbench.rundir import machine_info

    entry["machine"] = machine_info()
    entry.setdefault("versions", runner.versions())
    declared = plugins.of_runner(runner)
    entry["system_version"] = declared.system_version(entry["versions"]) if declared else None
    return entry
