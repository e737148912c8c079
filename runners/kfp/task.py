"""What every KFP component body calls: one attempt of a shared step on KFP artifacts.

Runs inside the component's process (the local runner's subprocess, or a pod on a
cluster). The step reads and writes the artifacts' own ``.path`` (KFP assigns the URIs
under ``pipeline_root``), so the file a downstream task receives is the file the step
wrote. After a successful step each output artifact gets, as KFP metadata (what KFP keeps
and shows for an artifact): ``sha256`` of its content, ``logical_date``, the step's
summary, and ``reads``/``writes``: the files the step used outside KFP's artifact passing
(landing partition, reference data, registry, serving slots) with their sha256. KFP does
not hash artifact content itself; putting the hash and the external sources in artifact
metadata is the usual way KFP users make lineage checkable (the choice is ours; see the
runner README).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchbench.containers.inside import container_facts
from orchbench.hashing import sha256_path
from orchbench.workflow.spec import STEP_BY_NAME
from orchbench.world import World
from orchbench.wrapper import default_paths, run_step

SCALARS = (bool, int, float, str)


def _refs(world: World, logical_date: str, names: list[str]) -> list[dict[str, Any]]:
    import datetime as dt

    paths = default_paths(world, dt.date.fromisoformat(logical_date))
    return [{"name": n, "uri": str(paths[n]), "sha256": sha256_path(paths[n])} for n in names]


def run(
    step: str, logical_date: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Run ``step`` for ``logical_date`` with KFP input/output artifacts (by step artifact
    name); annotate the outputs' metadata; return the step's summary."""
    spec = STEP_BY_NAME[step]
    world = World.from_env()
    in_paths = {name: Path(a.path) for name, a in inputs.items()}
    out_paths = {name: Path(a.path) for name, a in outputs.items()}
    for p in out_paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    external_in = [n for n in spec.inputs if n not in inputs]
    external_out = [n for n in spec.outputs if n not in outputs]
    reads = _refs(world, logical_date, external_in)  # before the step changes them
    first = next(iter(out_paths.values()))
    native = {"pipeline_run": first.parent.parent.name, "task": first.parent.name}
    native |= container_facts()  # kfp-docker: the container's id and its memory limit
    summary = run_step(step, logical_date, inputs=in_paths, outputs=out_paths, native=native)
    writes = _refs(world, logical_date, external_out)
    for name, artifact in outputs.items():
        artifact.metadata["sha256"] = sha256_path(out_paths[name])
        artifact.metadata["logical_date"] = logical_date
        artifact.metadata["step"] = step
        artifact.metadata["reads"] = reads
        artifact.metadata["writes"] = writes
        for k, v in summary.items():
            if isinstance(v, SCALARS):
                artifact.metadata[k] = v
    return summary


ALERT_PREFIX = "kfp-"  # the alert sink's files this runner writes: kfp-<uuid>.json


def alert(logical_date: str, state: str, group: str, error: str | None) -> Path:
    """The exit handler's message to the team's alert sink (``world/alerts``), written
    atomically; returns its path."""
    import json
    import time
    import uuid

    world = World.from_env()
    now = time.time_ns()
    message = {
        "t_ns": now,
        "channel": "exit-handler",
        "subject": f"[kfp] daily-retraining {state} for {logical_date}: {error or group}",
        "logical_date": logical_date,
        "step": None,  # the final status names the ExitHandler block, not the step
        "state": state,
    }
    world.alerts.mkdir(parents=True, exist_ok=True)
    path = world.alerts / f"{ALERT_PREFIX}{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(message))
    tmp.replace(path)
    return path
