"""KFP's orchestration overhead per task on kfp.local, measured the windmill-benchmarks way.

Two runners, one probe: ``kfp`` (``SubprocessRunner(use_venv=False)``: a process per task)
and ``kfp-docker`` (``DockerRunner``: a container per task, on the harness's own dockerd,
from the step image ``make image`` builds). Each shape of ``orchbench.overhead.SHAPES`` is
the probe's pipeline (``overhead_pipeline.py``: ``tasks`` sequential ``fibo_task`` tasks
chained with ``.after()``, caching off), compiled by the runner's interpreter (kfp-docker:
with the step image as the component's image, as the runner compiles its own pipeline).
Each run is one submission by the runner's own driver, ``python -m runners.kfp run`` (the
runner's ``kfp.local.init``: ``pipeline_root`` and workspace, ``raise_on_error``; with
``--docker`` and its arguments for kfp-docker), in its own process group, with a fresh
``pipeline_root`` under a temporary directory (``TMPDIR`` too: the lightweight
component's ``mktemp -d`` goes there). ``default`` and ``tuned`` deploy exactly the same:
kfp.local has no setting that changes its own overhead (``KfpRunner.profiles``);
``gpu-request`` is not an overhead profile (an accelerator request on the benchmarked
pipeline's ``train``, which kfp.local ignores) and is not probed.

kfp.local keeps no database, API or event store. What it records of a run: its console
output (log lines, each with its timestamp), the run directory
``pipeline_root/orchbench-overhead-<timestamp>/<task>/executor_output.json`` (each task's
output parameters, written by KFP's executor inside the task) and nothing else; no file
records a time but by its mtime (not used: the executor's log line records the same
moment). The times come from KFP's own log lines in the console output
(``native.parse_log``), never from a clock of ours:

- queued: kfp.local's ``Executing task 'X'`` (``kfp/local/task_dispatcher.py``, just before
  its task handler starts the task's process or container; kfp.local's logger, local time
  to the millisecond, ``logging_utils.MillisecondFormatter``);
- started: KFP's executor's ``Got executor_input`` (``kfp/dsl/executor_main.py``, logged
  from inside the task's process once the interpreter has started, imported kfp and loaded
  the component; ``[KFP Executor <asctime>]``, the task's local time, milliseconds), just
  before it calls the function;
- completed: kfp.local's ``Task 'X' finished with status SUCCESS``, after the task's
  process (container) exited.

So dispatch (queued to started) is a process start per task (kfp-docker: a container
start: kfp.local lists the daemon's images, creates and starts the container) plus
importing kfp; execution (started to completed) is the function, the executor writing
``executor_output.json``, the process's (container's) exit and kfp.local's wait for it;
the gap (completed to the next queued) is kfp.local reading the outputs and logging
them, then picking the next task. Each raw run also keeps ``output_written_s``, the
executor's ``Wrote executor output file`` line per task. A run's total is the last task's
completed minus the first task's queued; the driver's start and ``kfp.local.init`` are
before it. Checked as windmill does: the driver exited 0 with the pipeline ``SUCCESS``,
every task was executed once (no retry, no cache hit) and finished ``SUCCESS``, its
output parameter ``Output`` in its ``executor_output.json`` is ``shape.expected``, and
task ``i`` was queued after task ``i - 1`` completed. The kfp.local lines carry no date:
only the date comes from the driver's first line (``_say``, our driver's clock), and a
wrap past midnight is handled (``native.parse_log``).

    .venv/bin/python -m runners.kfp.overhead [--runner kfp|kfp-docker] [--profiles default,tuned]

writes ``results/overhead/kfp.json`` or ``results/overhead/kfp-docker.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchbench.card import source_literal
from orchbench.overhead import Shape, probe_main, shape_entry
from orchbench.procs import kill_group
from runners.kfp import native
from runners.kfp.__main__ import BASE_IMAGE_ENV
from runners.kfp.adapter import KfpRunner

REPO = Path(__file__).resolve().parents[2]
RUNNERS = ("kfp", "kfp-docker")
PROBED: dict[str, tuple[str, ...]] = {"kfp": ("default",), "kfp-docker": ("default",)}
_SAME = (
    "the same deployment as default: the kfp adapters read their profile only for "
    "gpu-request, and kfp.local has no setting that changes how it runs a task"
)
_GPU = (
    "it only adds an accelerator request on the benchmark pipeline's train, which kfp.local "
    "ignores; the probe's pipeline is default's, with no train"
)
UNMEASURED: dict[str, dict[str, str]] = {
    r: {"tuned": _SAME, "gpu-request": _GPU} for r in ("kfp", "kfp-docker")
}
PIPELINE_MODULE = "runners.kfp.overhead_pipeline"
PIPELINE_FILE = REPO / "runners" / "kfp" / "overhead_pipeline.py"
PIPELINE_NAME: str = source_literal(PIPELINE_FILE, "PIPELINE_NAME")
TASK = "fibo-task"  # the component's task names: fibo-task, fibo-task-2, ...
LOGICAL_DATE = "2026-01-01"  # the driver passes it; the probe's tasks do not use it
PROBE_RUN_ID = "overhead-probe"  # kfp-docker: the containers' label (the runner removes them)
RUN_TIMEOUT_S = 900.0
SOURCE = "windmill-labs/windmill-benchmarks competitors (fibonacci flows)"

STARTED = "Got executor_input"  # KFP's executor, inside the task's process
OUTPUT_WRITTEN = "Wrote executor output file"


def task_name(i: int) -> str:
    """The ``i``-th task's name (and run-directory folder), as KFP's compiler names them."""
    return TASK if i == 0 else f"{TASK}-{i + 1}"


def task_times(sub: native.Submission, values: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """One run's per-task timings (seconds from the first task's queued) from the driver's
    console output as ``native.parse_log`` read it, and each task's ``Output`` parameter
    from its ``executor_output.json`` (``values``: task -> value, None if absent). Raises
    AssertionError when a check fails (module docstring)."""
    run = sub.log.name
    if sub.state != "success":
        raise AssertionError(f"{run}: the pipeline run is {sub.state} ({sub.message})")
    names = [task_name(i) for i in range(shape.tasks)]
    execs: dict[str, list[int]] = {n: [] for n in names}
    done: dict[str, list[tuple[int, str]]] = {n: [] for n in names}
    started: dict[str, list[int]] = {n: [] for n in names}
    written: dict[str, list[int]] = {n: [] for n in names}
    for e in sub.events:
        if e.task is None:
            continue
        if e.task not in execs:
            raise AssertionError(f"{run}: unexpected task {e.task!r} ({e.kind})")
        if e.kind in ("hit", "upstream", "cond", "kill"):
            raise AssertionError(f"{run}: {e.task} has a {e.kind} record: not executed once")
        if e.kind == "exec":
            execs[e.task].append(e.t_ns)
        elif e.kind == "done":
            done[e.task].append((e.t_ns, str(e.detail.get("status"))))
        elif e.kind == "executor" and e.detail["message"].startswith(STARTED):
            started[e.task].append(e.t_ns)
        elif e.kind == "executor" and e.detail["message"].startswith(OUTPUT_WRITTEN):
            written[e.task].append(e.t_ns)
    q_, s_, c_, w_ = [], [], [], []
    for n in names:
        if len(execs[n]) != 1 or len(done[n]) != 1:
            raise AssertionError(
                f"{run}: {n} executed {len(execs[n])} times, finished {len(done[n])} times: "
                "not one success on the first try"
            )
        if done[n][0][1] != "SUCCESS":
            raise AssertionError(f"{run}: {n} finished with status {done[n][0][1]}")
        if len(started[n]) != 1:
            raise AssertionError(f"{run}: {n} has {len(started[n])} '{STARTED}' executor lines")
        if values.get(n) != shape.expected:
            raise AssertionError(
                f"{run}: {n} stored Output {values.get(n)!r}, expected {shape.expected}"
            )
        q, s, c = execs[n][0], started[n][0], done[n][0][0]
        if not q <= s <= c:  # the task's clock (its local time) against kfp.local's
            raise AssertionError(
                f"{run}: {n} queued/started/completed out of order ({q}, {s}, {c}): "
                "does the task's time zone differ from the driver's?"
            )
        q_.append(q)
        s_.append(s)
        c_.append(c)
        w_.append(written[n][0] if written[n] else None)
    for i in range(1, shape.tasks):  # sequential, as the pipeline says
        if q_[i] < c_[i - 1]:
            raise AssertionError(f"{run}: {names[i]} queued before {names[i - 1]} completed")
    t0 = q_[0]

    def rel(ts: list[int]) -> list[float]:
        return [round((t - t0) / 1e9, 3) for t in ts]

    return {
        "run": run,
        "total_s": round((max(c_) - t0) / 1e9, 3),
        "queued_s": rel(q_),
        "started_s": rel(s_),
        "completed_s": rel(c_),
        "output_written_s": [None if w is None else round((w - t0) / 1e9, 3) for w in w_],
    }


def read_values(pipeline_root: Path, shape: Shape) -> dict[str, Any]:
    """Each task's ``Output`` parameter from the run's ``executor_output.json`` files (the
    run directory kfp.local made under ``pipeline_root``; exactly one)."""
    dirs = sorted(pipeline_root.glob(f"{PIPELINE_NAME}-*"))
    if len(dirs) != 1:
        raise AssertionError(f"{pipeline_root}: {len(dirs)} run directories, expected 1")
    values: dict[str, Any] = {}
    for i in range(shape.tasks):
        out = native.executor_output(dirs[0], task_name(i))
        values[task_name(i)] = ((out or {}).get("parameterValues") or {}).get("Output")
    return values


def runner_of(system: str, profile: str) -> KfpRunner:
    """The runner adapter (``kfp`` or ``kfp-docker``) for ``profile``."""
    if system == "kfp-docker":
        from runners.kfp.docker_adapter import KfpDockerRunner

        return KfpDockerRunner(profile, REPO)
    return KfpRunner(profile, REPO)


def profile_settings(system: str) -> dict[str, Any]:
    """What the deployment sets that bears on the probe (the same for both profiles)."""
    runner = (
        "DockerRunner(network_mode=none), a container per task, the step image, the "
        "harness's dockerd"
        if system == "kfp-docker"
        else "SubprocessRunner(use_venv=False), a process per task"
    )
    return {
        "runner": runner,
        "caching": "off (set_caching_options(False) on every task)",
        "profiles": "default and tuned are the same deployment: kfp.local has no setting "
        "that changes its overhead",
    }


class Probe:
    """One profile of one runner deployed in ``tmp``: compiles the shapes' specs and runs
    submissions of them with the runner's driver."""

    def __init__(self, system: str, profile: str, tmp: Path) -> None:
        self.system = system
        self.runner = runner_of(system, profile)
        self.tmp = tmp
        self.n = 0

    def env(self) -> dict[str, str]:
        return self.runner.driver_env({"TMPDIR": str(self.tmp)})

    def compile(self, shape: Shape) -> Path:
        spec = self.tmp / f"{PIPELINE_NAME}-{shape.name}.yaml"
        env = self.env()
        if self.runner.base_image:  # kfp-docker: the step image, as the runner compiles
            env[BASE_IMAGE_ENV] = self.runner.base_image
        cmd = [str(self.runner.python()), "-m", PIPELINE_MODULE]
        cmd += ["--tasks", str(shape.tasks), "--fibo-n", str(shape.fibo_n), "--out", str(spec)]
        done = subprocess.run(
            cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"compiling the probe pipeline failed: {done.stderr[-1000:]}")
        return spec

    def submit(self, spec: Path, shape: Shape) -> dict[str, Any]:
        """One submission; its timings, checked."""
        self.n += 1
        root = self.tmp / f"pipeline_root-{self.n:02d}"
        log = self.tmp / f"kfp-submission-{self.n:02d}.log"
        cmd = [str(self.runner.python()), "-m", "runners.kfp", "run", "--spec", str(spec)]
        cmd += ["--logical-date", LOGICAL_DATE, "--pipeline-root", str(root)]
        if self.system == "kfp-docker":
            cmd += self.runner.docker_args(PROBE_RUN_ID, [], [], None)  # type: ignore[attr-defined]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=RUN_TIMEOUT_S)
            finally:
                kill_group(proc)  # nothing a submission started may outlive it
        if rc != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the driver exited {rc}; its output ends with:\n{tail}")
        return task_times(native.parse_log(log), read_values(root, shape), shape)


def measure_for(system: str):  # -> orchbench.overhead.Measure
    """``measure(profile, shapes, runs, warmup)`` for ``system``."""

    def measure(
        profile: str, shapes: Sequence[Shape], runs: int, warmup: int
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix=f"orchbench-{system}-overhead-") as tmp:
            probe = Probe(system, profile, Path(tmp))
            probe.runner.check_environment()
            try:
                probe.runner.start(Path(tmp) / "runner")  # kfp-docker: dockerd + image
                for shape in shapes:
                    spec = probe.compile(shape)
                    for _ in range(warmup):
                        probe.submit(spec, shape)
                    measured = [probe.submit(spec, shape) for _ in range(runs)]
                    out[shape.name] = shape_entry(
                        measured,
                        shape,
                        profile,
                        profile_settings(system),
                        (
                            f"{SOURCE}: {shape.tasks} sequential fibo({shape.fibo_n}) tasks, "
                            f"{warmup} warm-up + {runs} runs; KFP's own log lines "
                            "(queued: kfp.local 'Executing task'; started: KFP executor "
                            "'Got executor_input' in the task's process; completed: "
                            "kfp.local 'finished with status SUCCESS'), ms resolution; "
                            + (
                                "a container start per task"
                                if system == "kfp-docker"
                                else "a process start per task"
                            )
                        ),
                    )
                out_versions = probe.runner.versions()  # kfp-docker: while its daemon runs
            finally:
                probe.runner.stop()
        for entry in out.values():
            entry["versions"] = out_versions
        return out

    return measure


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--runner", choices=RUNNERS, default="kfp")
    known, rest = ap.parse_known_args(argv)
    system = known.runner
    if not (REPO / ".venvs" / "kfp" / "bin" / "python").is_file():
        print("error: .venvs/kfp is missing: run `make setup`", file=sys.stderr)
        return 2
    return probe_main(
        system,
        PROBED[system],
        measure_for(system),
        lambda profile: runner_of(system, profile),
        REPO / "results" / "overhead" / f"{system}.json",
        rest,
        doc=__doc__,
        prog=f"python -m runners.kfp.overhead --runner {system}",
        unmeasured=UNMEASURED[system],
    )


if __name__ == "__main__":
    sys.exit(main())
