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

from fault_injection import catalog
from fault_injection.scenario_faults import load_checked
from orchbench import harness, ownership, plugins, rundir
from orchbench.runner import SYSTEM

SCENARIO_DIR = harness.REPO_ROOT / "scenarios"
# The quick bench (``--quick``, ``make bench-quick``): a data fault and a transient one,
# each cut to the day of its last fault (``quick_copies``), on each runner's ``default``
# profile (the labelled extras are the full bench's). Day 1 of each is a fault-free day,
# so a separate ``clean`` adds a run, not an outcome. Its runs go to their own directory
# (``QUICK_OUT``): their figures cover fewer days and are not the full bench's. On the 2
# cores, 2026-12-07 21:24, a clean clone of 8ecf4e4 after its make test: 4 min 33 s for
# 18 runs (469 CPU-s, 87 % busy), against 9 min 38 s for the 3 whole scenarios before.
QUICK_SCENARIOS = ("schema_break", "transient_error")
QUICK_OUT = "results/quick"


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


def quick_copies(files: Iterable[Path], into: Path) -> list[Path]:
    """``files`` written into ``into``, each cut to the day of its last fault (at least
    one day): the days after it would run on the fault's leftovers until the fix, longer
    runs of what the fault day already shows. Names are kept, so the report's rules over
    ``schema_break`` and ``transient_error`` read them."""
    import yaml

    from orchbench.scenario import shortened

    out = []
    for f in files:
        data = yaml.safe_load(f.read_text())
        last = max((int(x["day"]) for x in data.get("faults") or []), default=1)
        copy = into / f.name
        copy.write_text(yaml.safe_dump(shortened(data, last), sort_keys=False))
        out.append(copy)
    return out


@dataclass
class Cell:
    scenario: Path
    runner: str
    profile: str
    done: int  # published runs already there
    days: int = 1  # the scenario's days: what splitting a runner's lanes balances
    system_fired: bool = False  # its dates are fired by the system's scheduler


# A scheduler-fired day lasts its runner's ``day_s`` of wall clock, a harness-fired one as
# long as its steps: about 3 harness-fired days each (Dagster 120 s against 24 s, a quiet
# `clean` of 3 days in 72 s, 2026-12-06; Airflow 30 s against 15 s, `make footprint`).
# Only balances split lanes, never a result.
SYSTEM_DAY_WEIGHT = 3.0


@dataclass(frozen=True)
class Lane:
    """One bench lane: ``scenarios`` (file stems) of one (runner, profile) in a process of
    its own; ``part`` is (i, n) when the group is split over n lanes (the plugin's
    ``lanes``), None when one lane runs all of it."""

    runner: str
    profile: str
    scenarios: tuple[str, ...]
    cost_s: float  # expected seconds: only the order lanes start in
    part: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        base = f"{self.runner}/{self.profile}"
        return base if self.part is None else f"{base} [{self.part[0]}/{self.part[1]}]"


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
                scenario = load_checked(s)
                name = scenario.name
                done = len(rundir.completed_runs(out_root, name, r, prof)) if resume else 0
                fired = catalog.scheduling(scenario) == SYSTEM
                cells.append(Cell(s, r, prof, done, scenario.days, fired))
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


def lanes_of(runner: str) -> int:
    """How many lanes of one (runner, profile) may run at once (its plugin's ``lanes``)."""
    p = plugins.all_plugins().get(runner)
    return p.lanes if p else 1


def _weight(c: Cell, repeat: int) -> float:
    days = c.days * (SYSTEM_DAY_WEIGHT if c.system_fired else 1.0)
    return days * (repeat - c.done)


def lane_order(cells: list[Cell], repeat: int) -> list[Lane]:
    """The lanes of the (runner, profile) groups with runs to do, longest group first and,
    within a group, longest lane first: a split group's lanes start before the lanes of
    any group expected shorter than the whole of it (the make bench of 2026-12-06 20:57,
    ordered by lane alone, started Dagster's third lane 22 min in, after Prefect's whole
    lane, and it ended at 49 min of the bench's 52).

    A group whose runner allows n > 1 lanes is split into up to n lanes, one per
    scenario at least: each scenario (all its repeats) goes to the lane with the least
    weight so far, heaviest first, so the lanes are as even as they can be; a scenario
    weighs its days, a scheduler-fired day ``SYSTEM_DAY_WEIGHT`` times."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for c in cells:
        if c.done < repeat:
            groups.setdefault((c.runner, c.profile), []).append(c)
    lanes: list[Lane] = []
    for (runner, profile), todo in groups.items():
        per_run = cost_hint_s(runner)
        n = min(lanes_of(runner), len(todo))
        parts: list[list[Cell]] = [[] for _ in range(n)]
        weight = [0.0] * n
        for c in sorted(todo, key=lambda c: (-_weight(c, repeat), c.scenario.stem)):
            i = weight.index(min(weight))
            parts[i].append(c)
            weight[i] += _weight(c, repeat)
        for i, part in enumerate(parts, start=1):
            runs = sum(repeat - c.done for c in part)
            lanes.append(
                Lane(
                    runner,
                    profile,
                    tuple(sorted(c.scenario.stem for c in part)),
                    runs * per_run,
                    (i, n) if n > 1 else None,
                )
            )
    total: dict[tuple[str, str], float] = {}
    for lane in lanes:
        group = (lane.runner, lane.profile)
        total[group] = total.get(group, 0.0) + lane.cost_s
    return sorted(lanes, key=lambda g: (-total[(g.runner, g.profile)], -g.cost_s))


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
    queue.sort(key=lambda g: runner_class(g.runner).exclusive)
    running: dict[str, subprocess.Popen[bytes]] = {}
    worst = 0
    try:
        while queue or running:
            while queue and len(running) < jobs:
                lane = queue[0]
                alone = runner_class(lane.runner).exclusive
                if alone and running:
                    break  # wait until the machine is free
                queue.pop(0)
                lanes = 1 if alone else jobs
                env = {**os.environ, rundir.ENV_PLAIN_PROGRESS: "1"}
                env[rundir.ENV_BENCH_JOBS] = str(lanes)
                cmd = [sys.executable, "-m", "orchbench", "bench", "--runners", lane.runner]
                cmd += ["--profiles", lane.profile, *shared_args]
                if lane.part is not None:  # the last --scenarios is the one argparse keeps
                    cmd += ["--scenarios", ",".join(lane.scenarios)]
                print(f"lane: {lane.key} started", file=sys.stderr, flush=True)
                running[lane.key] = subprocess.Popen(
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
