"""The ``zenml`` scale engine: the scale pipelines (``scale_pipeline.py``) on ZenML's
default stack (local orchestrator, local artifact store, SQLite store, no server). Only
orchestration; shapes, task and metrics are ``orchbench.scale``'s.

**The store.** ``start`` deploys one ZenML store for the engine's points, as the runner
deploys one per scenario run (``ZenmlRunner.store_env``: ``ZENML_CONFIG_PATH``, HOME and
XDG dirs under the harness's services directory, analytics off; nothing in
``~/.config/zenml``, no ``.zen`` marker: the source root is set to the checkout), and
makes one un-timed warm-up (``scale_pipeline warm``: one ``scale_daily`` run and a 1-item
``scale_fanout``): the SQLite store is created and migrated, the default stack and both
pipelines registered, as in a deployment in use. Without it, K processes started at once
would race to create and migrate the same fresh database. Every point's runs then use
that store.

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
  date, all on the one SQLite store (nothing in ZenML limits them; SQLite serializes
  their writes, each waiting up to 60 s for the lock): parallelism K. A run that fails
  (a lock held past that) fails the point with its log: that is data.

**Caching is off** on both pipelines (``enable_cache=False``), so every task runs and is
journaled, whatever the dates (a repeated sample reuses the dates).

Each submission is ``.venvs/zenml/bin/python -m runners.zenml.scale_pipeline ...`` in its
own process group (``orchbench.scale.Drivers``), cwd the checkout. Wall time: just before
the first process starts to the last one's exit, as a user times ``python script.py``:
it includes what a ZenML user pays per process (interpreter start, importing ZenML,
opening the store) and per run (compiling the pipeline, its snapshot, the run's records),
and per task the step's bookkeeping (step run, output artifact materialized and
registered, logs), all in the run's own process.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.procs import kill_group
from orchbench.scale import DriverEngine, Drivers, PointContext, Shape, Timing, task_env

from .adapter import ZenmlRunner, _clean_env
from .plugin import PLUGINS

MODULE = "runners.zenml.scale_pipeline"
WARM_TIMEOUT_S = 600.0  # the un-timed warm-up: store creation and migration, two runs
WORKERS_DEFAULT = re.compile(r"(\w*DYNAMIC_PIPELINE_WORKER_COUNT)\s*,\s*default\s*=\s*(\d+)")


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


class ZenmlScale(DriverEngine):
    """Scale shapes on ZenML's local orchestrator with one SQLite store."""

    name: ClassVar[str] = PLUGINS[0].name
    system: ClassVar[str] = PLUGINS[0].system
    venv: ClassVar[str] = "zenml"
    version_keys: ClassVar[tuple[str, ...]] = ("zenml", "sqlalchemy")

    def __init__(self, repo_root: Path) -> None:
        super().__init__(repo_root)
        self._root: Path | None = None  # the store's directory (``start``)
        self._workers: tuple[int, str] | None = None

    def clean_env(self) -> dict[str, str]:
        """A ZenML process's environment: the harness's without ZENML_/ORCHBENCH_
        variables, and the engine's store (the probe, too, must not find
        ``~/.config/zenml``)."""
        return {**_clean_env(), **self.store_env()}

    def store_env(self) -> dict[str, str]:
        """The ZenML variables of every process: the engine's store (``start``)."""
        if self._root is None:
            raise RuntimeError("the ZenML scale engine's store is not deployed: call start()")
        return {**ZenmlRunner.store_env(self._root), "PYTHONUNBUFFERED": "1"}

    def workers(self) -> tuple[int, str]:
        if self._workers is None:
            self._workers = worker_count(self.probe(MODULE, "workers"))
        return self._workers

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            return self.workers()
        if shape.kind == "backfill":
            return 1, "one catch-up script: one ZenML run per date, each after the previous"
        return shape.n, "K independent ZenML run processes on one SQLite store; nothing limits them"

    def settings(self, shape: Shape) -> dict[str, Any]:
        which = "scale_fanout" if shape.kind == "fanout" else "scale_daily"
        return {
            "stack": "default: local orchestrator, local artifact store, SQLite store, no server",
            "pipeline": which + (" (dynamic, step.map)" if shape.kind == "fanout" else ""),
            "caching": "off (enable_cache=False)",
            "store": "one per engine (services dir), created by an un-timed warm-up run",
            "dynamic_pipeline_workers": self.workers()[0],
            "processes": {
                "fanout": "one run",
                "backfill": "one catch-up script, runs one after another",
                "concurrent": "K run processes at once",
            }[shape.kind],
        }

    def start(self, work: Path) -> None:
        self._root = work / "zenml"
        logs = work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
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
        self.workers()  # read before the first measured interval

    def stop(self) -> None:
        self.abort()
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
