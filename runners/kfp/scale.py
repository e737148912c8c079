"""The ``kfp`` scale engine: the scale pipelines (``scale_pipeline.py``) on ``kfp.local``.

Only orchestration; shapes, task and metrics are ``orchbench.scale``'s.

- ``fanout-N``: one submission of ``scale-fanout`` with ``items = [0..N-1]``
  (``dsl.ParallelFor``). kfp.local 2.17.3 runs a ParallelFor's iterations on a
  ``ThreadPoolExecutor`` whose ``max_workers`` is capped at 2 (``ParallelExecutor.
  conservative_max`` in ``kfp/local/orchestrator/enhanced_dag_orchestrator.py``, "to avoid
  thread explosion with nested ParallelFor loops"; a ``parallelism=`` on the loop can only
  lower it): the parallelism is that number, read from kfp.local in ``.venvs/kfp``. Regular
  tasks of a DAG run one at a time.
- ``backfill-D``: D submissions of ``scale-daily``, one per logical date, one after
  another, as a user's ``for date in dates: run(date)`` does (a kfp.local run blocks until it
  ends; there is no scheduler, so no catch-up): parallelism 1.
- ``concurrent-K``: K submissions started at once, each its own driver process. kfp.local
  has no server or shared scheduler, so nothing limits them: parallelism K. (In one
  process it would not work: ``local.init`` is one global configuration and a run blocks.)

Each submission is ``.venvs/kfp/bin/python -m runners.kfp.scale_pipeline run`` in its own
process group (``SubprocessRunner(use_venv=False)``, caching off, one pipeline root per
point). Wall time: just before the first driver starts to the last driver's exit, so it
includes what a kfp.local user pays per run (interpreter start, importing kfp, loading the
spec) and per task (a subprocess that imports kfp).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.runner import EnvironmentMissing
from orchbench.scale import DriverEngine, PointContext, Shape, Timing
from runners.kfp.adapter import _clean_env

MODULE = "runners.kfp.scale_pipeline"
SPECS = {"fanout": "scale_fanout.yaml", "daily": "scale_daily.yaml"}


class KfpScale(DriverEngine):
    """Scale shapes on kfp.local (SubprocessRunner)."""

    name: ClassVar[str] = "kfp"
    system: ClassVar[str] = "KFP (local runner)"
    venv: ClassVar[str] = "kfp"
    version_keys: ClassVar[tuple[str, ...]] = ("kfp", "kfp-pipeline-spec")

    def __init__(self, repo_root: Path) -> None:
        super().__init__(repo_root)
        self._fanout_workers: int | None = None

    def clean_env(self) -> dict[str, str]:
        return _clean_env()

    def spec(self, which: str) -> Path:
        """The compiled spec (``build/kfp/``), compiled when missing or stale."""
        path = self.repo_root / "build" / "kfp" / SPECS[which]
        src = self.repo_root / "runners" / "kfp" / "scale_pipeline.py"
        if path.exists() and path.stat().st_mtime >= src.stat().st_mtime:
            return path
        cmd = [str(self.python()), "-m", MODULE, "compile", "--out-dir", str(path.parent)]
        done = subprocess.run(
            cmd, cwd=self.repo_root, env=_clean_env(), capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise EnvironmentMissing(f"compiling the KFP scale pipelines failed: {tail}")
        return path

    def fanout_workers(self) -> int:
        """kfp.local's ParallelFor worker count, read from kfp.local itself."""
        if self._fanout_workers is None:
            self._fanout_workers = int(self.probe(MODULE, "parallelism")["max_workers"])
        return self._fanout_workers

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            return self.fanout_workers(), (
                "kfp.local ParallelExecutor().max_workers (ParallelFor iterations on a "
                "thread pool capped at conservative_max)"
            )
        if shape.kind == "backfill":
            return 1, "one kfp.local run per date, each submitted after the previous ended"
        return shape.n, "K independent kfp.local driver processes; nothing limits them"

    def settings(self, shape: Shape) -> dict[str, Any]:
        which = "fanout" if shape.kind == "fanout" else "daily"
        return {
            "runner": "kfp.local SubprocessRunner(use_venv=False), caching off",
            "pipeline": f"scale-{which}",
            "spec": str(self.repo_root / "build" / "kfp" / SPECS[which]),
            "submissions": "at once" if shape.kind == "concurrent" else "one after another",
        }

    def _start(
        self, point: PointContext, spec: Path, date: str, items: int | None
    ) -> subprocess.Popen[bytes]:
        root = point.work / "pipeline_root"
        cmd = [str(self.python()), "-m", MODULE, "run", "--spec", str(spec)]
        cmd += ["--pipeline-root", str(root), "--logical-date", date]
        if items is not None:
            cmd += ["--items", str(items)]
        log = point.logs / f"kfp-submission-{len(self._drivers.procs) + 1:03d}-{date}.log"
        env = {**_clean_env(), **point.task_env(), "PYTHONUNBUFFERED": "1"}
        return self._drivers.start(cmd, env, log)

    def run(self, shape: Shape, point: PointContext) -> Timing:
        self._drivers.kill()
        spec = self.spec("fanout" if shape.kind == "fanout" else "daily")
        dates = shape.dates()
        start = time.time_ns()
        if shape.kind == "fanout":
            self._drivers.wait(point, [self._start(point, spec, dates[0], shape.n)])
        elif shape.kind == "backfill":
            for date in dates:
                self._drivers.wait(point, [self._start(point, spec, date, None)])
        else:
            self._drivers.wait(point, [self._start(point, spec, date, None) for date in dates])
        end = time.time_ns()
        self._drivers.kill()  # nothing a run started may outlive it
        return Timing(start, end)
