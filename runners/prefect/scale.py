"""The ``prefect`` scale engine: the scale flows (``scale_flow.py``) against a real
``prefect server start``. Only orchestration; shapes, task and metrics are
``orchbench.scale``'s.

The server is the ``default`` profile's (Prefect as installed, SQLite), started once in
``start`` (outside every measured interval) with its own ``PREFECT_HOME``; ``start`` then
imports the flow module once with bytecode writing on (a deployed environment is warm) and
runs one un-timed ``scale-daily`` so the server has seen the flows before the first point.
Each submission is ``.venvs/prefect/bin/python -m runners.prefect.scale_flow ...``, a script
run, in its own process group (``orchbench.scale.Drivers``):

- ``fanout-N``: one run of ``scale-fanout`` mapping the task over N items on the flow's
  default ``ThreadPoolTaskRunner``. Prefect 3.9 gives it
  ``PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS`` threads, no limit when unset (as
  installed): the parallelism is that, read from Prefect in ``.venvs/prefect``.
- ``backfill-D``: one catch-up script running ``scale-daily`` for each missed date, oldest
  first, one flow run after another in one process. Prefect 3 does not create runs for
  missed schedule slots, so the user writes this loop (or calls ``run_deployment`` per date,
  which additionally needs a deployment and a worker polling for it): parallelism 1.
- ``concurrent-K``: K scripts started at once, each one ``scale-daily`` run of its own
  date. Nothing in a script run limits them (no work pool, no concurrency limit):
  parallelism K.

Wall time: just before the first script starts to the last one's exit, so it includes
what a Prefect user pays per script run (interpreter start, importing Prefect, talking to
the server) as the kfp engine includes kfp.local's.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.runner import EnvironmentMissing
from orchbench.scale import FIRST_DATE, DriverEngine, PointContext, Shape, Timing
from runners.prefect.adapter import BASE_SERVER_ENV, PROFILES, _clean_env
from runners.prefect.server import PrefectServer, ServerError

MODULE = "runners.prefect.scale_flow"
PROFILE = "default"
WARM_IMPORTS = "import runners.prefect.scale_flow, orchbench.scale, prefect.engine"


class PrefectScale(DriverEngine):
    """Scale shapes as Prefect flow runs (script runs) against a local Prefect server."""

    name: ClassVar[str] = "prefect"
    system: ClassVar[str] = "Prefect"
    venv: ClassVar[str] = "prefect"
    version_keys: ClassVar[tuple[str, ...]] = ("prefect",)

    def __init__(self, repo_root: Path) -> None:
        super().__init__(repo_root)
        self._server: PrefectServer | None = None
        self._home: Path | None = None
        self._workers: dict[str, int | None] | None = None

    def clean_env(self) -> dict[str, str]:
        return _clean_env()

    def _client_env(self) -> dict[str, str]:
        assert self._server is not None and self._home is not None
        return {
            **_clean_env(),
            **PROFILES[PROFILE]["client"],
            "PREFECT_API_URL": self._server.api_url,
            "PREFECT_HOME": str(self._home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, work: Path) -> None:
        self._home = work / "prefect-home"
        env = {
            **_clean_env(),
            "PREFECT_HOME": str(self._home),
            **BASE_SERVER_ENV,
            **PROFILES[PROFILE]["server"],
        }
        self._server = PrefectServer(self.python().parent / "prefect", self._home, env)
        try:
            self._server.start()
            self._warm(work)
        except ServerError as e:
            self.stop()
            raise EnvironmentMissing(f"prefect server did not start: {e}") from e
        except BaseException:
            self.stop()
            raise

    def _warm(self, work: Path) -> None:
        """Compile bytecode, then one un-timed flow run (its records go to a scratch
        journal that no point reads)."""
        env = {k: v for k, v in self._client_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        run = dict(cwd=self.repo_root, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        subprocess.run([str(self.python()), "-c", WARM_IMPORTS], env=env, check=False, **run)
        journal = work / "warm-up.jsonl"
        env |= {"ORCHBENCH_SCALE_JOURNAL": str(journal), "ORCHBENCH_SCALE_ENGINE": self.name}
        env["ORCHBENCH_SCALE_POINT"] = "warm-up"
        cmd = [str(self.python()), "-m", MODULE, "daily", "--logical-date", str(FIRST_DATE)]
        done = subprocess.run(cmd, env=env, check=False, **run)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"the warm-up prefect flow run failed: {tail[-1:]}")

    def stop(self) -> None:
        self._drivers.kill()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def thread_pool_workers(self) -> int | None:
        """A default ThreadPoolTaskRunner's worker count, read from Prefect (None: no limit)."""
        if self._workers is None:
            self._workers = self.probe(MODULE, "parallelism")
        return self._workers["max_workers"]

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            workers = self.thread_pool_workers()
            if workers is None:
                return shape.n, (
                    "ThreadPoolTaskRunner as installed: no thread limit "
                    "(PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS unset)"
                )
            return workers, "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS"
        if shape.kind == "backfill":
            return 1, "one catch-up script: one flow run per date, one after another"
        return shape.n, "K independent script runs; no work pool or concurrency limit"

    def settings(self, shape: Shape) -> dict[str, Any]:
        return {
            "profile": PROFILE,
            "server": "prefect server start (SQLite), as installed",
            "flow": "scale-fanout" if shape.kind == "fanout" else "scale-daily",
            "task_runner": "ThreadPoolTaskRunner (the flow's default)",
            "submissions": {
                "fanout": "one script run",
                "backfill": "one script looping over the dates",
                "concurrent": "K script runs at once",
            }[shape.kind],
        }

    def _start(self, point: PointContext, args: list[str]) -> subprocess.Popen[bytes]:
        log = point.logs / f"prefect-submission-{len(self._drivers.procs) + 1:03d}.log"
        env = {**self._client_env(), **point.task_env()}
        return self._drivers.start([str(self.python()), "-m", MODULE, *args], env, log)

    def run(self, shape: Shape, point: PointContext) -> Timing:
        if self._server is None:
            raise RuntimeError("the prefect scale engine was not started")
        self._drivers.kill()
        dates = shape.dates()
        start = time.time_ns()
        if shape.kind == "fanout":
            args = ["fanout", "--items", str(shape.n), "--logical-date", dates[0]]
            self._drivers.wait(point, [self._start(point, args)])
        elif shape.kind == "backfill":
            args = ["daily"] + [a for d in dates for a in ("--logical-date", d)]
            self._drivers.wait(point, [self._start(point, args)])
        else:
            procs = [self._start(point, ["daily", "--logical-date", d]) for d in dates]
            self._drivers.wait(point, procs)
        end = time.time_ns()
        self._drivers.kill()  # nothing a run started may outlive it
        return Timing(start, end)
