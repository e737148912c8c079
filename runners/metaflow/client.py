"""Read Metaflow's own records of the flow's runs through its Client API (runs in the
metaflow venv: ``python -m runners.metaflow collect --out FILE``).

Writes one JSON line per run and per task attempt, with only what the Client API shows:
run id, tags, ``created_at``/``finished_at``/``finished``/``successful``; per task attempt
the task id, the attempt number, its metadata entries (``attempt``, ``attempt_ok``,
``origin-run-id``, ``origin-task-id``, ...), whether it finished and succeeded, and, for
the attempt whose artifacts Metaflow kept, the artifacts this flow stores (``task.py``)
with Metaflow's own content hash of each (``DataArtifact.sha``). Nothing is computed here;
``records.py`` turns these lines into the common native trace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

FLOW_NAME = "DailyRetrainingFlow"
KEPT = ("_inputs", "_outputs", "_summary", "_code_version")
PLAIN = ("logical_date", "route", "accuracy", "better_than_champion")


def _ns(moment: dt.datetime | int | float | None) -> int | None:
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return int(moment.timestamp() * 1e9)
    return int(moment) * 1_000_000  # Metaflow's ts_epoch: milliseconds


def _artifacts(task: Any, step: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for art in task:
        name = art.id
        if (name.startswith(step) and name.endswith(KEPT)) or name in PLAIN:
            out[name] = {"sha": art.sha, "data": art.data}
    return out


def read_runs() -> list[dict[str, Any]]:
    from metaflow import Flow, Task, namespace
    from metaflow.exception import MetaflowNotFound

    namespace(None)
    lines: list[dict[str, Any]] = []
    try:
        flow = Flow(FLOW_NAME)
    except MetaflowNotFound:
        return lines
    for run in flow.runs():
        date = None
        with contextlib.suppress(KeyError, MetaflowNotFound):
            date = str(run["start"].task["logical_date"].data)
        lines.append(
            {
                "line": "run",
                "run": run.id,
                "pathspec": run.pathspec,
                "logical_date": date,
                "created_ns": _ns(run.created_at),
                "finished": run.finished,
                "successful": run.successful,
                "finished_ns": _ns(run.finished_at),
                "tags": sorted(run.tags),
                "system_tags": sorted(run.system_tags),
            }
        )
        for step in run:
            for task in step:
                for k in range(task.current_attempt + 1):
                    one = Task(task.pathspec, attempt=k, _namespace_check=False)
                    meta = [
                        {"name": m.name, "value": m.value, "t_ns": _ns(m.created_at)}
                        for m in one.metadata
                    ]
                    arts: dict[str, Any] = {}
                    try:
                        arts = _artifacts(one, step.id)
                    except Exception:
                        arts = {}
                    lines.append(
                        {
                            "line": "attempt",
                            "run": run.id,
                            "logical_date": date,
                            "step": step.id,
                            "task": task.id,
                            "pathspec": task.pathspec,
                            "attempt": k,
                            "finished": one.finished,
                            "successful": one.successful,
                            "finished_ns": _ns(one.finished_at),
                            "created_ns": _ns(one.created_at),
                            "metadata": meta,
                            "artifacts": arts,
                        }
                    )
    return lines


def write(out: Path) -> None:
    lines = read_runs()
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(line, default=str) + "\n" for line in lines))
    tmp.replace(out)
