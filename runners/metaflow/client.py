"""Read Metaflow's own records of the flow's runs through its Client API (runs in the
metaflow venv: ``python -m runners.metaflow collect --out FILE``).

Writes one JSON line per run and per task attempt, with only what the Client API shows:
run id, tags, ``created_at``/``finished_at``/``finished``/``successful``; per task attempt
the task id, the attempt number, its metadata entries (``attempt``, ``attempt_ok``,
``origin-run-id``, ``origin-task-id``, ...), whether it finished and succeeded, the
artifacts of this flow (``task.py``) Metaflow kept for the attempt (a failed one's too:
what it set before it raised) with Metaflow's own content hash of each
(``DataArtifact.sha``), and the ``<name>_uri`` artifacts of the task's parent tasks
(``Task.parent_task_pathspecs``): the paths Metaflow handed the task, known also for an
attempt killed before it saved anything.
Per run, a ``graph`` line: the steps as Metaflow stored the flow for that run (the
``_graph_info`` artifact: each step's decorators with their attributes, the switch's
condition and cases). Nothing is computed here; ``records.py`` turns these lines into the
common native trace.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

FLOW_NAME = "DailyRetrainingFlow"
KEPT = ("_inputs", "_outputs", "_summary", "_code_version")
URI = "_uri"  # the paths the steps pass as artifacts (``self.features_uri``, ...)
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
        if (name.startswith(step) and name.endswith(KEPT)) or name in PLAIN or name.endswith(URI):
            out[name] = {"sha": art.sha, "data": art.data}
    return out


def _handed(task: Any) -> dict[str, Any]:
    """The ``<name>_uri`` artifacts of the task's parent tasks: what Metaflow handed it."""
    from metaflow import Task

    out: dict[str, Any] = {}
    for parent in task.parent_task_pathspecs:
        for art in Task(parent, _namespace_check=False):
            if art.id.endswith(URI):
                out[art.id] = {"sha": art.sha, "data": art.data, "task": parent}
    return out


def _graph(run: Any) -> dict[str, Any] | None:
    """The flow's steps as Metaflow stored them for ``run`` (``_graph_info``, which every
    task carries): per step its type, decorators (name and attributes), next steps, and a
    switch's condition and cases."""
    from metaflow.exception import MetaflowNotFound

    try:
        info = run["start"].task["_graph_info"].data
    except (KeyError, MetaflowNotFound):
        return None
    keys = ("type", "decorators", "next", "condition", "switch_cases")
    steps = {name: {k: node[k] for k in keys if k in node} for name, node in info["steps"].items()}
    return {"file": info.get("file"), "steps": steps}


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
        lines.append({"line": "graph", "run": run.id, "graph": _graph(run)})
        for step in run:
            for task in step:
                handed: dict[str, Any] = {}
                with contextlib.suppress(Exception):
                    handed = _handed(task)
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
                            "handed": handed,
                        }
                    )
    return lines


def write(out: Path) -> None:
    lines = read_runs()
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(line, default=str) + "\n" for line in lines))
    tmp.replace(out)


# --- the overhead probe's runs (``overhead.py``; ``python -m runners.metaflow probe-runs``)


def _epoch_s(moment: dt.datetime | int | None) -> float | None:
    """Seconds since the epoch of a Client API time: a ``created_at``/``finished_at``
    (a naive local datetime, ``datetime.fromtimestamp(ts_epoch / 1000)``) or a metadata
    entry's ``created_at`` (the raw ``ts_epoch``, milliseconds)."""
    if moment is None:
        return None
    if isinstance(moment, dt.datetime):
        return moment.timestamp()  # naive: local time, the inverse of fromtimestamp
    return int(moment) / 1000.0


def _probe_task(task: Any) -> dict[str, Any]:
    """One task of a probe run as the Client API shows it (``overhead.task_times``)."""
    meta = [(m.name, str(m.value), _epoch_s(m.created_at)) for m in task.metadata]
    value = None
    with contextlib.suppress(KeyError):
        value = task["value"].data
    return {
        "task": task.id,
        "created": _epoch_s(task.created_at),
        "finished_at": _epoch_s(task.finished_at),
        "finished": task.finished,
        "successful": task.successful,
        "current_attempt": task.current_attempt,
        # each attempt's "attempt" record: the task process begins that attempt
        "attempts": sorted((v, t) for name, v, t in meta if name == "attempt"),
        "attempt_ok": sorted((v, t) for name, v, t in meta if name == "attempt_ok"),
        "value": value,
    }


def probe_runs(flow_name: str, run_ids: list[str]) -> list[dict[str, Any]]:
    """The probe's runs of ``flow_name`` in the local metadata and datastore, read through
    the Client API: per run its own times and state, its ``_parameters`` task (the
    runtime's first task, before ``start``) and per step its tasks (``_probe_task``)."""
    from metaflow import Run, Step, namespace

    namespace(None)
    out: list[dict[str, Any]] = []
    for run_id in run_ids:
        run = Run(f"{flow_name}/{run_id}", _namespace_check=False)
        params = Step(f"{flow_name}/{run_id}/_parameters", _namespace_check=False).task
        out.append(
            {
                "run_id": run.id,
                "created": _epoch_s(run.created_at),
                "finished_at": _epoch_s(run.finished_at),
                "finished": run.finished,
                "successful": run.successful,
                "parameters": {
                    "created": _epoch_s(params.created_at),
                    "finished_at": _epoch_s(params.finished_at),
                },
                "steps": {step.id: [_probe_task(t) for t in step] for step in run},
            }
        )
    return out
