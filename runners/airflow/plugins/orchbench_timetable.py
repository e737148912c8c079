"""A timetable whose intervals are a scenario's dates, fired at given real-clock times.

Airflow's documented way to a schedule no cron expression says ("Customizing DAG
Scheduling with Timetables",
https://airflow.apache.org/docs/apache-airflow/stable/howto/timetable.html): a
``Timetable`` subclass in a module of the plugins folder, registered by an
``AirflowPlugin`` (``timetables = [...]``) so the scheduler can deserialize it, and
imported by the DAG file.

Interval ``k`` is the scenario date ``dates[k]`` (data interval ``[date, date + 1 day)``,
so the run's ``logical_date`` is the date, as a ``@daily`` run's is); the run may be
created from ``run_after`` = ``fires[date]``, a real-clock time (epoch seconds) the
harness chose so one simulated day lasts a few real seconds. Airflow's clock is not
touched. ``next_dagrun_info`` follows Airflow 3.3's contract
(``SerializedDAG.next_dagrun_info`` passes the last scheduled or backfill run's interval
and a ``TimeRestriction`` of start_date, end_date and catchup): with catchup, the first
date after the last automated run, however late; without it, only the latest date whose
time has come (missed ones skipped), as ``CronDataIntervalTimetable`` does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from pendulum import DateTime, from_timestamp, instance

DAY = dt.timedelta(days=1)


def _midnight(date: str) -> DateTime:
    return instance(dt.datetime.fromisoformat(date).replace(tzinfo=dt.UTC))


class ScenarioTimetable(Timetable):
    """One run per scenario date (``fires``: ISO date -> epoch seconds it fires at)."""

    def __init__(self, fires: dict[str, float]) -> None:
        self.fires = dict(sorted(fires.items()))
        first, last = (next(iter(self.fires)), list(self.fires)[-1]) if fires else ("", "")
        self.description = f"scenario dates {first}..{last}, fired at given real-clock times"

    @property
    def summary(self) -> str:
        return f"orchbench scenario ({len(self.fires)} dates)"

    def serialize(self) -> dict[str, Any]:
        return {"fires": self.fires}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ScenarioTimetable:
        return cls(data["fires"])

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run covers the day of the date it names."""
        start = instance(dt.datetime.combine(run_after.date(), dt.time(), tzinfo=dt.UTC))
        return DataInterval(start, start + DAY)

    def _info(self, date: str) -> DagRunInfo:
        start = _midnight(date)
        return DagRunInfo(
            run_after=from_timestamp(self.fires[date], tz="UTC"),
            data_interval=DataInterval(start, start + DAY),
        )

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        after = last_automated_data_interval.start if last_automated_data_interval else None
        left = [
            d
            for d in self.fires
            if (after is None or _midnight(d) > after)
            and (restriction.earliest is None or _midnight(d) >= restriction.earliest)
            and (restriction.latest is None or _midnight(d) <= restriction.latest)
        ]
        if not left:
            return None
        if not restriction.catchup:  # only the latest date whose time has come
            now = dt.datetime.now(dt.UTC).timestamp()
            due = [d for d in left if self.fires[d] <= now]
            return self._info(due[-1] if due else left[0])
        return self._info(left[0])


class OrchbenchTimetablePlugin(AirflowPlugin):
    name = "orchbench_timetable"
    timetables: ClassVar[list[type[Timetable]]] = [ScenarioTimetable]
