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
  system's own timestamps) / tasks, for one of the two ``SHAPES``: 40 sequential
  ``fibo(10)`` tasks (microseconds of work each) or 10 sequential ``fibo(33)`` tasks
  (about a second each here).

They answer different questions and are never compared with one another.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
    Returns the median/min/max total and its coefficient of variation (``cv_total``),
    ``probe_s_per_task`` (median total / tasks) and, as medians over every task of every
    run: the gap from one task's end to the next one's queueing (scheduler latency),
    dispatch (queued to started) and execution (started to ended).
    """
    totals = [r["total_s"] for r in runs]
    gaps, dispatch, execution = [], [], []
    for r in runs:
        q_, s_, c_ = r["queued_s"], r["started_s"], r["completed_s"]
        gaps += [q_[i] - c_[i - 1] for i in range(1, tasks)]
        dispatch += [s_[i] - q_[i] for i in range(tasks)]
        execution += [c_[i] - s_[i] for i in range(tasks)]
    median = statistics.median(totals)
    mean = statistics.fmean(totals)
    return {
        "tasks": tasks,
        "runs": len(runs),
        "median_total_s": round(median, 3),
        "min_total_s": round(min(totals), 3),
        "max_total_s": round(max(totals), 3),
        # coefficient of variation of the totals (sample stdev / mean); None under 2 runs
        "cv_total": round(statistics.stdev(totals) / mean, 3) if len(totals) > 1 and mean else None,
        "probe_s_per_task": round(median / tasks, 4),
        "median_gap_s": round(statistics.median(gaps), 4),
        "median_dispatch_s": round(statistics.median(dispatch), 4),
        "median_execution_s": round(statistics.median(execution), 4),
    }


def shape_entry(
    measured: list[dict[str, Any]],
    shape: Shape,
    profile: str,
    settings: dict[str, Any],
    method: str,
    **extra: Any,
) -> dict[str, Any]:
    """One profile x shape entry as every probe's ``measure`` returns it: the figures of
    its measured runs (``probe_summary``), the profile, its settings, the probe's
    ``method`` line, when it was measured (now, unless ``extra`` says), anything else the
    probe keeps (``extra``) and the runs themselves (``raw``)."""
    return {
        **probe_summary(measured, shape.tasks),
        "profile": profile,
        "profile_settings": settings,
        "method": method,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(),
        **extra,
        "raw": measured,
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


@dataclass(frozen=True)
class Shape:
    """One probe workload: ``tasks`` sequential tasks, each computing ``fibo(fibo_n)``."""

    name: str
    tasks: int
    fibo_n: int

    @property
    def expected(self) -> int:
        """What every task must return (the probes check it, as windmill does)."""
        return fibo(self.fibo_n)


def fibo(n: int) -> int:
    """windmill-benchmarks' task body: naive recursive Fibonacci."""
    return n if n <= 1 else fibo(n - 1) + fibo(n - 2)


# windmill-benchmarks' two flows (competitors/README.md): 40 x fibo(10), 10 x fibo(33).
SHORT = Shape("40x_fibo10", 40, 10)
LONG = Shape("10x_fibo33", 10, 33)
SHAPES: dict[str, Shape] = {s.name: s for s in (SHORT, LONG)}

# measure(profile, shapes, runs, warmup) -> {shape name: entry}; the entry is
# probe_summary(...) plus the probe's own fields (profile_settings, method, raw, ...)
Measure = Callable[[str, Sequence[Shape], int, int], dict[str, dict[str, Any]]]


def probe_entry(path: Path, profile: str, shape: str = SHORT.name) -> dict[str, Any] | None:
    """One profile x shape entry of ``results/overhead/<system>.json`` without its raw
    runs, or None. The file is ``{profile: {shape: entry}}``; a file written before the
    shapes existed holds ``{profile: entry}`` for the short shape."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    by_shape = data.get(profile) if isinstance(data, dict) else None
    if not isinstance(by_shape, dict):
        return None
    if "probe_s_per_task" in by_shape:  # the layout before shapes: the short shape
        entry = by_shape if shape == SHORT.name else None
    else:
        entry = by_shape.get(shape)
    if not isinstance(entry, dict):
        return None
    return {k: v for k, v in entry.items() if k != "raw"}


UNMEASURED = "unmeasured"  # {profile: {"unmeasured": reason}} in a results file


def unmeasured_reasons(path: Path) -> dict[str, str]:
    """The profiles ``results/overhead/<system>.json`` declares unprobed, with why."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        p: str(v[UNMEASURED])
        for p, v in data.items()
        if isinstance(v, dict) and isinstance(v.get(UNMEASURED), str)
    }


def probe_main(
    system: str,
    profiles: Sequence[str],
    measure: Measure,
    runner_of: Callable[[str], Any],
    out: Path,
    argv: list[str] | None = None,
    doc: str | None = None,
    prog: str | None = None,
    unmeasured: Mapping[str, str] | None = None,
) -> int:
    """The command line every probe shares (``python -m runners.<name>.overhead``).

    ``system`` names the results file's system (``out`` is usually
    ``results/overhead/<system>.json``); a folder holding two runners (cron and
    cron-hardened) gives each its own ``prog``. Measures each asked profile x shape with
    ``measure`` and merges the stamped entries
    into ``out`` (``{profile: {shape: entry}}``; other profiles and shapes are kept),
    writing after each profile so a later failure keeps what was measured. The runner's
    other profiles are ``unmeasured``, each with the reason it has no probe (it would
    repeat one of ``profiles``, or read back what a rule fixes); the file records them
    as ``{profile: {"unmeasured": reason}}`` so the report can say why they have no
    figure. An unknown profile or shape, or an unmeasured
    profile asked for, is one error line each and exit 2, before anything runs.
    """
    from orchbench.rundir import write_json

    prog = prog or f"python -m runners.{system}.overhead"
    ap = argparse.ArgumentParser(prog=prog, description=doc)
    ap.add_argument("--profiles", default=",".join(profiles))
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", type=Path, default=out)
    args = ap.parse_args(argv)
    asked = [p for p in args.profiles.split(",") if p]
    shape_names = [s for s in args.shapes.split(",") if s]
    skipped = dict(unmeasured or {})
    if both := sorted(set(profiles) & set(skipped)):
        raise ValueError(f"{system}: {', '.join(both)} both probed and unmeasured")
    errors = [
        f"error: profile {p!r} is not probed: {skipped[p]}"
        if p in skipped
        else f"error: no profile {p!r} (one of {', '.join(profiles)})"
        for p in asked
        if p not in profiles
    ]
    errors += [
        f"error: no shape {s!r} (one of {', '.join(SHAPES)})"
        for s in shape_names
        if s not in SHAPES
    ]
    if args.runs < 1:
        errors.append(f"error: --runs {args.runs}: at least 1")
    if args.warmup < 0:
        errors.append(f"error: --warmup {args.warmup}: at least 0")
    if errors or not asked or not shape_names:
        for e in errors or ["error: no profile or no shape asked"]:
            print(e, file=sys.stderr)
        return 2
    shapes = [SHAPES[s] for s in shape_names]
    results: dict[str, Any] = {}
    if args.out.is_file():
        results = json.loads(args.out.read_text())
    results.update({p: {UNMEASURED: reason} for p, reason in skipped.items()})
    for profile in asked:
        measured = measure(profile, shapes, args.runs, args.warmup)
        kept = results.get(profile)
        if not isinstance(kept, dict):
            by_shape = {}
        elif "probe_s_per_task" in kept:
            by_shape = {SHORT.name: kept}  # the file's layout before shapes
        else:  # its shapes, without a declaration that it was unmeasured
            by_shape = {k: v for k, v in kept.items() if k != UNMEASURED}
        runner = runner_of(profile)
        for name, entry in measured.items():
            by_shape[name] = stamp_probe(entry, runner)
            print(
                f"{system} {profile} {name}: {entry['probe_s_per_task'] * 1000:.0f} ms/task "
                f"(median total {entry['median_total_s']} s, gap {entry['median_gap_s']} s, "
                f"dispatch {entry['median_dispatch_s']} s, "
                f"execution {entry['median_execution_s']} s)",
                file=sys.stderr,
            )
        results[profile] = by_shape
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, results)
    print(args.out)
    return 0
