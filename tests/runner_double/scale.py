"""The test double's scale engine: each task a process of the synthetic task
(``orchbench.scale``) in this runner's environment (``.venvs/<name>``), one at a time."""

from __future__ import annotations

import time
from typing import ClassVar

from orchbench.scale import DriverEngine, PointContext, Shape, Timing, task_command

from .plugin import PLUGINS


class InProcessScale(DriverEngine):
    name: ClassVar[str] = PLUGINS[0].name
    system: ClassVar[str] = PLUGINS[0].system
    venv: ClassVar[str] = PLUGINS[0].name  # the folder's environment
    version_keys: ClassVar[tuple[str, ...]] = ("orchbench",)

    def parallelism(self, shape: Shape) -> tuple[int, str]:
        return 1, "the double starts one task and waits for it"

    def run(self, shape: Shape, point: PointContext) -> Timing:
        dates = shape.dates()
        env = {**self.clean_env(), **point.task_env()}
        start = time.time_ns()
        for item in range(shape.tasks):
            day = dates[0] if shape.kind == "fanout" else dates[item]
            cmd = task_command(self.python(), item, day)
            proc = self._drivers.start(cmd, env, point.logs / f"task-{item}.log")
            self._drivers.wait(point, [proc])
        return Timing(start, time.time_ns())
