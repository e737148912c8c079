"""The scale flows (``orchbench.scale``'s synthetic task as Metaflow steps).

Two flow files, as a Metaflow user writes a fan-out and a one-task daily job
(``scale_fanout_flow.py``, ``scale_daily_flow.py``); this module holds what both share:
the step body that runs one synthetic task through ``orchbench.scale.run_task_from_env``.
"""

from __future__ import annotations


def task(item: int, logical_date: str) -> None:
    """One synthetic task (sleeps ``orchbench.scale.TASK_S`` and journals it)."""
    from orchbench.scale import run_task_from_env

    run_task_from_env(int(item), str(logical_date))
