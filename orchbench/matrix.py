"""The bench matrix: scenarios x runners x repeats, each runner's services started once.

``--resume`` skips (scenario, runner, profile) cells that already have ``repeat``
published runs and deletes temporary directories an interrupted bench left behind.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fault_injection.scenario_faults import load_checked
from orchbench import harness, ownership, plugins, rundir

SCENARIO_DIR = harness.REPO_ROOT / "scenarios"
QUICK_SCENARIOS = ("clean", "schema_break", "transient_error")


def scenario_files(
    pattern: str | None = None, quick: bool = False, directory: Path = SCENARIO_DIR
) -> list[Path]:
    """Scenario files in ``directory`` (``scenarios/`` unless given; not the schema),
    filtered by the quick set and by ``pattern``: comma-separated globs over names or paths
    (``clean,transient_*``)."""
    files = sorted(p for p in Path(directory).glob("*.yaml"))
    if quick:
        files = [p for p in files if p.stem in QUICK_SCENARIOS]
    if pattern:
        globs = [g.strip() for g in pattern.split(",") if g.strip()]
        files = [
            p
            for p in files
            if any(fnmatch.fnmatch(p.stem, g) or fnmatch.fnmatch(str(p), g) for g in globs)
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
                name = load_checked(s).name
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
        # one services directory per bench process: two benches on one results tree
        # never share a metadata DB or a daemon's files
        services = out_root / rundir.SERVICES_DIR / f"{name}-{profile}-{os.getpid()}"
        services.mkdir(parents=True, exist_ok=True)
        ownership.mark(services)
        try:
            try:
                runner.start(services)
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
    return list(plugins.all_plugins())


def cost_hint_s(runner: str) -> float:
    """Rough seconds per run (the runner's ``cost_s`` in its ``plugin.py``): only the order
    lanes take runners in (longest first), never a result."""
    p = plugins.all_plugins().get(runner)
    return p.cost_s if p else plugins.DEFAULT_COST_S


def lane_order(cells: list[Cell], repeat: int) -> list[tuple[str, str, float]]:
    """(runner, profile, expected seconds) of the groups with runs to do, longest first."""
    todo: dict[tuple[str, str], int] = {}
    for c in cells:
        if c.done < repeat:
            todo[(c.runner, c.profile)] = todo.get((c.runner, c.profile), 0) + repeat - c.done
    groups = [(r, p, n * cost_hint_s(r)) for (r, p), n in todo.items()]
    return sorted(groups, key=lambda g: -g[2])


def _term_when_parent_dies(parent: int) -> None:
    """In a lane, before exec: SIGTERM when the bench that started it dies, even by
    SIGKILL (prctl PR_SET_PDEATHSIG); the lane then stops its runner like on Ctrl-C."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def run_lanes(cells: list[Cell], repeat: int, jobs: int, shared_args: list[str]) -> int:
    """Bench up to ``jobs`` (runner, profile) groups at once, each as its own ``orchbench
    bench --runners R --profiles P`` process (its services, logs and Ctrl-C handling are
    that process's own; a run directory is never shared). Runs of different systems then
    compete for the CPU: each run's ``env.json`` records ``bench_jobs`` (the lanes that
    could run beside it) so a report can say its timings were taken under that load.
    ``exclusive`` runners (cron where no raised-weight CPU cgroup can be made, see
    ``orchbench/crond/cpu_group.py``) run after the others, one at a time, alone, with
    ``bench_jobs`` 1. Returns the worst lane exit code."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from orchbench.plugins import runner_class

    queue = lane_order(cells, repeat)
    # exclusive runners go last, each alone (see Runner.exclusive)
    queue.sort(key=lambda g: runner_class(g[0]).exclusive)
    running: dict[str, subprocess.Popen[bytes]] = {}
    worst = 0
    try:
        while queue or running:
            while queue and len(running) < jobs:
                name, profile, _ = queue[0]
                alone = runner_class(name).exclusive
                if alone and running:
                    break  # wait until the machine is free
                queue.pop(0)
                lanes = 1 if alone else jobs
                env = {**os.environ, rundir.ENV_PLAIN_PROGRESS: "1"}
                env[rundir.ENV_BENCH_JOBS] = str(lanes)
                cmd = [sys.executable, "-m", "orchbench", "bench", "--runners", name]
                cmd += ["--profiles", profile, *shared_args]
                print(f"lane: {name}/{profile} started", file=sys.stderr, flush=True)
                running[f"{name}/{profile}"] = subprocess.Popen(
                    cmd, env=env, preexec_fn=functools.partial(_term_when_parent_dies, os.getpid())
                )
                if alone:
                    break
            for key, proc in list(running.items()):
                rc = proc.poll()
                if rc is not None:
                    print(f"lane: {key} finished ({rc})", file=sys.stderr, flush=True)
                    worst = max(worst, rc)
                    del running[key]
            time.sleep(0.5)
    except KeyboardInterrupt:
        # Ctrl-C reached the lanes too (same process group); SIGTERM covers a SIGTERM sent
        # to this process alone. Each lane stops its runner and removes its partial run.
        for proc in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in running.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    return worst
