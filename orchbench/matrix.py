"""The bench matrix: scenarios x runners x repeats, each runner's services started once.

``--resume`` skips (scenario, runner, profile) cells that already have ``repeat``
published runs and deletes temporary directories an interrupted bench left behind.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from orchbench import harness, rundir
from orchbench.scenario import load_scenario
from runners import RUNNERS

SCENARIO_DIR = harness.REPO_ROOT / "scenarios"
QUICK_SCENARIOS = ("clean", "schema_break", "transient_error")


def scenario_files(pattern: str | None = None, quick: bool = False) -> list[Path]:
    """Scenario files in ``scenarios/`` (not the schema), filtered by name glob or quick set."""
    files = sorted(p for p in SCENARIO_DIR.glob("*.yaml"))
    if quick:
        files = [p for p in files if p.stem in QUICK_SCENARIOS]
    if pattern:
        files = [
            p for p in files if fnmatch.fnmatch(p.stem, pattern) or fnmatch.fnmatch(str(p), pattern)
        ]
    return files


@dataclass
class Cell:
    scenario: Path
    runner: str
    profile: str
    done: int  # published runs already there


def plan_matrix(
    scenarios: Iterable[Path],
    runners: Iterable[str],
    profiles: Iterable[str],
    out_root: Path,
    resume: bool,
) -> list[Cell]:
    cells = []
    for r in runners:
        for prof in profiles:
            for s in scenarios:
                name = load_scenario(s).name
                done = len(rundir.completed_runs(out_root, name, r, prof)) if resume else 0
                cells.append(Cell(s, r, prof, done))
    return cells


def run_matrix(
    cells: list[Cell],
    repeat: int,
    out_root: Path,
    on_run: Callable[[Cell, int, str], None] | None = None,
    on_done: Callable[[Cell, Path], None] | None = None,
) -> list[Path]:
    """Run every missing repeat of every cell; one runner instance per (runner, profile)."""
    out_root = Path(out_root).resolve()
    published: list[Path] = []
    by_runner: dict[tuple[str, str], list[Cell]] = {}
    for c in cells:
        by_runner.setdefault((c.runner, c.profile), []).append(c)
    for (name, profile), group in by_runner.items():
        todo = [c for c in group if c.done < repeat]
        if not todo:
            continue
        runner = harness.make_runner(name, profile)
        try:
            try:
                runner.start(out_root / ".services" / f"{name}-{profile}")
            except Exception as e:
                # Failures are data: every run this runner owed is recorded as such.
                reason = f"{name} could not start: {type(e).__name__}: {e}"
                for c in todo:
                    for _ in range(c.done, repeat):
                        path = harness.record_unrun(c.scenario, runner, out_root, reason)
                        published.append(path)
                        if on_done:
                            on_done(c, path)
                continue
            for c in todo:
                for i in range(c.done, repeat):
                    if on_run:
                        on_run(c, i, "start")
                    path = harness.run_scenario(
                        c.scenario,
                        name,
                        profile,
                        out_root,
                        runner=runner,
                        on_phase=(lambda ph, c=c, i=i: on_run(c, i, ph)) if on_run else None,
                    )
                    published.append(path)
                    if on_done:
                        on_done(c, path)
        finally:
            runner.abort()
            runner.stop()
    return published


def all_runners() -> list[str]:
    return list(RUNNERS)
