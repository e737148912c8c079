"""Metaflow's orchestration overhead per task, measured the windmill-benchmarks way.

Each shape (``orchbench.overhead.SHAPES``: 40 sequential ``fibo(10)`` tasks, 10 sequential
``fibo(33)`` tasks) is a flow of that many steps in one linear chain, each step computing
``fibo(n)`` and keeping it as ``self.value`` (``overhead_flow.py`` writes the flow file:
Metaflow fixes a flow's steps when its class is written). Per profile and shape: warm-up
runs, discarded, then the measured runs, one after another, each run as the runner's
scenario runs run the benchmarked flow (``adapter.MetaflowRunner``): ``.venvs/metaflow``'s
python runs ``<flow file> run --run-id-file F`` in its own process group, cwd the work
directory, with the runner's environment (``adapter.local_env``: the local runtime, the
local datastore and the local metadata under a temporary directory, a user and a HOME
there). Not passed: the shared step wrapper's settings and the benchmarked flow's policy
(``ORCHBENCH_MF_*``): the probe's steps are plain ``@step``s, no ``@retry``/``@timeout``.

Every time comes from Metaflow's own records, the files its local metadata provider
writes (``<datastore>/<flow>/<run>/<step>/<task>/_meta``), read back through the Client API
in ``.venvs/metaflow`` (``client.probe_runs``); each is a ``ts_epoch`` in milliseconds
(metaflow 2.19 source: ``runtime.py``, ``task.py``, ``datastore/task_datastore.py``,
``client/core.py``). Per task:

- queued: ``Task.created_at``, the task's ``_self.json``: the runtime process registers
  the task (``new_task_id``) when it takes it off its run queue, just before it starts
  the task's process (``runtime.NativeRuntime._launch_workers``);
- started: the task's ``attempt`` metadata for attempt 0, written by the task's own
  process once it has started (a new interpreter importing Metaflow and the flow file,
  the step command parsed, its output datastore and inputs initialised), before the
  step's code runs (``MetaflowTask.run_step``); Metaflow itself takes this record as an
  attempt's start;
- completed: ``Task.finished_at``, the time Metaflow registered the ``_task_ok``
  artifact: after the step's code, its artifacts' pickling and the ``attempt_ok`` record,
  when the task process marks the attempt done (``TaskDataStore.done``).

Each Metaflow task is its own process: the runtime starts ``python <flow file> step ...``
for every task, so dispatch (queued to started) is mostly that process's start. Execution
(started to completed) is the step's code and the saving of its artifacts and records.
The gap (one task's completed to the next one's queued) is the task process's exit, the
runtime noticing it (it polls the task's pipes, woken by their closing) and queueing the
next step. A run's total is the last task's completed minus the first (``start``) task's
queued: the runtime's own start (interpreter, imports, graph check, the run's registration
and its ``_parameters`` task) is before it; each raw run keeps those times
(``run_events_s``). Checked as windmill does: the run finished and succeeded; each step has
one task, done on its first attempt (one ``attempt`` record, 0, and ``attempt_ok`` True);
its ``value`` artifact, read back through the Client, is ``fibo(n)``; and task ``i``
started after task ``i - 1`` completed. Figures: ``orchbench.overhead.probe_summary``.

    .venv/bin/python -m runners.metaflow.overhead [--profiles default] [--shapes ...]

writes ``results/overhead/metaflow.json`` (``{profile: {shape: entry}}``, others kept).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchbench.overhead import Shape, probe_main, shape_entry
from orchbench.procs import kill_group
from runners.metaflow.adapter import MetaflowRunner, _clean_env, local_env
from runners.metaflow.overhead_flow import flow_name, flow_source, step_names
from runners.metaflow.plugin import PLUGINS

REPO = Path(__file__).resolve().parents[2]
SYSTEM = PLUGINS[0].name
PROBED: dict[str, tuple[str, ...]] = {SYSTEM: tuple(PLUGINS[0].profiles)}
UNMEASURED: dict[str, dict[str, str]] = {SYSTEM: {}}
OUT = REPO / "results" / "overhead" / f"{SYSTEM}.json"
SOURCE = "windmill-labs/windmill-benchmarks competitors"
RUN_TIMEOUT_S = 600.0
READ_TIMEOUT_S = 300.0


class ProbeError(AssertionError):
    """Metaflow's records of a probe run fail one of windmill's checks."""


def task_times(record: dict[str, Any], steps: list[str], expected: int) -> dict[str, Any]:
    """One run's per-task times (seconds from the first task's queued) from its Client API
    record (``client.probe_runs``), checked (module docstring); raises ``ProbeError``."""
    rid = record.get("run_id")
    if not (record.get("finished") and record.get("successful")):
        raise ProbeError(
            f"run {rid}: finished {record.get('finished')}, successful {record.get('successful')}"
        )
    by_step = record.get("steps") or {}
    if set(by_step) != set(steps):
        raise ProbeError(f"run {rid}: steps {sorted(by_step)}, expected {steps[0]}..{steps[-1]}")
    queued: list[float] = []
    started: list[float] = []
    completed: list[float] = []
    for step in steps:
        tasks = by_step[step]
        if len(tasks) != 1:
            raise ProbeError(f"run {rid}: {step} has {len(tasks)} tasks, expected 1")
        t = tasks[0]
        attempts = [a for a, _ in t.get("attempts") or []]
        oks = [v for v, _ in t.get("attempt_ok") or []]
        if (
            t.get("current_attempt") != 0
            or attempts != ["0"]
            or oks != ["True"]
            or not (t.get("finished") and t.get("successful"))
        ):
            raise ProbeError(
                f"run {rid}: {step} attempts {attempts}, attempt_ok {oks}, current attempt "
                f"{t.get('current_attempt')}, successful {t.get('successful')}: "
                "not a success on its first attempt"
            )
        if t.get("value") != expected:
            raise ProbeError(f"run {rid}: {step} value {t.get('value')!r}, expected {expected}")
        q, s, c = t.get("created"), t["attempts"][0][1], t.get("finished_at")
        if q is None or s is None or c is None:
            raise ProbeError(f"run {rid}: {step} lacks a created, attempt or finished time")
        queued.append(q)
        started.append(s)
        completed.append(c)
    for i in range(1, len(steps)):  # sequential, as the flow says (windmill's validation)
        if started[i] < completed[i - 1]:
            raise ProbeError(f"run {rid}: {steps[i]} started before {steps[i - 1]} completed")
    t0 = queued[0]
    params = record.get("parameters") or {}
    events = {
        "run_created": record.get("created"),
        "parameters_created": params.get("created"),
        "parameters_finished": params.get("finished_at"),
        "run_finished": record.get("finished_at"),
    }
    return {
        "run_id": rid,
        "total_s": round(max(completed) - t0, 3),
        "queued_s": [round(v - t0, 3) for v in queued],
        "started_s": [round(v - t0, 3) for v in started],
        "completed_s": [round(v - t0, 3) for v in completed],
        "run_events_s": {k: round(v - t0, 3) for k, v in events.items() if v is not None},
    }


def profile_settings(profile: str) -> dict[str, Any]:
    """What the profile sets that bears on the probe (the report shows it as k=v)."""
    return {
        "runtime": "local (one process per task)",
        "datastore": "local",
        "metadata": "local",
        "steps": "plain @step (no @retry, no @timeout)",
    }


def run_flow(python: Path, flow: Path, env: dict[str, str], home: Path, log: Path) -> str:
    """One run of ``flow``, as the runner runs a date (its own process group, cwd
    ``home``, output to ``log``); its Metaflow run id. Nothing it started outlives it."""
    ids = home / "run-ids"
    ids.mkdir(parents=True, exist_ok=True)
    id_file = ids / f"{len(list(ids.iterdir())) + 1:03d}"
    cmd = [str(python), str(flow), "run", "--run-id-file", str(id_file)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT_S)
        finally:
            kill_group(proc)
    if rc != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{flow.name} run exited {rc}:\n{tail}")
    return id_file.read_text().strip()


def read_runs(
    python: Path, env: dict[str, str], home: Path, flow: str, run_ids: list[str]
) -> list[dict[str, Any]]:
    """The runs' records through the Client API, in the metaflow venv."""
    res = subprocess.run(
        [str(python), "-m", "runners.metaflow", "probe-runs", flow, *run_ids],
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=READ_TIMEOUT_S,
        check=False,
        start_new_session=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"reading the probe's runs failed: {res.stderr[-2000:]}")
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def measure_shape(
    runner: MetaflowRunner, shape: Shape, runs: int, warmup: int, tmp: Path
) -> dict[str, Any]:
    """Warm-up and measured runs of the shape's flow; its entry."""
    home = tmp / "metaflow"  # as the runner's home(ctx): <work>/metaflow
    home.mkdir(parents=True, exist_ok=True)
    flow = tmp / "flows" / f"overhead_{shape.name}.py"
    flow.parent.mkdir(parents=True, exist_ok=True)
    flow.write_text(flow_source(shape.tasks, shape.fibo_n))
    env = {**_clean_env(), **local_env(home)}
    log = tmp / f"metaflow-{shape.name}.log"
    try:
        for _ in range(warmup):
            run_flow(runner.python(), flow, env, home, log)
        ids = [run_flow(runner.python(), flow, env, home, log) for _ in range(runs)]
        name = flow_name(shape.tasks, shape.fibo_n)
        records = read_runs(runner.python(), env, home, name, ids)
    except BaseException:
        if log.is_file():  # the temp dir goes with the failure: show the end of its log
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    read = [r.get("run_id") for r in records]
    if read != ids:
        raise ProbeError(f"asked Metaflow for runs {ids}, read {read}")
    steps = step_names(shape.tasks)
    measured = [task_times(r, steps, shape.expected) for r in records]
    return shape_entry(
        measured,
        shape,
        runner.profile,
        profile_settings(runner.profile),
        (
            f"{SOURCE}: {shape.tasks} sequential fibo({shape.fibo_n}) steps, {warmup} "
            f"warm-up + {runs} runs, Metaflow's local metadata through its Client API "
            "(queued Task.created_at, the runtime registering the task before starting its "
            "process; started the attempt-0 'attempt' metadata, written by the task's own "
            "process; completed Task.finished_at); a process per task; "
            "probe_s_per_task = median total / tasks"
        ),
    )


def runner_of(profile: str) -> MetaflowRunner:
    return MetaflowRunner(profile, REPO)


def measure(
    profile: str, shapes: Sequence[Shape], runs: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Each shape of ``profile`` in its own temporary directory."""
    runner = runner_of(profile)
    runner.check_environment()
    out: dict[str, dict[str, Any]] = {}
    for shape in shapes:
        with tempfile.TemporaryDirectory(prefix=f"orchbench-{SYSTEM}-overhead-") as tmp:
            out[shape.name] = measure_shape(runner, shape, runs, warmup, Path(tmp))
    return out


def main(argv: list[str] | None = None) -> int:
    return probe_main(
        SYSTEM,
        PROBED[SYSTEM],
        measure,
        runner_of,
        OUT,
        argv,
        doc=__doc__,
        unmeasured=UNMEASURED[SYSTEM],
    )


if __name__ == "__main__":
    sys.exit(main())
