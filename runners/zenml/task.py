"""What every ZenML step body calls: one attempt of a shared step on file artifacts.

Runs inside the step (the local orchestrator runs each step in the run's own process).
A dated artifact is a file the shared step writes under the active stack's artifact store
(``<store>/orchbench/<date>/<step run id>/<name>``, so every attempt has its own files);
what the step returns to ZenML is a small reference artifact ``{uri, sha256,
logical_date, step}`` per output. ZenML hashes that value into the downstream steps' cache
keys (``BuiltInMaterializer.compute_content_hash``), so a changed file changes the cache
key; a bare path string would not. Hashing the file is lineage code of ours
(``practiced`` in the trace); the artifact version, its store URI and its producer step
run are ZenML's own records.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

from orchbench.hashing import sha256_path
from orchbench.workflow.spec import STEP_BY_NAME
from orchbench.world import World
from orchbench.wrapper import default_paths, run_step

Ref = dict[str, Any]
ALERT_PREFIX = "zenml-"  # the alert sink's files this runner writes: zenml-<uuid>.json


def _external(world: World, logical_date: str, names: list[str]) -> list[Ref]:
    paths = default_paths(world, dt.date.fromisoformat(logical_date))
    return [{"name": n, "uri": str(paths[n]), "sha256": sha256_path(paths[n])} for n in names]


def run(step: str, logical_date: str, inputs: dict[str, Ref]) -> tuple[dict[str, Ref], dict]:
    """Run ``step`` for ``logical_date`` on the upstream reference artifacts ``inputs``
    (by artifact name). Returns the output references (by name) and the step's summary."""
    from zenml import get_step_context
    from zenml.client import Client

    spec = STEP_BY_NAME[step]
    world = World.from_env()
    context = get_step_context()
    store = Path(Client().active_stack.artifact_store.path)
    out_dir = store / "orchbench" / logical_date / str(context.step_run.id)
    out_dir.mkdir(parents=True, exist_ok=True)
    in_paths = {name: Path(ref["uri"]) for name, ref in inputs.items()}
    out_paths = {n: out_dir / n for n in _dated(step)}
    native = {
        "pipeline_run": str(context.pipeline_run.id),
        "step_run": str(context.step_run.id),
    }
    reads = _external(world, logical_date, [n for n in spec.inputs if n not in inputs])
    summary = run_step(step, logical_date, inputs=in_paths, outputs=out_paths, native=native)
    writes = _external(world, logical_date, [n for n in spec.outputs if n not in out_paths])
    refs = {
        name: {
            "name": name,
            "uri": str(path),
            "sha256": sha256_path(path),
            "logical_date": logical_date,
            "step": step,
            "reads": reads,
            "writes": writes,
        }
        for name, path in out_paths.items()
    }
    return refs, summary


def _dated(step: str) -> tuple[str, ...]:
    from orchbench.workflow.spec import ARTIFACTS

    return tuple(n for n in STEP_BY_NAME[step].outputs if ARTIFACTS[n].kind == "dated")


def alert(logical_date: str, step: str | None, run_name: str, error: str) -> Path:
    """The ``on_failure`` hook's message to the team's alert sink (``world/alerts``),
    written atomically; returns its path."""
    world = World.from_env()
    message = {
        "t_ns": time.time_ns(),
        "channel": "on_failure-hook",
        "subject": f"[zenml] {run_name}: step {step} failed for {logical_date}: {error}",
        "logical_date": logical_date,
        "step": step,
        "run": run_name,
    }
    world.alerts.mkdir(parents=True, exist_ok=True)
    path = world.alerts / f"{ALERT_PREFIX}{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(message))
    tmp.replace(path)
    return path
