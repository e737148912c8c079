"""The oracle: the same steps, in process, with no faults.

It gives the expected final registry/serving state (by model content hash) and the CPU
of every (date, step) (``benchmarks/step_prices.py`` measures the step prices of
``rerun_cost_ratio`` with it). Results are cached per scenario content (faults and
recovery do not change the oracle; the scenario's code changes do, and are applied before
the same dates as in the run).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchbench.scenario import Scenario


@dataclass
class OracleResult:
    champion_sha256: str | None
    production_sha256: str | None
    # "YYYY-MM-DD/step" -> CPU seconds of the clean execution
    cpu_s: dict[str, float] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    # "YYYY-MM-DD/artifact" -> sha256 of the clean artifact
    artifacts: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OracleResult:
        return cls(**d)


def oracle_key(scenario: Scenario) -> str:
    """What the oracle depends on: the data, the dates, the gate, the step code and the
    code changes deployed on which days (not faults/recovery)."""
    basis = {
        "dates": [d.isoformat() for d in scenario.logical_dates()],
        "data": scenario.data.model_dump(),
        "gate": scenario.gate.model_dump(),
        "code": _code_fingerprint(),
        "code_changes": [c.model_dump() for c in scenario.code_changes],
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]


def _code_fingerprint() -> str:
    from orchbench.workflow.repo import fingerprint
    from orchbench.workflow.spec import STEP_NAMES
    from orchbench.wrapper import code_version

    return ",".join([*(code_version(s) for s in STEP_NAMES), fingerprint()])


def run_oracle(scenario: Scenario, cache_dir: Path | None = None) -> OracleResult:
    """Run (or load from ``cache_dir``) the clean in-process execution of the scenario."""
    key = oracle_key(scenario)
    cached = cache_dir / f"{key}.json" if cache_dir else None
    if cached and cached.exists():
        return OracleResult.from_json(json.loads(cached.read_text()))
    # The steps log to stdout like scripts do; the oracle's log is not the CLI's output.
    with (
        tempfile.TemporaryDirectory(prefix="orchbench-oracle-") as tmp,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        result = _execute(scenario, Path(tmp))
    if cached:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp_file = cached.with_suffix(f".{os.getpid()}.tmp")  # bench lanes share the cache
        tmp_file.write_text(json.dumps(result.to_json(), indent=1))
        tmp_file.replace(cached)
    return result


def _execute(scenario: Scenario, tmp: Path) -> OracleResult:
    from orchbench.journal import Journal
    from orchbench.workflow.data import prepare_world
    from orchbench.workflow.paths import dated_paths, step_paths
    from orchbench.workflow.repo import commit_revision
    from orchbench.workflow.spec import STEPS
    from orchbench.wrapper import run_step

    world = prepare_world(tmp / "world", scenario)
    journal = tmp / "journal.jsonl"
    artifacts = tmp / "artifacts"
    for n, day in enumerate(scenario.logical_dates(), start=1):
        for change in scenario.code_changes_on(n):  # as the day loop does before a date
            commit_revision(world, change.step, change.revision)
        paths = dated_paths(artifacts, day)
        for step in STEPS:
            run_step(
                step.name,
                day,
                *step_paths(step.name, paths),
                world=world,
                journal=journal,
                run_id="oracle",
                runner="oracle",
            )
    j = Journal.load(journal)
    res = OracleResult(
        champion_sha256=_model_sha(world.champion),
        production_sha256=_model_sha(world.serving / "production.json"),
    )
    for a in j.attempts:
        key = f"{a.logical_date}/{a.step}"
        res.cpu_s[key] = a.cpu_s or 0.0
        res.wall_s[key] = a.wall_s or 0.0
        for o in a.outputs:
            res.artifacts[f"{a.logical_date}/{o.name}"] = o.sha256
    return res


def _model_sha(pointer: Path) -> str | None:
    try:
        return json.loads(pointer.read_text()).get("model_sha256")
    except FileNotFoundError:
        return None


def final_state(world_root: Path) -> dict[str, str | None]:
    """The registry and serving state a run ended with, by model content hash."""
    from orchbench.world import World

    w = World(world_root)
    return {
        "champion_sha256": _model_sha(w.champion),
        "production_sha256": _model_sha(w.serving / "production.json"),
    }
