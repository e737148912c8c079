"""The ``zenml`` scale engine: the scale pipelines (``scale_pipeline.py``) on ZenML's
default stack (local orchestrator, local artifact store), with each runner profile's store.
Only orchestration; shapes, task and metrics are ``orchbench.scale``'s.

**Profiles.** Both run every step in the run's own process (the local orchestrator); they
differ in where the records go, set up with the runner's own code:

- ``default``: the SQLite store in the engine's ZenML config dir, opened by every run
  process itself (``ZenmlRunner.store_env``), no server.
- ``server``: one local ZenML server for the engine's points (``ZenmlRunner.local_server``:
  ``zenml login --local --blocking`` on 127.0.0.1, its SQLite under the services dir,
  started once in ``start``, outside every measured interval, as the runner starts one
  per scenario run); every run process is its REST client
  (``ZenmlRunner.store_env(root, url)``: ``ZENML_STORE_URL``, a client config dir of its
  own). The server handles requests on its thread pool (``thread_pool_size``, read from
  the installed ``ServerConfiguration``); it limits no run or step.

**The store.** ``start`` deploys the profile's store for the engine's points, as the
runner deploys one per scenario run (``ZENML_CONFIG_PATH``, HOME and XDG dirs under the
harness's services directory, analytics off; nothing in ``~/.config/zenml``, no ``.zen``
marker: the source root is set to the checkout), and makes one un-timed warm-up
(``scale_pipeline warm``: one ``scale_daily`` run and a 1-item ``scale_fanout``): the
store is created and migrated, the default stack and both pipelines registered, as in a
deployment in use. Without it, K processes started at once would race to create and
migrate the same fresh database. Every point's runs then use that store.

- ``fanout-N``: one run of the dynamic pipeline ``scale_fanout``: ``fan_out`` returns N
  items and ``scale_task.map(...)`` fans out one step per item, then ``join`` (ZenML's
  documented map/reduce). In ZenML 0.98 a mapped step is launched concurrently
  (``DynamicPipelineRunner._handle_map_ready``: ``launch_step(..., concurrent=True)``);
  the local orchestrator cannot run isolated steps (it does not implement
  ``submit_isolated_step``, so ``get_step_runtime`` returns ``inline``), so each mapped
  step runs inline **in a thread of the run's process**, on the runner's
  ``ThreadPoolExecutor(max_workers=ZENML_DYNAMIC_PIPELINE_WORKER_COUNT)``, 10 when the
  variable is unset (as here). The parallelism is that pool's size, read from the
  installed package (``scale_pipeline workers``: ``DynamicPipelineRunner.__init__``'s
  default and the variable). A static pipeline would instead run its steps one after
  another (``LocalOrchestrator.submit_pipeline`` loops over them; the class says it
  "does not allow for concurrent execution of steps"): the dynamic ``map`` is what a
  ZenML user writes for a fan-out, and ZenML's SQLite store expects it (its connection
  waits up to 60 s for the write lock "when concurrent steps (e.g. mapped steps of a
  dynamic pipeline) publish artifacts", ``SqlZenStoreConfiguration``). The pool is the
  limit ZenML configures; measured, the mapped steps start staggered (ZenML's per-step
  work in the one process comes before each function), so fewer overlap (README).
- ``backfill-D``: the local orchestrator refuses schedules and ZenML has no catch-up, so
  the user's catch-up script runs ``scale_daily(logical_date=d)`` for each missed date,
  oldest first, one run after another in one process (``scale_pipeline daily D1 ..
  DD``, as the Prefect engine's catch-up script): parallelism 1.
- ``concurrent-K``: K processes started at once, each one ``scale_daily`` run of its own
  date, all on the one store (nothing in ZenML limits them; on ``default`` SQLite
  serializes their writes, each process waiting up to 60 s for the lock; on ``server``
  the K processes are REST clients and the server alone writes its SQLite): parallelism
  K. A run that fails (a lock held past that) fails the point with its log: that is data.

**Caching is off** on both pipelines (``enable_cache=False``), so every task runs and is
journaled, whatever the dates (a repeated sample reuses the dates).

Each submission is ``.venvs/zenml/bin/python -m runners.zenml.scale_pipeline ...`` in its
own process group (``orchbench.scale.Drivers``), cwd the checkout. Wall time: just before
the first process starts to the last one's exit, as a user times ``python script.py``:
it includes what a ZenML user pays per process (interpreter start, importing ZenML,
opening the store) and per run (compiling the pipeline, its snapshot, the run's records),
and per task the step's bookkeeping (step run, output artifact materialized and
registered, logs), all in the run's own process (on ``server`` each record a request
to the server). Every runner profile is measured: ``unmeasured`` is empty.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.point import DEFAULT_PROFILE
from orchbench.procs import kill_group
from orchbench.scale import DriverEngine, Drivers, PointContext, Shape, Timing, task_env

from .adapter import SERVER, SERVER_LOG, ZenmlRunner, _clean_env
from .plugin import PLUGINS
from .server import LocalServer

MODULE = "runners.zenml.scale_pipeline"
WARM_TIMEOUT_S = 600.0  # the un-timed warm-up: store creation and migration, two runs
WORKERS_DEFAULT = re.compile(r"(\w*DYNAMIC_PIPELINE_WORKER_COUNT)\s*,\s*default\s*=\s*(\d+)")
SERVER_POOL_ENV = "ZENML_SERVER_THREAD_POOL_SIZE"  # ServerConfiguration.thread_pool_size's


def worker_count(probe: dict[str, Any]) -> tuple[int, str]:
    """The dynamic runner's thread pool size from ``scale_pipeline workers``' output, and
    where it comes from; ValueError if the installed source no longer says."""
    env, var = probe.get("env"), probe.get("env_var")
    where = f"{probe.get('module')}.DynamicPipelineRunner"
    if env not in (None, ""):
        return int(str(env)), f"{var}={env} (the {where} thread pool)"
    m = WORKERS_DEFAULT.search(str(probe.get("init_source", "")))
    if m is None:
        raise ValueError(f"no default worker count of {var} in {where}.__init__")
    return int(m.group(2)), (
        f"{where} ThreadPoolExecutor(max_workers={var}, default {m.group(2)}, unset): mapped "
        "steps run inline in threads of the run's process (local orchestrator)"
    )


def submissions(shape: Shape) -> list[list[str]]:
    """The argv tails (after ``python -m MODULE``) of the shape's processes, all started
    at once: one fan-out run, one catch-up script of D dates, or K one-date runs."""
    dates = shape.dates()
    if shape.kind == "fanout":
        return [["fanout", "--items", str(shape.n), "--logical-date", dates[0]]]
    if shape.kind == "backfill":
        return [["daily", *dates]]
    return [["daily", date] for date in dates]


def server_pool(probe: dict[str, Any], server_env: dict[str, str]) -> tuple[int, str]:
    """The local server's request thread pool: ``ZENML_SERVER_THREAD_POOL_SIZE`` in the
    server's environment, else ``ServerConfiguration.thread_pool_size``'s default (from
    ``scale_pipeline workers``)."""
    if server_env.get(SERVER_POOL_ENV):
        return int(server_env[SERVER_POOL_ENV]), f"{SERVER_POOL_ENV} in the server's env"
    return int(probe["server_thread_pool_size"]), (
        f"ServerConfiguration.thread_pool_size default ({SERVER_POOL_ENV} unset)"
    )


class ZenmlScale(DriverEngine):
    """Scale shapes on ZenML's local orchestrator, on the profile's store: SQLite
    (``default``) or a local ZenML server (``server``)."""

    name: ClassVar[str] = PLUGINS[0].name
    system: ClassVar[str] = PLUGINS[0].system
    venv: ClassVar[str] = "zenml"
    version_keys: ClassVar[tuple[str, ...]] = ("zenml", "sqlalchemy")
    profiles: ClassVar[tuple[str, ...]] = ("default", SERVER)
    unmeasured: ClassVar[dict[str, str]] = {}

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._root: Path | None = None  # the store's directory (``start``)
        self._probe: dict[str, Any] | None = None
        self._workers: tuple[int, str] | None = None
        self._server: LocalServer | None = None  # profile server (``start``)

    def clean_env(self) -> dict[str, str]:
        """A ZenML process's environment: the harness's without ZENML_/ORCHBENCH_
        variables, and the engine's store (the probe, too, must not find
        ``~/.config/zenml``)."""
        return {**_clean_env(), **self.store_env()}

    def store_env(self) -> dict[str, str]:
        """The ZenML variables of every process: the engine's store (``start``), on
        ``server`` the server's URL (``ZenmlRunner.store_env``, as the runner's)."""
        if self._root is None:
            raise RuntimeError("the ZenML scale engine's store is not deployed: call start()")
        if self.profile == SERVER and self._server is None:
            raise RuntimeError("the ZenML scale engine's server is not running: call start()")
        url = self._server.url if self._server is not None else None
        return {**ZenmlRunner.store_env(self._root, url), "PYTHONUNBUFFERED": "1"}

    def probe_workers(self) -> dict[str, Any]:
        """``scale_pipeline workers``: what the installed ZenML says (read once)."""
        if self._probe is None:
            self._probe = dict(self.probe(MODULE, "workers"))
        return self._probe

    def workers(self) -> tuple[int, str]:
        if self._workers is None:
            self._workers = worker_count(self.probe_workers())
        return self._workers

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            return self.workers()
        if shape.kind == "backfill":
            return 1, "one catch-up script: one ZenML run per date, each after the previous"
        if self.profile == SERVER:
            return shape.n, (
                "K independent ZenML run processes, REST clients of one local ZenML server; "
                "nothing limits them"
            )
        return shape.n, "K independent ZenML run processes on one SQLite store; nothing limits them"

    def settings(self, shape: Shape) -> dict[str, Any]:
        which = "scale_fanout" if shape.kind == "fanout" else "scale_daily"
        out: dict[str, Any] = {
            "profile": self.profile,
            "stack": "default: local orchestrator, local artifact store",
            "pipeline": which + (" (dynamic, step.map)" if shape.kind == "fanout" else ""),
            "caching": "off (enable_cache=False)",
            "store": "SQLite in the engine's ZENML_CONFIG_PATH, opened by each run process",
            "store_lifetime": "one per engine (services dir), created by an un-timed warm-up",
            "dynamic_pipeline_workers": self.workers()[0],
            "processes": {
                "fanout": "one run",
                "backfill": "one catch-up script, runs one after another",
                "concurrent": "K run processes at once",
            }[shape.kind],
        }
        if self.profile == SERVER:
            pool = server_pool(self.probe_workers(), self._server_env())
            out["store"] = (
                "local ZenML server (zenml login --local --blocking, 127.0.0.1; its SQLite "
                "in the services dir); run processes are its REST clients (ZENML_STORE_URL)"
            )
            out["server"] = {
                "started_s": None if self._server is None else self._server.started_s,
                "thread_pool_size": pool[0],
                "thread_pool_source": pool[1],
            }
        return out

    def _server_env(self) -> dict[str, str]:
        return {} if self._server is None else self._server.env()

    def start(self, work: Path) -> None:
        self._root = work / "zenml"
        logs = work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        try:
            if self.profile == SERVER:
                runner = ZenmlRunner(self.profile, self.repo_root)
                self._server = runner.local_server(self._root / "server", logs / SERVER_LOG)
                self._server.start()
            self._warm(work, logs)
            self.workers()  # read before the first measured interval
        except BaseException:
            self.stop()
            raise

    def _warm(self, work: Path, logs: Path) -> None:
        journal = work / "warmup-journal.jsonl"
        journal.touch()
        env = {**self.clean_env(), **task_env(journal, self.name, Shape("fanout", 1))}
        proc = Drivers(self.repo_root, self.name).start(
            [str(self.python()), "-m", MODULE, "warm"], env, logs / "zenml-scale-warmup.log"
        )
        try:
            rc = proc.wait(timeout=WARM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            kill_group(proc)
        if rc != 0:
            tail = (logs / "zenml-scale-warmup.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(
                f"the ZenML scale warm-up {'timed out' if rc is None else 'failed'}:\n{tail}"
            )

    def stop(self) -> None:
        self.abort()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._root = None

    def run(self, shape: Shape, point: PointContext) -> Timing:
        self._drivers.kill()
        env = {**self.clean_env(), **point.task_env()}
        tails = submissions(shape)
        start = time.time_ns()
        procs = [
            self._drivers.start(
                [str(self.python()), "-m", MODULE, *tail],
                env,
                point.logs / f"zenml-scale-{i:03d}-{tail[0]}-{tail[-1]}.log",
            )
            for i, tail in enumerate(tails, 1)
        ]
        self._drivers.wait(point, procs)
        end = time.time_ns()
        self._drivers.kill()  # nothing a run started may outlive it
        return Timing(start, end)
