"""ZenML's orchestration overhead per task, measured the windmill-benchmarks way.

Method (``orchbench.overhead``): per shape (``SHAPES``: 40 sequential ``fibo(10)`` steps,
10 sequential ``fibo(33)`` steps) one static ZenML pipeline of that many steps ordered by
``after=`` (``overhead_pipeline.py``), **caching off** (with ZenML's default every run
after the first would be a cache hit and run no step); warm-up runs discarded, then the
measured runs. Each profile is deployed as the runner's scenario runs deploy it, with its
code (``ZenmlRunner.store_env``, ``ZenmlRunner.local_server``), under a temporary dir:

- ``default``: the pipeline process writes ZenML's SQLite store under
  ``ZENML_CONFIG_PATH`` itself, no server;
- ``server``: one local ZenML server (``zenml login --local --blocking`` on 127.0.0.1,
  ``server.py``) for the profile's runs; the pipeline process is its REST client
  (``ZENML_STORE_URL``).

Each run is one ``python -m runners.zenml.overhead_pipeline run`` process, as each of the
runner's dates is one ``python -m runners.zenml run`` process. ZenML's local orchestrator
runs every step **in that one process**, one after another in the same thread
(``LocalOrchestrator.submit_pipeline`` calls ``StepLauncher.launch`` per step, which
runs it with ``_run_step_in_current_thread``): no process start, no queue and no polling
per step.

Every time comes from ZenML's own step run records, read back with ``Client()`` in
``.venvs/zenml`` (``overhead_pipeline read``; on ``server`` through the server's REST
API), never from a wall clock here:

- queued: ZenML records none. The local orchestrator creates each step run directly in
  status ``running`` (``StepRunRequestFactory.create_request``; ZenML's ``queued`` and
  ``provisioning`` states are for isolated/remote steps), so queued = started and dispatch
  is 0 by definition;
- started: the step run's ``start_time``, stamped by the pipeline process when it
  begins the step (``create_request``, before input resolution, cache key and the step
  run's creation in the store; the row's ``created``, the store's own stamp, follows it
  and is kept in ``raw`` as ``created_s``);
- completed: its ``end_time``, stamped when the step is published ``completed``
  (``publish_successful_step_run``: after the function returned, its output was
  materialized to the artifact store and registered as an artifact version, and the step's
  run metadata was written).

So execution (started to completed) is all of ZenML's per-step work around the function:
input resolution, the cache key (computed even with caching off), the step run's creation,
the step's log capture, the output's materialization and registration, the metadata and
the status update (store writes: SQLite in process on ``default``, REST calls on
``server``). The gap (one step's completion to the next one's start) is the rest: the
launcher's teardown (the step's captured logs flushed to the log store) and the next
launcher's setup. A run's total is the last step's ``end_time`` minus the first step's
``start_time``; the process start, import, pipeline compilation and snapshot and the
pipeline run's creation come before it (the run's ``created``/``start_time``/``end_time``
are kept in ``raw`` as ``run_s``). Checked as windmill does: the run ``completed``, it
has exactly the shape's step runs ``task_00`` .. (a retried attempt would be another step
run of that name), each ``completed`` on try 1 (``version`` 1), its output artifact loaded
back through the Client equals ``fibo(n)``, and step ``i`` started after step ``i - 1``
ended. Figures: ``orchbench.overhead.probe_summary``.

    .venv/bin/python -m runners.zenml.overhead [--profiles default,server] [--shapes ...]

writes ``results/overhead/zenml.json`` (``{profile: {shape: entry}}``, others kept).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchbench.overhead import Shape, probe_main, shape_entry
from orchbench.procs import kill_group
from runners.zenml.adapter import SERVER, SERVER_LOG, ZenmlRunner, _clean_env
from runners.zenml.server import LocalServer

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "results" / "overhead" / "zenml.json"
MODULE = "runners.zenml.overhead_pipeline"
SOURCE = "windmill-labs/windmill-benchmarks competitors"
PROBED: dict[str, tuple[str, ...]] = {"zenml": tuple(ZenmlRunner.profiles)}
UNMEASURED: dict[str, dict[str, str]] = {"zenml": {}}
RUN_TIMEOUT_S = 900.0  # one run's process, import and store set-up included
READ_TIMEOUT_S = 600.0


class ProbeError(AssertionError):
    """ZenML's records of a probe run fail a check."""


def task_name(i: int) -> str:
    """A step's invocation id, its step run's name (``overhead_pipeline.task_name``)."""
    return f"task_{i:02d}"


def epoch_s(iso: str | None) -> float | None:
    """A ZenML timestamp (ISO, UTC; stored without a zone) in seconds since the epoch."""
    if iso is None:
        return None
    t = dt.datetime.fromisoformat(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def task_times(record: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """One run's timings from its records (``overhead_pipeline.read``: the run's
    ``status`` and times, its ``steps`` with ``name``, ``status``, ``version``,
    ``created``, ``start_time``, ``end_time``, ``value``), checked (module docstring).

    Returns ``total_s`` and per step in order ``queued_s`` (= ``started_s``: ZenML records
    no queued time here), ``started_s`` (``start_time``), ``completed_s`` (``end_time``)
    and ``created_s``, seconds from the first step's start; ``run_s``: the pipeline run's
    times on that clock. Raises ``ProbeError`` when a check fails.
    """
    rid = record.get("run_id")
    if record.get("status") != "completed":
        raise ProbeError(f"run {rid}: {record.get('status')}, not completed")
    names = [task_name(i) for i in range(shape.tasks)]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in record.get("steps") or []:
        by_name.setdefault(s.get("name"), []).append(s)
    if set(by_name) != set(names):
        got = sorted(map(str, by_name))
        raise ProbeError(f"run {rid}: expected steps {names[0]}..{names[-1]}, got {got}")
    started: list[float] = []
    ended: list[float] = []
    created: list[float] = []
    for name in names:
        tries = by_name[name]
        s = tries[-1]
        if len(tries) != 1 or s.get("version") != 1 or s.get("status") != "completed":
            got = [(t.get("status"), t.get("version")) for t in tries]
            raise ProbeError(f"run {rid}: {name} step runs {got}: not completed on try 1")
        if s.get("value") != shape.expected:
            raise ProbeError(
                f"run {rid}: {name} returned {s.get('value')!r}, expected {shape.expected}"
            )
        start, end = epoch_s(s.get("start_time")), epoch_s(s.get("end_time"))
        made = epoch_s(s.get("created"))
        if start is None or end is None:
            raise ProbeError(f"run {rid}: {name} has no start_time or end_time")
        started.append(start)
        ended.append(end)
        created.append(made if made is not None else start)
    for i in range(1, shape.tasks):  # sequential, as after= says (windmill's validation)
        if started[i] < ended[i - 1]:
            raise ProbeError(f"run {rid}: {names[i]} started before {names[i - 1]} ended")
    t0 = started[0]
    run_s = {
        k: round(t - t0, 4)
        for k in ("created", "start_time", "end_time")
        if (t := epoch_s(record.get(k))) is not None
    }
    return {
        "run_id": rid,
        "total_s": max(ended) - t0,
        "queued_s": [v - t0 for v in started],
        "started_s": [v - t0 for v in started],
        "completed_s": [v - t0 for v in ended],
        "created_s": [round(v - t0, 6) for v in created],
        "run_s": run_s,
    }


class Deployment:
    """One profile deployed as the runner deploys it, under ``root``: the store (and on
    ``server`` the local server) its runs use, and the runs' processes."""

    def __init__(self, profile: str, root: Path) -> None:
        self.profile = profile
        self.root = root
        self.runner = ZenmlRunner(profile, REPO)
        self.server: LocalServer | None = None
        self.logs = root / "logs"
        self.n = 0

    def start(self) -> None:
        self.runner.check_environment()
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.profile == SERVER:
            # as ZenmlRunner._start_server: its state under the run's zenml/server dir
            self.server = self.runner.local_server(
                self.root / "zenml" / "server", self.logs / SERVER_LOG
            )
            self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def env(self) -> dict[str, str]:
        """A ZenML process's environment, as ``ZenmlRunner.zenml_env`` gives a run's."""
        url = self.server.url if self.server is not None else None
        return {
            **_clean_env(),
            **self.runner.store_env(self.root / "zenml", url),
            "PYTHONUNBUFFERED": "1",
        }

    def _call(self, args: list[str], log: Path, timeout: float) -> str:
        """``python -m runners.zenml.overhead_pipeline ARGS`` in its own process group
        (killed with whatever it started, however it ends); its stdout."""
        with log.open("ab") as err:
            proc = subprocess.Popen(
                [str(self.runner.python()), "-m", MODULE, *args],
                env=self.env(),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                start_new_session=True,
            )
            try:
                out, _ = proc.communicate(timeout=timeout)
            finally:
                kill_group(proc, grace_s=0.0)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise ProbeError(f"{MODULE} {args[0]} exited {proc.returncode}:\n{tail}")
        return out.decode(errors="replace")

    def run(self, shape: Shape) -> str:
        """One probe run of ``shape`` in its own process; its pipeline run id."""
        self.n += 1
        name = f"orchbench-overhead-{shape.name}-{self.n:02d}-{uuid.uuid4().hex[:8]}"
        args = ["run", "--tasks", str(shape.tasks), "--fibo-n", str(shape.fibo_n)]
        out = self._call(
            [*args, "--run-name", name], self.logs / f"run-{self.n:02d}.log", RUN_TIMEOUT_S
        )
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise ProbeError(f"run {name} printed no run id")
        return str(json.loads(lines[-1])["run_id"])

    def read(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """The runs' records from ZenML's store, read with ``Client()``."""
        out = self._call(["read", *run_ids], self.logs / "read.log", READ_TIMEOUT_S)
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def settings(self) -> dict[str, Any]:
        server = self.profile == SERVER
        return {
            "orchestrator": "local (every step inline in the run's process)",
            "store": "local ZenML server over REST (zenml login --local --blocking)"
            if server
            else "SQLite written by the run's process (ZENML_CONFIG_PATH)",
            "caching": "off (@pipeline(enable_cache=False))",
            "runs_as": f"one `python -m {MODULE} run` process per run",
            "server_start_s": self.server.started_s if self.server is not None else None,
        }


def measure(
    profile: str, shapes: Sequence[Shape], runs: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Deploy ``profile``, run each shape ``warmup`` + ``runs`` times, read ZenML's
    records of the measured runs; ``{shape name: entry}``."""
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="orchbench-zenml-overhead-") as tmp:
        deployment = Deployment(profile, Path(tmp))
        try:
            deployment.start()
            ids: dict[str, list[str]] = {}
            for shape in shapes:
                for _ in range(warmup):
                    deployment.run(shape)
                ids[shape.name] = [deployment.run(shape) for _ in range(runs)]
            every = [i for shape_ids in ids.values() for i in shape_ids]
            records = {r["run_id"]: r for r in deployment.read(every)}
            for shape in shapes:
                missing = [i for i in ids[shape.name] if i not in records]
                if missing:
                    raise ProbeError(f"runs {missing} not read back from ZenML's store")
                measured = [task_times(records[i], shape) for i in ids[shape.name]]
                out[shape.name] = shape_entry(
                    measured,
                    shape,
                    profile,
                    deployment.settings(),
                    (
                        f"{SOURCE}: {shape.tasks} sequential fibo({shape.fibo_n}) steps, "
                        f"{warmup} warm-up + {runs} runs, one process per run, caching off; "
                        "ZenML's own step run records (queued = started = start_time: "
                        "the local orchestrator records no queued state; completed "
                        "end_time); probe_s_per_task = median total / tasks"
                    ),
                )
        except BaseException:
            for log in sorted(deployment.logs.glob("*.log"))[-2:]:  # the dir goes with it
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
            raise
        finally:
            deployment.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    venv = REPO / ".venvs" / "zenml"
    if not (venv / "bin" / "zenml").is_file():
        print(f"error: {venv} is missing: run `make setup`", file=sys.stderr)
        return 2
    return probe_main(
        "zenml",
        PROBED["zenml"],
        measure,
        lambda profile: ZenmlRunner(profile, REPO),
        OUT,
        argv,
        doc=__doc__,
        unmeasured=UNMEASURED["zenml"],
    )


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    if rc == 0:
        print(f"zenml overhead probe: {time.monotonic() - t0:.0f} s wall", file=sys.stderr)
    sys.exit(rc)
