"""Did a refactoring change any outcome? Two result sets of the same matrix, side by side.

The rule a change that must not change outcomes is held to (issue 22): per scenario x
runner x profile, the *outcome* columns of every completed run are identical in both
sets (alerted, visible, stale executions, human actions, bad model deployed, final state
correct, recovered, each lineage fact; ``detected`` before run.json /4), and each
*timing* column's range after overlaps its range before (min-max over the repeats,
``orchbench.aggregate.spread``). Both sets are read
through ``orchbench.records`` (an older run.json through its migration).

Usage: ``python benchmarks/before_after.py OLD_RESULTS NEW_RESULTS`` prints a markdown
table (one row per cell) and exits 1 when an outcome differs.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from orchbench.aggregate import spread
from orchbench.records import SchemaError, read_run

OUTCOMES = (
    "alerted",
    "visible",
    "stale_executions",
    "human_actions",
    "bad_model_deployed",
    "final_state_correct",
    "recovered",
)
TIMINGS = ("total_wall_s", "alert_s", "visible_s", "wasted_cpu_s", "rerun_cpu_s")

Cell = tuple[str, str, str]


def load(root: Path) -> dict[Cell, list[dict[str, Any]]]:
    """Completed runs' metrics by (scenario, runner, profile); others are counted apart."""
    out: dict[Cell, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(root.glob("*/*/*/run.json")):
        try:
            run = read_run(path)
        except SchemaError as e:
            print(f"error: {e}", file=sys.stderr)
            continue
        cell = (run.scenario, run.runner, run.profile or "default")
        if run.status != "completed" or run.metrics is None:
            out[cell].append({"status": run.status})
            continue
        m = run.metrics.model_dump()
        out[cell].append({"status": run.status, **m})
    return out


def outcome(run: dict[str, Any]) -> tuple[Any, ...]:
    """The outcome columns of one run (status first; lineage facts rounded to 3 places)."""
    facts = run.get("lineage_by_fact") or {}
    lineage = tuple(sorted((k, round(v, 3)) for k, v in facts.items() if v is not None))
    return (run["status"], *(run.get(k) for k in OUTCOMES), lineage)


def _range(runs: list[dict[str, Any]], key: str) -> tuple[float, float] | None:
    s = spread(r.get(key) for r in runs)
    return None if s is None else (s.min, s.max)


def _fmt(r: tuple[float, float] | None) -> str:
    return "-" if r is None else f"{r[0]:.1f}-{r[1]:.1f}"


def compare(
    old: dict[Cell, list[dict[str, Any]]], new: dict[Cell, list[dict[str, Any]]]
) -> list[tuple[Cell, int, int, bool, str, list[str], bool]]:
    """Rows (cell, outcomes same?, differing outcome text, timing cells, timing overlap?)."""
    rows = []
    for cell in sorted(set(old) | set(new)):
        a, b = old.get(cell, []), new.get(cell, [])
        same = sorted(map(repr, map(outcome, a))) == sorted(map(repr, map(outcome, b)))
        diff = ""
        if not same:
            before = {repr(outcome(r)) for r in a}
            after = {repr(outcome(r)) for r in b}
            diff = f"before only {sorted(before - after)}; after only {sorted(after - before)}"
        timing = []
        overlap = True
        for key in TIMINGS:
            ra, rb = _range(a, key), _range(b, key)
            text = f"{_fmt(ra)} / {_fmt(rb)}"
            if ra and rb and (rb[1] < ra[0] or rb[0] > ra[1]):
                overlap = False
                text += " (apart)"
            timing.append(text)
        rows.append((cell, len(a), len(b), same, diff, timing, overlap))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/before_after.py")
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    args = ap.parse_args(argv)
    for d in (args.old, args.new):
        if not d.is_dir():
            ap.error(f"{d}: not a results directory")
    rows = compare(load(args.old), load(args.new))
    head = ["scenario", "runner", "runs", "outcomes", *(f"{t} (before / after)" for t in TIMINGS)]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (scenario, runner, profile), na, nb, same, diff, timing, _ in rows:
        name = runner if profile == "default" else f"{runner}/{profile}"
        verdict = "same" if same else f"**differ**: {diff}"
        print(f"| {scenario} | {name} | {na}/{nb} | {verdict} | " + " | ".join(timing) + " |")
    differ = sum(1 for r in rows if not r[3])
    apart = sum(1 for r in rows if not r[6])
    print(f"\n{len(rows)} cells: {differ} with a different outcome, {apart} with a timing apart")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
