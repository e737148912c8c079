"""The conformance bench: every runner's conformance scenarios, one ``orchbench bench``.

``run_bench`` writes the short scenarios (``scenarios.py``) to a directory and runs them
on every runner the harness discovers (``orchbench.plugins``) whose environment is there,
with the default profile, through ``orchbench bench --scenario-dir ... --jobs JOBS``: one
service start per runner (a bench lane starts its runner once for all its runs), the
published runs in the session's results tree. What the properties need beyond the run
directories is taken while and right after the bench runs: which processes mentioning a
runner's run or service directories are still alive after its lane ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchbench import harness, plugins, rundir
from orchbench.runner import EnvironmentMissing
from tests.conformance import scenarios
from tests.integration.leftovers import processes_mentioning

PROFILE = "default"
# Bench lanes at once. On 2 cores two lanes keep both busy; cron runners are
# ``exclusive`` where no raised-weight CPU cgroup can be made and then run alone after
# the others (orchbench/matrix.py), whatever this says.
JOBS = 2
LEFTOVER_GRACE_S = 10.0  # a process being reaped when its lane exits


@dataclass
class Bench:
    """What one conformance bench left: run directories by (runner, scenario), the
    runners it could not run (with the reason), and processes left per runner."""

    out: Path
    runs: dict[tuple[str, str], Path] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    leftovers: dict[str, list[str]] = field(default_factory=dict)
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


def runner_names() -> list[str]:
    """Every runner the harness discovers (a new ``runners/<folder>`` is one more)."""
    return list(plugins.all_plugins())


def _environment_problem(name: str) -> str | None:
    try:
        harness.make_runner(name, PROFILE)
    except EnvironmentMissing as e:
        return str(e)
    return None


def _published(out: Path) -> set[Path]:
    return {p.parent for p in out.glob("*/*/*/run.json") if not p.parent.name.startswith(".")}


def run_bench(out: Path, scenario_dir: Path, jobs: int = JOBS) -> Bench:
    """Run the conformance scenarios on every available runner into ``out``."""
    bench = Bench(out=out)
    for name in runner_names():
        problem = _environment_problem(name)
        if problem:
            bench.unavailable[name] = problem
    names = [n for n in runner_names() if n not in bench.unavailable]
    if not names:
        return bench
    scenarios.write(scenario_dir)
    before = _published(out)
    cmd = [sys.executable, "-m", "orchbench", "bench", "--runners", ",".join(names)]
    cmd += ["--profiles", PROFILE, "--scenario-dir", str(scenario_dir), "--out", str(out)]
    cmd += ["--jobs", str(jobs)]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=harness.REPO_ROOT, capture_output=True, text=True, env={**os.environ}
    )
    bench.wall_s = time.monotonic() - t0
    bench.log = proc.stdout + proc.stderr
    for d in sorted(_published(out) - before):
        scenario, runner = d.parent.parent.name, d.parent.name
        bench.runs[(runner, scenario)] = d
    for name in names:
        needles = [str(d) for (r, _), d in bench.runs.items() if r == name]
        needles += [str(p) for p in (out / rundir.SERVICES_DIR).glob(f"{name}-{PROFILE}-*")]
        bench.leftovers[name] = _wait_gone(needles)
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
