"""Cost-growth DAGs (``orchbench scale``; ``runners/airflow/scale.py`` drives them).

- ``orchbench_scale_fanout`` (manual only): ``items`` returns ``list(range(conf["n"]))``
  and ``scale_task`` is mapped over it (dynamic task mapping): one run, N parallel tasks.
- ``orchbench_scale_daily`` (``@daily``): one ``scale_task`` per run, journaled with the
  run's logical date; caught up by a backfill or triggered for K dates at once. Its
  ``end_date`` is in the past and ``catchup`` is off, so the scheduler never creates a run
  of it on its own.

Every task reads the journal, engine and point from the run's ``conf``. Nothing is
imported from orchbench at parse time and nothing runs without a conf: these files are
deployed into every stack, also the retraining benchmark's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import dag, get_current_context, task

FIRST = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # orchbench.scale.FIRST_DATE


def _journal(item: int) -> None:
    """Run the synthetic task with this run's conf and logical date (YYYY-MM-DD)."""
    from orchbench.scale import run_task

    ctx: Any = get_current_context()
    conf = ctx["dag_run"].conf or {}
    logical = ctx.get("logical_date") or ctx["dag_run"].run_after
    run_task(
        conf["journal"],
        engine=conf["engine"],
        point=conf["point"],
        item=item,
        logical_date=logical.date().isoformat(),
    )


@dag(
    dag_id="orchbench_scale_fanout",
    schedule=None,
    start_date=FIRST,
    catchup=False,
    tags=["orchbench", "scale"],
)
def scale_fanout() -> None:
    @task
    def items() -> list[int]:
        conf = get_current_context()["dag_run"].conf or {}
        return list(range(int(conf.get("n", 0))))

    @task(task_id="scale_task")
    def scale_task(item: int) -> None:
        _journal(item)

    scale_task.expand(item=items())


@dag(
    dag_id="orchbench_scale_daily",
    schedule="@daily",
    start_date=FIRST,
    end_date=dt.datetime(2026, 6, 30, tzinfo=dt.UTC),
    catchup=False,
    tags=["orchbench", "scale"],
)
def scale_daily() -> None:
    @task(task_id="scale_task")
    def scale_task() -> None:
        logical = get_current_context()["logical_date"]
        _journal((logical.date() - FIRST.date()).days)

    scale_task()


scale_fanout()
scale_daily()
