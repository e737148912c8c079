"""The world a run lives in: landing area, reference data, registry, serving slots, faults.

One directory per run (``<run_dir>/work/world``). Runners decide where their own
intermediate artifacts live (under ``artifacts_dir(runner)`` by convention); everything
that exists outside any pipeline lives here:

    landing/<date>.csv        the day's partition as delivered (faults tamper with it)
    reference/holdout.csv     fixed held-out evaluation set
    reference/profile.json    reference statistics for the drift check
    registry/models/<sha>.json, registry/champion.json
    serving/canary.json, serving/production.json
    faults/state.json         armed/fixed switches of the scenario's faults
    alerts/                   the alert sink (mail, callbacks) runners deliver to
    code/                     the team's git repository of the step code that changes
                              (``orchbench.workflow.repo``: train.py)
    config.json               step parameters from the scenario (gate floor, data spec)

Steps find the world through ``ORCHBENCH_WORLD``; the journal through ``ORCHBENCH_JOURNAL``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_WORLD = "ORCHBENCH_WORLD"
ENV_JOURNAL = "ORCHBENCH_JOURNAL"
ENV_RUN_ID = "ORCHBENCH_RUN_ID"
ENV_RUNNER = "ORCHBENCH_RUNNER"


@dataclass(frozen=True)
class World:
    root: Path

    @classmethod
    def from_env(cls) -> World:
        root = os.environ.get(ENV_WORLD)
        if not root:
            raise RuntimeError(f"{ENV_WORLD} is not set: the step does not know its world")
        return cls(Path(root))

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def landing_partition(self, logical_date: dt.date | str) -> Path:
        return self.landing / f"{logical_date}.csv"

    @property
    def holdout(self) -> Path:
        return self.root / "reference" / "holdout.csv"

    @property
    def reference_profile(self) -> Path:
        return self.root / "reference" / "profile.json"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def champion(self) -> Path:
        return self.registry / "champion.json"

    @property
    def serving(self) -> Path:
        return self.root / "serving"

    @property
    def faults_state(self) -> Path:
        return self.root / "faults" / "state.json"

    @property
    def alerts(self) -> Path:
        return self.root / "alerts"

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def config_path(self) -> Path:
        return self.root / "config.json"

    def artifacts_dir(self, runner: str) -> Path:
        return self.root.parent / "artifacts" / runner

    def config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config_path.read_text())
        except FileNotFoundError:
            return {}

    def create_dirs(self) -> None:
        for d in (
            self.landing,
            self.holdout.parent,
            self.registry / "models",
            self.serving,
            self.faults_state.parent,
            self.alerts,
        ):
            d.mkdir(parents=True, exist_ok=True)


def step_env(world: World, journal: Path, run_id: str, runner: str) -> dict[str, str]:
    """The environment variables a step process needs to find its world and journal."""
    return {
        ENV_WORLD: str(world.root),
        ENV_JOURNAL: str(journal),
        ENV_RUN_ID: run_id,
        ENV_RUNNER: runner,
    }
