"""Prefect's orchestration overhead per task, measured the windmill-benchmarks way.

Method (windmill-labs/windmill-benchmarks, ``competitors``): per shape of
``orchbench.overhead.SHAPES`` (40 sequential ``fibo(10)`` tasks; 10 sequential
``fibo(33)`` tasks), flow runs of one flow (``overhead_flow.py``) with the shape's task
count and fibo n as parameters and the shape's name in the flow run's name; one discarded
warm-up run, then 5 measured runs; every number comes from Prefect's own records read back
through its REST API (each task run's state history, ``/task_run_states``), never from a
wall clock in the harness. Each profile's services are started once and run both shapes,
the way the profile runs the daily flow (``PrefectRunner.start``: the server, and on
``pool`` PostgreSQL, the work pool and its two workers):

- ``default``, ``tuned``: a ``flow.serve()`` process serving the probe's deployment
  (``serve.ServeProcess``, polling every 1 s as the runner's); each run is a flow run of
  it created over the API (``POST /deployments/{id}/create_flow_run``);
- ``pool``: the probe deployed on the pool (``flow.from_source(...).deploy``); each run a
  flow run of it created over the API, executed by a process worker;
- ``script``: each run a bare ``python -m runners.prefect.overhead_flow`` process.

Definitions. Prefect 3 runs a flow's tasks inside the flow-run process; each task run
proposes its states from there and the server records them (through events) with the
timestamp the flow process gave them:

- queued: the task run's ``Pending`` state (the task run created, when the flow code
  calls the task);
- started: its ``Running`` state (inputs resolved, the transaction and cache policy set
  up, the ``Running`` state proposed);
- completed: its ``Completed`` state (the function ran, its result persisted as a JSON
  file, ``Completed`` proposed).

So the per-task figure includes what the flow process does per task (state proposals,
event emission, result persistence, the log lines sent to the API when that is on) but no
process start, no polling and no scheduler: none of those happen per task in Prefect. A
run's total is the last task's completed minus the first task's queued; the flow run's own
dispatch (created, picked up by the serve process or a worker, its process started) is
before the first task and not in it: each raw run keeps the flow run's state times
(``flow_run_s``, seconds from the first task's queued time) to show it. The figures
(``probe_s_per_task`` = median total / tasks, and the medians of gap, dispatch and
execution over all tasks) are ``orchbench.overhead.probe_summary``'s. Checked as windmill
does: every task run ``Completed`` (not ``Cached``) on its first run, returned the shape's
``fibo(n)`` (its persisted result), and task i started after task i-1 completed.

    .venv/bin/python -m runners.prefect.overhead [--profiles default,tuned,pool,script]

writes ``results/overhead/prefect.json`` (``orchbench.overhead.probe_main``). Prefect
itself runs only in ``.venvs/prefect`` (subprocesses); this module reads the API with
``urllib``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.overhead import Shape, probe_main, shape_entry
from orchbench.procs import kill_group
from runners.prefect import pool
from runners.prefect.adapter import BASE_SERVER_ENV, PROFILES, PrefectRunner
from runners.prefect.modes import POLL_S
from runners.prefect.native import ts_ns
from runners.prefect.serve import ServeProcess

if TYPE_CHECKING:
    from runners.prefect.server import Api

MODULE = "runners.prefect.overhead_flow"
FLOW_NAME = "orchbench-overhead"  # overhead_flow.FLOW_NAME (that module imports prefect)
DEPLOYMENT = "orchbench-overhead"
REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "results" / "overhead" / "prefect.json"
METHOD = (
    "Prefect's own task-run state timestamps (REST API): queued = Pending, started = "
    "Running, completed = Completed; the tasks run in the flow-run process (no process "
    "start or polling per task)"
)
RUNS_AS = {
    "default": "flow run of a flow.serve() deployment, created over the API",
    "tuned": "flow run of a flow.serve() deployment, created over the API",
    "pool": "flow run of a deployment on the process work pool (2 workers, --limit 1)",
    "script": "bare script: python -m runners.prefect.overhead_flow",
}
TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
RUN_TIMEOUT_S = 300.0
RECORDS_TIMEOUT_S = 60.0


class ProbeError(AssertionError):
    """Prefect's records of a probe run fail a check (or never became complete)."""


def task_name(i: int) -> str:
    return f"task_{i:02d}"


def probe_run(
    task_runs: list[dict[str, Any]],
    states: Mapping[str, list[dict[str, Any]]],
    value_of: Callable[[dict[str, Any]], Any],
    shape: Shape,
) -> dict[str, Any]:
    """One run's timings from Prefect's records, checked.

    ``task_runs`` are the flow run's task runs (``/task_runs/filter``), ``states`` each
    one's state history by id (``/task_run_states``), ``value_of`` reads a ``Completed``
    state's persisted result. Returns ``total_s`` and, per task in name order,
    ``queued_s``/``started_s``/``completed_s`` (the ``Pending``, ``Running``,
    ``Completed`` state timestamps, seconds from the first task's ``Pending``). Raises
    ``ProbeError`` unless there are exactly ``task_00``..``task_<shape.tasks - 1>``, each
    ``Completed`` on its first run with one ``Running`` state and ``shape.expected`` as
    its value, and each started after the previous one completed.
    """
    steps, expected = shape.tasks, shape.expected  # once: fibo(33) takes about a second
    by_name = {t.get("name"): t for t in task_runs}
    names = [task_name(i) for i in range(steps)]
    if len(task_runs) != steps or set(by_name) != set(names):
        raise ProbeError(f"expected task runs {names[0]}..{names[-1]}, got {sorted(by_name)}")
    queued: list[int] = []
    started: list[int] = []
    ended: list[int] = []
    for name in names:
        t = by_name[name]
        history = sorted(states.get(t["id"], []), key=_ts)
        kinds = [s.get("type") for s in history]
        final = history[-1] if history else {}
        if (
            t.get("run_count") != 1
            or kinds.count("RUNNING") != 1
            or final.get("type") != "COMPLETED"
            or final.get("name") != "Completed"
            or "PENDING" not in kinds
        ):
            raise ProbeError(
                f"{name}: states {[s.get('name') for s in history]}, run_count "
                f"{t.get('run_count')} (expected Pending, Running, Completed on run 1)"
            )
        value = value_of(final)
        if value != expected:
            raise ProbeError(
                f"{name} returned {value!r}, expected {expected!r} "
                f"(its state's data: {final.get('data')!r})"
            )
        queued.append(_ts(history[kinds.index("PENDING")]))
        started.append(_ts(history[kinds.index("RUNNING")]))
        ended.append(_ts(final))
    for i in range(1, steps):  # sequential, as the flow says (windmill's validation)
        if started[i] < ended[i - 1]:
            raise ProbeError(f"{names[i]} started before {names[i - 1]} completed")
    t0 = queued[0]
    return {
        "total_s": (max(ended) - t0) / 1e9,
        "queued_s": [(v - t0) / 1e9 for v in queued],
        "started_s": [(v - t0) / 1e9 for v in started],
        "completed_s": [(v - t0) / 1e9 for v in ended],
    }


def _ts(state: dict[str, Any]) -> int:
    """A state's timestamp in nanoseconds; ``ProbeError`` if it has none."""
    t = ts_ns(state.get("timestamp"))
    if t is None:
        raise ProbeError(f"state {state.get('name')!r} has no timestamp")
    return t


def flow_run_marks(flow_states: list[dict[str, Any]], t0_s: float) -> dict[str, float]:
    """The first time the flow run entered each state name, in seconds from ``t0_s`` (the
    first task's queued time, epoch seconds): its dispatch before the first task."""
    out: dict[str, float] = {}
    for s in sorted(flow_states, key=lambda s: ts_ns(s.get("timestamp")) or 0):
        name, t = s.get("name"), ts_ns(s.get("timestamp"))
        if name and t is not None and name not in out:
            out[name] = round(t / 1e9 - t0_s, 4)
    return out


def persisted_value(state: dict[str, Any]) -> Any:
    """The value a ``Completed`` state's persisted JSON result holds (its ``data`` names
    the file: ``storage_key``); None when unreadable."""
    data = state.get("data")
    key = data.get("storage_key") if isinstance(data, dict) else None
    if not key:
        return None
    try:
        value = json.loads(Path(key).read_text()).get("result")
        return json.loads(value) if isinstance(value, str) else value
    except (OSError, ValueError, AttributeError):
        return None


class ProbeServe(ServeProcess):
    """``python -m runners.prefect.overhead_flow --serve NAME``: the probe's ``flow.serve``."""

    module = MODULE
    flow_name = FLOW_NAME


class Probe:
    """The probe flow on one profile's deployment of Prefect (``PrefectRunner.start``)."""

    def __init__(self, profile: str, home: Path) -> None:
        self.profile = profile
        self.home = home
        self.runner: PrefectRunner = PrefectRunner(profile, REPO)
        self.serve: ServeProcess | None = None
        self.deployment_id: str | None = None
        self.results = home / "results"
        self.logs = home / "logs"

    @property
    def api(self) -> Api:
        assert self.runner.api is not None
        return self.runner.api

    def run_env(self) -> dict[str, str]:
        """What a probe flow run needs on top of the runner's client environment (on pool,
        the flow run's ``env`` job variable): the profile's client settings, where results
        are persisted."""
        return {
            **PROFILES[self.profile]["client"],
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(self.results),
        }

    def env(self) -> dict[str, str]:
        """What the serve process and a script run run with."""
        return {**self.runner.client_env(), **self.run_env()}

    def start(self) -> None:
        self.runner.check_environment()
        self.runner.start(self.home)
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.profile in ("default", "tuned"):
            self.serve = ProbeServe(
                self.runner.python(),
                DEPLOYMENT,
                self.env(),
                self.logs / "serve.log",
                REPO,
                stack=f"{self.home}#serve-{uuid.uuid4().hex[:8]}",
            )
            self.deployment_id = self.serve.start(self.api)
        elif self.profile == "pool":
            self.deployment_id = pool.register_deployment(
                self.runner.python(),
                DEPLOYMENT,
                pool.POOL,
                self.runner.client_env(),
                REPO,
                module=MODULE,
            )

    def stop(self) -> None:
        if self.serve is not None:
            self.serve.stop()
            self.serve = None
        self.runner.stop()

    def start_run(self, shape: Shape, n: int) -> str:
        """Start flow run ``n`` of ``shape``, the profile's way; its id."""
        if self.profile == "script":
            return self._script_run(shape, n)
        body: dict[str, Any] = {
            "state": {"type": "SCHEDULED"},
            "name": run_name(shape, n),
            "parameters": {"tasks": shape.tasks, "fibo_n": shape.fibo_n},
            "tags": ["orchbench-overhead"],
        }
        if self.profile == "pool":
            body["job_variables"] = {"env": self.run_env()}
        run = self.api.post(f"deployments/{self.deployment_id}/create_flow_run", body)
        return str(run["id"])

    def _script_run(self, shape: Shape, n: int) -> str:
        name = run_name(shape, n)
        cmd = [str(self.runner.python()), "-m", MODULE, "--tag", "orchbench-overhead"]
        cmd += ["--tasks", str(shape.tasks), "--fibo-n", str(shape.fibo_n), "--name", name]
        with (self.logs / f"script-{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                env=self.env(),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
            try:
                out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
            finally:
                kill_group(proc, grace_s=0.0)
        lines = out.decode(errors="replace").strip().splitlines()
        try:
            return str(json.loads(lines[-1])["flow_run_id"])
        except (IndexError, ValueError, KeyError) as e:
            raise ProbeError(f"the probe script printed no flow run id: {lines[-3:]}") from e

    def await_run(self, flow_run_id: str) -> str:
        end = time.monotonic() + RUN_TIMEOUT_S
        while True:
            kind = str((self.api.get(f"flow_runs/{flow_run_id}").get("state") or {}).get("type"))
            if kind in TERMINAL:
                return kind
            if time.monotonic() > end:
                raise TimeoutError(f"flow run {flow_run_id} not final in {RUN_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)

    def read(
        self, flow_run_id: str, steps: int
    ) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        """The flow run's task runs and their state histories, once all ``steps`` task runs
        are final with Pending, Running and Completed recorded (the server records them
        from the flow process's events, so a little after the flow run is final), or as
        they stand after ``RECORDS_TIMEOUT_S`` (``probe_run`` then says what is missing)."""
        end = time.monotonic() + RECORDS_TIMEOUT_S
        while True:
            task_runs = self.api.post(
                "task_runs/filter",
                {"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200},
            )
            states = {
                t["id"]: self.api.get(f"task_run_states/?task_run_id={t['id']}") or []
                for t in task_runs
            }
            done = len(task_runs) == steps and all(
                t.get("state_type") in TERMINAL
                and {"PENDING", "RUNNING", "COMPLETED"} <= {s.get("type") for s in states[t["id"]]}
                for t in task_runs
            )
            if done or time.monotonic() > end:
                return task_runs, states
            time.sleep(0.5)

    def one_run(self, shape: Shape, n: int) -> dict[str, Any]:
        """Probe run ``n`` of ``shape``, awaited, read back and checked."""
        fid = self.start_run(shape, n)
        kind = self.await_run(fid)
        if kind != "COMPLETED":
            raise ProbeError(f"probe flow run {fid} ({run_name(shape, n)}) ended {kind}")
        task_runs, states = self.read(fid, shape.tasks)
        res = probe_run(task_runs, states, persisted_value, shape)
        queued0 = min(_ts(s) for h in states.values() for s in h if s.get("type") == "PENDING")
        flow_states = self.api.get(f"flow_run_states/?flow_run_id={fid}") or []
        return {"flow_run_id": fid, **res, "flow_run_s": flow_run_marks(flow_states, queued0 / 1e9)}

    def settings(self) -> dict[str, Any]:
        prof = PROFILES[self.profile]
        server = {k: v for k, v in self.runner.server_info.items() if k != "api_url"}
        server.pop("database_url", None)
        return {
            "server_env": {**BASE_SERVER_ENV, **prof["server"]},
            "client_env": dict(prof["client"]),
            "runs_as": RUNS_AS[self.profile],
            "task": "@task(task_run_name='task_{i:02d}', persist_result=True, "
            "result_serializer='json'), default cache policy, called as fibo_task(i, n)",
            "server": server,
        }


def run_name(shape: Shape, n: int) -> str:
    """The flow run's name: which shape, which run."""
    return f"overhead-{shape.name}-{n:02d}"


def measure(
    profile: str, shapes: Sequence[Shape], runs: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Start ``profile``'s services once, run each shape on them, stop them."""
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="orchbench-prefect-overhead-") as tmp:
        probe = Probe(profile, Path(tmp))
        try:
            probe.start()
            for shape in shapes:
                for i in range(warmup):
                    probe.one_run(shape, i)
                measured = [probe.one_run(shape, warmup + i) for i in range(runs)]
                out[shape.name] = shape_entry(measured, shape, profile, probe.settings(), METHOD)
        finally:
            probe.stop()
    return out


def runner_of(profile: str) -> PrefectRunner:
    return PrefectRunner(profile, REPO)


PROBED: dict[str, tuple[str, ...]] = {"prefect": tuple(PrefectRunner.profiles)}
UNMEASURED: dict[str, dict[str, str]] = {"prefect": {}}


def main(argv: list[str] | None = None) -> int:
    return probe_main(
        "prefect",
        PROBED["prefect"],
        measure,
        runner_of,
        OUT,
        argv,
        doc=__doc__,
        unmeasured=UNMEASURED["prefect"],
    )


if __name__ == "__main__":
    sys.exit(main())
