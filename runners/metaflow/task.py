"""What every step of the Metaflow flow calls: one attempt of a shared step, with its files
and results kept as Metaflow artifacts of the task.

Runs inside the Metaflow task's process. The shared world requires files, so the data
itself stays on disk; what passes between steps is where it is, as Metaflow artifacts,
the way its users pass data (``self.<name>``, docs.metaflow.org "Creating Flows"):

- ``<output>_uri``: where the step wrote each dated output, under the run's artifact root
  (``<work>/artifacts/metaflow/<date>/``, the ``artifacts`` Parameter, which only says
  where a producing step writes). A downstream step reads its dated inputs from these
  artifacts (``self.features_uri``, ...), handed on by Metaflow, never rebuilds their
  paths: Metaflow's own records carry the data flow (which task produced each path and
  which task was handed it). The world's own files (the landing partition, the reference
  profile, the holdout set, the champion and serving slots) are read where the world
  keeps them (``default_paths``);
- ``<step>_summary``: the step's result (accuracy, deploy decision, ...), and for
  ``evaluate`` the ``accuracy`` and ``better_than_champion`` the switch reads;
- ``<step>_inputs`` / ``<step>_outputs``: each file the step read and wrote, with its
  sha256 (hashed here: Metaflow hashes its own pickled artifacts, not files on disk; this
  manifest is lineage code a careful team adds, so our hashes are ``practiced`` in the
  trace);
- ``<step>_code_version``: the wrapper's hash of the step's code (practiced too: a local
  Metaflow run records no code package).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

from orchbench.hashing import sha256_path
from orchbench.workflow.paths import dated_paths
from orchbench.workflow.spec import STEP_BY_NAME
from orchbench.world import World
from orchbench.wrapper import code_version, default_paths, run_step

ALERT_PREFIX = "metaflow-"  # the alert sink's files this runner writes
SCALARS = (bool, int, float, str, type(None))


def _ref(name: str, path: Path) -> dict[str, Any]:
    return {"name": name, "uri": str(path), "sha256": sha256_path(path)}


def run(flow: Any, step: str, current: Any) -> dict[str, Any]:
    """One attempt of ``step`` for the flow's logical date: its dated inputs from the
    upstream steps' ``<name>_uri`` artifacts; keeps where it wrote its outputs, its file
    manifest and its summary as artifacts of the task; returns the summary."""
    spec = STEP_BY_NAME[step]
    world = World.from_env()
    date = dt.date.fromisoformat(str(flow.logical_date))
    dated = dated_paths(Path(str(flow.artifacts)), date)
    external = default_paths(world, date)
    # dated inputs: the path the upstream step kept as an artifact, handed on by Metaflow
    ins = {n: Path(getattr(flow, f"{n}_uri")) if n in dated else external[n] for n in spec.inputs}
    outs = {n: dated.get(n) or external[n] for n in spec.outputs}
    for name, path in outs.items():
        if name in dated:
            path.parent.mkdir(parents=True, exist_ok=True)
    setattr(flow, f"{step}_inputs", [_ref(n, p) for n, p in ins.items()])
    setattr(flow, f"{step}_code_version", code_version(step, world))
    native = {
        "flow_run": current.run_id,
        "task": current.task_id,
        "retry_count": current.retry_count,
    }
    summary = run_step(step, date, inputs=ins, outputs=outs, native=native)
    for name, path in outs.items():
        if name in dated:
            setattr(flow, f"{name}_uri", str(path))
    setattr(flow, f"{step}_outputs", [_ref(n, p) for n, p in outs.items()])
    setattr(flow, f"{step}_summary", {k: v for k, v in summary.items() if isinstance(v, SCALARS)})
    if step == "evaluate":
        record = json.loads(outs["evaluation"].read_text())
        flow.accuracy = float(record["accuracy"])
        flow.better_than_champion = bool(record["better_than_champion"])
    return summary


def alert_on_failure(run: Any = None) -> None:
    """The flow's exit hook on error (Metaflow passes the Run as ``run``)."""
    alert(run)


def alert(run: Any) -> Path:
    """The exit hook's message to the team's alert sink (``world/alerts``), written
    atomically: the run, its logical date and the steps whose last task failed, as the
    Run object shows them."""
    world = World.from_env()
    now = time.time_ns()
    date, failed = None, []
    if run is not None:
        for s in run:
            for t in s:
                if not t.successful:
                    failed.append(s.id)
                if date is None:
                    with contextlib.suppress(KeyError):
                        date = str(t["logical_date"].data)
    steps = sorted(set(failed))
    message = {
        "t_ns": now,
        "channel": "exit-hook",
        "subject": f"[metaflow] {run.pathspec if run else 'run'} failed "
        f"for {date}: {', '.join(steps) or 'unknown step'}",
        "logical_date": date,
        "step": steps[0] if len(steps) == 1 else None,
        "run": run.pathspec if run is not None else None,
    }
    world.alerts.mkdir(parents=True, exist_ok=True)
    path = world.alerts / f"{ALERT_PREFIX}{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(message))
    tmp.replace(path)
    return path
