"""The faults' switches: armed or fixed, with per-fault counters, in ``faults/state.json``.

Activations are counted here only (``activate``, ``count_activation``)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchbench import contracts
from orchbench.world import World


def arm(world: World, faults: list[dict[str, Any]]) -> None:
    """Write the scenario's faults as armed switches (ids: ``orchbench.contracts.fault_id``)."""
    state = {
        "faults": [
            {"id": contracts.fault_id(i), **f, "fixed": False, "activations": 0, "backups": {}}
            for i, f in enumerate(faults)
        ]
    }
    world.faults_state.parent.mkdir(parents=True, exist_ok=True)
    world.faults_state.write_text(json.dumps(state, indent=1))


@contextmanager
def locked(world: World) -> Iterator[dict[str, Any]]:
    """Read-modify-write the state under an exclusive lock; changes are saved on exit."""
    path = world.faults_state
    if not path.exists():
        yield {"faults": []}
        return
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(fd, "r+", closefd=False) as f:
            state = json.load(f)
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state, indent=1))
                os.replace(tmp, path)
    finally:
        os.close(fd)


def read(world: World) -> dict[str, Any]:
    try:
        return json.loads(world.faults_state.read_text())
    except FileNotFoundError:
        return {"faults": []}


def backup_dir(world: World, fault_id: str) -> Path:
    return world.faults_state.parent / "backup" / fault_id


def activate(world: World, fault_id: str, limit: int | None = None) -> int | None:
    """Count one activation of an armed fault and return its number (1-based).

    None when the fault is fixed or already activated ``limit`` times (None: no limit).
    Read and increment happen under the state lock, so concurrent attempts agree.
    """
    with locked(world) as st:
        f = next((f for f in st["faults"] if f["id"] == fault_id), None)
        if f is None or f["fixed"] or (limit is not None and f["activations"] >= limit):
            return None
        return count_activation(f)


def count_activation(fault: dict[str, Any]) -> int:
    """Count one activation on a fault's record the caller holds under ``locked`` (to change
    more of the record in the same step); returns its number (1-based). ``activate`` is
    the whole step for a fault that changes nothing else."""
    fault["activations"] += 1
    return int(fault["activations"])
