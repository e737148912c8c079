"""The conformance bench: every runner's conformance scenarios, one bench lane each.

``run_bench`` writes the short scenarios (``scenarios.py``) to a directory and runs them
on every runner the harness discovers (``orchbench.plugins``) whose environment is there,
with the default profile: per runner one ``orchbench bench --scenario-dir ...`` in a
process of its own (``lane.py``), so one service start per runner, or its scenarios split
over the lanes its plugin allows (``lanes``), as ``orchbench bench --jobs`` splits them
(``orchbench.matrix.lane_order``); up to ``JOBS`` lanes at once; the runs are published in
the session's results tree. What the properties need beyond the run directories is taken
while and right after the bench runs: every second while a lane runs, its processes'
listeners beyond loopback (``listeners.py``: the lane process, its descendants, the
sessions they lead, and whatever mentions its run or service directories); after its
lane ended, which processes mentioning those directories are still alive (a lane's own:
its scenarios' run directories and its services directory, so a twin lane of the same
runner still running is not counted).

Unavailable runners (environment missing here) are not run; their tests skip with the
reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchbench import harness, matrix, plugins, rundir
from orchbench.runner import EnvironmentMissing
from tests.conformance import scenarios
from tests.integration.leftovers import processes_mentioning
from tests.integration.listeners import Procs, public_listeners

PROFILE = "default"
# Bench lanes at once. On 2 cores the runs wait on schedules, retry delays and timeouts
# as much as on the CPU: with three lanes (``make bench``'s default) the cores were 76 %
# busy over a conformance bench (67 % in its first 10 min, while Dagster's lanes wait out
# scheduler-fired days), and it took 20 min 42 s; with four, 18 min 47 s (2026-12-07,
# quiet machine, README "Known gaps"). Three again since 2026-12-07 18:00: when the
# machine ran a quarter slower (the same work 2053 CPU-s against 1651), two clean-clone
# CIs with four lanes failed on timing: a healthy ``train`` past ``hang``'s 6-s timeout
# on kfp and on Metaflow's retry (so a human had to act). A failing CI lands nothing.
# Cron runners are ``exclusive`` where no raised-weight CPU cgroup can be made and then
# run alone after the others (as orchbench/matrix.py's lanes do), whatever this says.
# Elsewhere their lanes are ``light`` (their plugin.py): one at a time runs beside the three,
# from the start, instead of taking a slot at the end (in the CI of c3f8e6c the two cron
# lanes, 3 min 33 s and 3 min 11 s, held slots from 13:40 to 20:14, the cores 23 % busy
# in its last minute alone).
# ``ORCHBENCH_CONFORMANCE_JOBS`` sets another number (to measure one).
JOBS_ENV = "ORCHBENCH_CONFORMANCE_JOBS"
JOBS = int(os.environ.get(JOBS_ENV) or 3)
LEFTOVER_GRACE_S = 10.0  # a process being reaped when its lane exits
SAMPLE_EVERY_S = 1.0  # listeners of each running lane; one /proc read serves them all


@dataclass
class Bench:
    """What one conformance bench left: run directories by (runner, scenario), the
    runners it could not run (with the reason), and processes left per runner."""

    out: Path
    runs: dict[tuple[str, str], Path] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    leftovers: dict[str, list[str]] = field(default_factory=dict)
    public: dict[str, set[str]] = field(default_factory=dict)  # listeners beyond loopback
    samples: dict[str, int] = field(default_factory=dict)  # listener samples per lane
    wall_s: float = 0.0
    log: str = ""

    def run_dir(self, runner: str, scenario: str) -> Path:
        """The run of ``scenario`` on ``runner``; skips the test when the runner's
        environment is missing here, fails when the bench published no run for it."""
        import pytest

        if runner in self.unavailable:
            pytest.skip(f"{runner}: {self.unavailable[runner]}")
        if (runner, scenario) not in self.runs:
            pytest.fail(f"no published run of {scenario} on {runner}:\n{self.log[-3000:]}")
        return self.runs[(runner, scenario)]


ONLY_ENV = "ORCHBENCH_CONFORMANCE_RUNNERS"  # comma-separated: run the suite on these alone


def runner_names() -> list[str]:
    """Every runner the harness discovers (a new ``runners/<folder>`` is one more), or the
    ones ``ORCHBENCH_CONFORMANCE_RUNNERS`` names (for work on one runner; CI sets none)."""
    found = list(plugins.all_plugins())
    only = [n.strip() for n in os.environ.get(ONLY_ENV, "").split(",") if n.strip()]
    if unknown := sorted(set(only) - set(found)):
        raise ValueError(f"{ONLY_ENV}: no runner named {', '.join(unknown)} (have {found})")
    return [n for n in found if n in only] if only else found


def _environment_problem(name: str) -> str | None:
    try:
        harness.make_runner(name, PROFILE)
    except EnvironmentMissing as e:
        return str(e)
    return None


def _published(out: Path) -> set[Path]:
    return {p.parent for p in out.glob("*/*/*/run.json") if not p.parent.name.startswith(".")}


def _needles(out: Path, lane: matrix.Lane, pid: int) -> list[str]:
    """What a process of ``lane`` (its process ``pid``) mentions: its scenarios' run
    directories (temporary ones too) or its services directory (``matrix.run_matrix``
    names it by the bench process: the lane's), followed by what can follow a path in a
    command line, the environment or a working directory below it (a bare prefix would
    also match a twin lane's whose pid starts with this one's)."""
    runs = [f"{out}/{scenario}/{lane.runner}/" for scenario in lane.scenarios]
    services = f"{out}/{rundir.SERVICES_DIR}/{lane.runner}-{PROFILE}-{pid}"
    return [*runs, *(services + end for end in ("/", " ", "\0"))]


def _lane(lane: matrix.Lane, scenario_dir: Path, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "tests.conformance.lane"]
    for ref in scenarios.setups():
        cmd += ["--setup", ref]
    cmd += ["--", "--runners", lane.runner, "--profiles", PROFILE]
    cmd += ["--scenarios", ",".join(lane.scenarios)]
    return [*cmd, "--scenario-dir", str(scenario_dir), "--out", str(out)]


def lanes(names: list[str], scenario_dir: Path) -> list[matrix.Lane]:
    """The lanes of ``names`` over the scenario files in ``scenario_dir``, in the order they
    start: longest expected first, ``exclusive`` runners last (as ``run_lanes``)."""
    files = matrix.scenario_files(directory=scenario_dir)
    with scenarios.set_up():  # a fault kind a test defines
        cells = matrix.plan_matrix(files, names, [PROFILE], scenario_dir, resume=False)
    order = matrix.lane_order(cells, repeat=1)
    return sorted(order, key=alone)


def alone(lane: matrix.Lane) -> bool:
    """A lane of an ``exclusive`` runner: it runs on an idle machine, nothing beside it."""
    return plugins.runner_class(lane.runner).exclusive


def light(lane: matrix.Lane) -> bool:
    """A lane of a ``light`` runner (``plugins.RunnerPlugin.light``) that need not run
    alone."""
    return plugins.plugin(lane.runner).light and not alone(lane)


def _next(
    queue: list[matrix.Lane], running: dict[matrix.Lane, subprocess.Popen[bytes]], jobs: int
) -> matrix.Lane | None:
    """The lane to start now, if any: an ``exclusive`` one only on an idle machine (and
    then nothing beside it); the first light lane while no light lane runs, in a slot of
    its own beside the ``jobs`` others; otherwise, while one of those is free, the first
    other lane, or the next light lane when no other waits."""
    if any(map(alone, running)):
        return None
    if queue and alone(queue[0]):
        return None if running else queue[0]
    lights = sum(map(light, running))
    if not lights and (first := next(filter(light, queue), None)):
        return first
    if len(running) - min(lights, 1) >= jobs or not queue:
        return None
    return next(filter(lambda lane: not light(lane), queue), queue[0])


def run_bench(out: Path, scenario_dir: Path, jobs: int = JOBS) -> Bench:
    """Run the conformance scenarios on every available runner into ``out``: one bench
    lane per runner, or the lanes its plugin allows (``lanes``: ``lane.py``, ``orchbench
    bench`` in a process of its own, its runner started once per lane), up to ``jobs`` at
    once, longest first (the runners' ``cost_s``), an ``exclusive`` runner alone, as
    ``orchbench bench --jobs`` orders them; one ``light`` lane at a time beside them."""
    bench = Bench(out=out)
    for name in runner_names():
        problem = _environment_problem(name)
        if problem:
            bench.unavailable[name] = problem
    scenarios.write(scenario_dir)
    queue = lanes([n for n in runner_names() if n not in bench.unavailable], scenario_dir)
    before = _published(out)
    env = {**os.environ, rundir.ENV_PLAIN_PROGRESS: "1"}
    logs = out.parent / f"{out.name}-lanes"
    logs.mkdir(exist_ok=True)
    running: dict[matrix.Lane, subprocess.Popen[bytes]] = {}
    width = jobs + int(any(map(light, queue)))  # the lanes that may run at once
    t0 = time.monotonic()
    try:
        while queue or running:
            while (lane := _next(queue, running, jobs)) is not None:
                queue.remove(lane)
                n = 1 if alone(lane) else width
                log_name = f"{lane.runner}-{PROFILE}"
                if lane.part is not None:
                    log_name += "-{}of{}".format(*lane.part)
                with (logs / f"{log_name}.log").open("wb") as log:
                    running[lane] = subprocess.Popen(
                        _lane(lane, scenario_dir, out),
                        cwd=harness.REPO_ROOT,
                        env={**env, rundir.ENV_BENCH_JOBS: str(n)},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
            procs = Procs.read()  # one read of /proc for every lane's sample
            for lane, proc in list(running.items()):
                name, needles = lane.runner, _needles(out, lane, proc.pid)
                if proc.poll() is not None:
                    del running[lane]
                    bench.leftovers.setdefault(name, []).extend(_wait_gone(needles))
                else:
                    found = public_listeners(*needles, root=proc.pid, procs=procs)
                    bench.public.setdefault(name, set()).update(map(str, found))
                    bench.samples[name] = bench.samples.get(name, 0) + 1
            time.sleep(SAMPLE_EVERY_S)
    finally:  # interrupted: each lane stops its runner and removes its partial run
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    bench.wall_s = time.monotonic() - t0
    bench.log = "\n".join(
        f"{p.name}:\n{p.read_text(errors='replace')[-1500:]}" for p in logs.glob("*.log")
    )
    for d in sorted(_published(out) - before):
        bench.runs[(d.parent.name, d.parent.parent.name)] = d
    return bench


def read_bench(out: Path) -> Bench:
    """A bench already run into ``out`` (the latest run of each runner and scenario), to
    check the properties again without running: ``ORCHBENCH_CONFORMANCE_RUNS=DIR``."""
    bench = Bench(out=out, log=f"read from {out}")
    for name in runner_names():
        problem = _environment_problem(name)
        if problem:
            bench.unavailable[name] = problem
    for d in sorted(_published(out), key=lambda p: p.name):
        bench.runs[(d.parent.name, d.parent.parent.name)] = d
    for name in runner_names():
        bench.leftovers[name] = _wait_gone(
            [str(d) for (r, _), d in bench.runs.items() if r == name]
        )
    return bench


def _wait_gone(needles: list[str]) -> list[str]:
    if not needles:
        return []
    end = time.monotonic() + LEFTOVER_GRACE_S
    while (left := processes_mentioning(*needles)) and time.monotonic() < end:
        time.sleep(0.2)
    return left
