"""The ``metaflow`` scale engine: the scale flows on Metaflow's local runtime.

Only orchestration; shapes, task and metrics are ``orchbench.scale``'s.

- ``fanout-N``: one run of ``scale_fanout_flow.py`` with ``--items N``: ``start`` splits
  into N ``task``s (``foreach``), then ``join``. The local runtime runs at most
  ``--max-workers`` task processes at once, 16 by default (the ``run`` command's option,
  ``metaflow.runtime.MAX_WORKERS``, read from the installed package); a foreach of more
  than ``--max-num-splits`` (100) items is refused.
- ``backfill-D``: D runs of ``scale_daily_flow.py``, one per logical date, one after
  another, as a user's ``for date in dates: run(date)`` does (no scheduler, no catch-up):
  parallelism 1.
- ``concurrent-K``: K runs started at once, each its own runtime process; nothing shared
  limits them (local metadata and datastore are files): parallelism K.

Each run is ``.venvs/metaflow/bin/python <flow file> run ...`` in its own process group,
with the runner's Metaflow environment (local datastore and metadata under the point's
work directory, a user, a HOME there) and the point's work dir as cwd. Wall time: just
before the first runtime starts to the last one's exit: it includes what a Metaflow user
pays per run (interpreter start, import, graph validation) and per task (a subprocess).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench.point import DEFAULT_PROFILE
from orchbench.scale import DriverEngine, PointContext, Shape, Timing, last_json

from .adapter import _clean_env, local_env
from .plugin import PLUGINS

FLOWS = Path(__file__).parent
FANOUT = FLOWS / "scale_fanout_flow.py"
DAILY = FLOWS / "scale_daily_flow.py"


class MetaflowScale(DriverEngine):
    """Scale shapes on Metaflow's local runtime."""

    name: ClassVar[str] = PLUGINS[0].name
    system: ClassVar[str] = PLUGINS[0].system
    venv: ClassVar[str] = "metaflow"
    version_keys: ClassVar[tuple[str, ...]] = ("metaflow",)

    def __init__(self, repo_root: Path, profile: str = DEFAULT_PROFILE) -> None:
        super().__init__(repo_root, profile)
        self._max_workers: int | None = None

    def clean_env(self) -> dict[str, str]:
        return _clean_env()

    def max_workers(self) -> int:
        """The local runtime's default ``--max-workers``, read from the installed package."""
        if self._max_workers is None:
            probe = "import json, metaflow.runtime as r; print(json.dumps(r.MAX_WORKERS))"
            self._max_workers = int(self.probe_code(probe))
        return self._max_workers

    def probe_code(self, code: str) -> Any:
        return last_json([str(self.python()), "-c", code], self.clean_env(), self.repo_root)

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        if shape.kind == "fanout":
            return min(shape.n, self.max_workers()), (
                "the local runtime's --max-workers (default metaflow.runtime.MAX_WORKERS)"
            )
        if shape.kind == "backfill":
            return 1, "one Metaflow run per date, each started after the previous ended"
        return shape.n, "K independent Metaflow runtime processes; nothing limits them"

    def settings(self, shape: Shape) -> dict[str, Any]:
        flow = FANOUT if shape.kind == "fanout" else DAILY
        return {
            "profile": self.profile,  # the runner's only one
            "runtime": "Metaflow local runtime, local datastore and metadata",
            "flow": flow.name,
            "max_workers": self.max_workers(),
            "runs": "at once" if shape.kind == "concurrent" else "one after another",
        }

    def _env(self, point: PointContext) -> dict[str, str]:
        home = point.work / "metaflow"
        return {**_clean_env(), **point.task_env(), **local_env(home)}

    def _start(self, point: PointContext, date: str, items: int | None) -> Any:
        flow = FANOUT if items is not None else DAILY
        cmd = [str(self.python()), str(flow), "run", "--logical_date", date]
        if items is not None:
            cmd += ["--items", str(items)]
        log = point.logs / f"metaflow-run-{len(self._drivers.procs) + 1:03d}-{date}.log"
        return self._drivers.start(cmd, self._env(point), log)

    def run(self, shape: Shape, point: PointContext) -> Timing:
        self._drivers.kill()
        point.work.mkdir(parents=True, exist_ok=True)
        self._drivers.cwd = point.work  # Metaflow's files stay in the point's work dir
        dates = shape.dates()
        self.max_workers()  # read before the measured interval
        start = time.time_ns()
        if shape.kind == "fanout":
            self._drivers.wait(point, [self._start(point, dates[0], shape.n)])
        elif shape.kind == "backfill":
            for date in dates:
                self._drivers.wait(point, [self._start(point, date, None)])
        else:
            self._drivers.wait(point, [self._start(point, date, None) for date in dates])
        end = time.time_ns()
        self._drivers.kill()  # nothing a run started may outlive it
        return Timing(start, end)
