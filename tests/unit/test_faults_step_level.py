"""The step-level fault kinds acting through the real wrapper and steps (no runner)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from fault_injection import hooks
from fault_injection.scenario_faults import parse_checked
from orchbench.hashing import sha256_path
from orchbench.journal import Journal
from orchbench.scenario import ScenarioError
from orchbench.workflow.paths import dated_paths
from orchbench.world import World
from tests.unit.step_helpers import arm_fault, run_one

D1, D2 = "2026-01-01", "2026-01-02"
REPO = Path(__file__).resolve().parents[2]


def _upto(world: World, journal: Path, day: str, root: Path, last: str) -> None:
    from orchbench.workflow.spec import STEP_NAMES

    for s in STEP_NAMES[: STEP_NAMES.index(last) + 1]:
        run_one(world, journal, s, day, root)


CHILD = """
import sys
from pathlib import Path
from orchbench.workflow.paths import dated_paths, step_paths
from orchbench.world import World
from orchbench.wrapper import run_step
world, journal, root, step, day = sys.argv[1:]
run_step(step, day, *step_paths(step, dated_paths(Path(root), day)), world=World(Path(world)),
         journal=Path(journal), run_id="r1", runner="test")
"""


def _child(world: World, journal: Path, root: Path, step: str, day: str) -> subprocess.Popen:
    args = [sys.executable, "-c", CHILD, str(world.root), str(journal), str(root), step, day]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, cwd=REPO)


def _wait_for(pred, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize("mode", ["sleep", "block"])
def test_hang_never_returns_and_leaves_a_heartbeat(small_world, tmp_path, mode) -> None:
    world, journal = small_world
    arm_fault(world, "hang", D1, "ingest", {"mode": mode, "attempts": 1})
    p = _child(world, journal, tmp_path, "ingest", D1)
    try:
        beats = journal.parent / "heartbeats"
        _wait_for(lambda: beats.is_dir() and any(beats.glob("*.json")))
        assert p.poll() is None  # still hanging
    finally:
        p.kill()
        p.wait()
    j = Journal.load(journal)
    [a] = j.attempts
    assert a.status == "killed" and a.heartbeat_cpu_s is not None and a.heartbeat_ns
    [f] = j.faults
    assert f["kind"] == "hang" and f["detail"] == {"attempt": 1, "mode": mode}
    run_one(world, journal, "ingest", D1, tmp_path)  # attempts: 1, so the retry runs
    assert Journal.load(journal).attempts[-1].status == "success"


def test_crash_kills_the_process_after_recording(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    arm_fault(world, "crash", D1, "featurize", {"memory_mb": 20, "attempts": 1})
    _upto(world, journal, D1, tmp_path, "validate")
    p = _child(world, journal, tmp_path, "featurize", D1)
    assert p.wait(timeout=60) == -9
    j = Journal.load(journal)
    assert j.attempts[-1].step == "featurize" and j.attempts[-1].status == "killed"
    detail = j.faults[0]["detail"]
    assert detail["attempt"] == 1 and detail["memory_mb"] == 20
    assert "memory_limit_bytes" in detail  # journaled before the ballast grows
    assert not dated_paths(tmp_path, D1)["features"].exists()
    run_one(world, journal, "featurize", D1, tmp_path)


def test_crash_every_attempt_until_fixed(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    arm_fault(world, "crash", D1, "ingest", {})
    for _ in range(2):
        assert _child(world, journal, tmp_path, "ingest", D1).wait(timeout=60) == -9
    hooks.fix_all(world)
    run_one(world, journal, "ingest", D1, tmp_path)
    assert [a.status for a in Journal.load(journal).attempts] == ["killed", "killed", "success"]


def test_silent_corruption_flips_labels_same_schema_and_fix_restores(small_world, tmp_path):
    world, journal = small_world
    arm_fault(world, "silent_corruption", D1, "featurize", {"flip_labels": 0.3, "seed": 1})
    _upto(world, journal, D1, tmp_path, "validate")
    validated = dated_paths(tmp_path, D1)["validated"]
    before = pd.read_csv(validated)
    run_one(world, journal, "featurize", D1, tmp_path)
    after = pd.read_csv(validated)
    assert list(after.columns) == list(before.columns)
    flipped = (after["label"] != before["label"]).mean()
    assert 0.2 < flipped < 0.4
    [f] = Journal.load(journal).faults
    assert f["affected"][0]["sha256"] == sha256_path(validated)
    hooks.fix_all(world)
    assert pd.read_csv(validated).equals(before)


def test_silent_corruption_shift_is_applied_to_the_column(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    arm_fault(world, "silent_corruption", D1, "validate", {"shift": {"column": "hour", "by": 3}})
    run_one(world, journal, "ingest", D1, tmp_path)
    raw = dated_paths(tmp_path, D1)["raw"]
    hours = pd.read_csv(raw)["hour"]
    with contextlib.suppress(Exception):  # validation may or may not catch it: runs measure
        run_one(world, journal, "validate", D1, tmp_path)
    assert (pd.read_csv(raw)["hour"] == hours + 3).all()


def test_silent_corruption_params_are_checked_against_the_step() -> None:
    text = """
schema: orchbench.scenario/1
name: t
claim: a test scenario claim
faults: [{kind: silent_corruption, day: 1, at: train, params: {shift: {column: amount, by: 1}}}]
"""
    with pytest.raises(
        ScenarioError, match=r"faults\.0\.params: shift\.column 'amount'.*log_amount"
    ):
        parse_checked(text, "x.yaml")


def test_accuracy_regression_makes_a_worse_model_the_gate_blocks(small_world, tmp_path) -> None:
    world, journal = small_world
    _upto(world, journal, D1, tmp_path, "canary")  # day 1's model becomes champion
    arm_fault(world, "accuracy_regression", D2, "train", {"method": "invert"})
    _upto(world, journal, D2, tmp_path, "evaluate")
    ev = json.loads(dated_paths(tmp_path, D2)["evaluation"].read_text())
    assert ev["accuracy"] < ev["champion_accuracy"] and ev["deploy"] is False
    j = Journal.load(journal)
    train = next(a for a in j.attempts if a.step == "train" and a.logical_date == D2)
    [f] = j.faults
    assert f["affected"][0]["sha256"] == train.outputs[0].sha256
    hooks.fix_all(world)
    run_one(world, journal, "train", D2, tmp_path)
    assert len(Journal.load(journal).faults) == 1


def test_partial_write_truncates_an_output_and_reports_success(small_world, tmp_path) -> None:
    world, journal = small_world
    arm_fault(world, "partial_write", D1, "featurize", {"keep_fraction": 0.4})
    _upto(world, journal, D1, tmp_path, "featurize")
    feats = dated_paths(tmp_path, D1)["features"]
    j = Journal.load(journal)
    a = j.attempts[-1]
    [f] = j.faults
    assert a.status == "success" and a.outputs[0].sha256 == f["affected"][0]["sha256"]
    assert f["detail"]["bytes_after"] == feats.stat().st_size < f["detail"]["bytes_before"]
    run_one(world, journal, "featurize", D1, tmp_path)  # attempts: 1 by default
    assert feats.stat().st_size == f["detail"]["bytes_before"]


def test_partial_write_artifact_must_be_an_output_of_the_step() -> None:
    text = """
schema: orchbench.scenario/1
name: t
claim: a test scenario claim
faults: [{kind: partial_write, day: 1, at: train, params: {artifact: features}}]
"""
    with pytest.raises(ScenarioError, match="allowed: model"):
        parse_checked(text, "x.yaml")


def test_env_mismatch_fails_in_a_shared_env_and_is_silent_where_the_version_is_there(
    small_world, tmp_path
) -> None:
    from importlib import metadata

    from fault_injection import catalog
    from fault_injection.kinds.env_mismatch import EnvironmentMismatch

    world, journal = small_world
    have = metadata.version("scikit-learn")
    _upto(world, journal, D1, tmp_path, "featurize")
    arm_fault(world, "env_mismatch", D1, "train", {"package": "scikit-learn", "version": "0.1"})
    wanted = rf"needs scikit-learn==0\.1; .* has scikit-learn=={have}"
    with pytest.raises(EnvironmentMismatch, match=wanted):
        run_one(world, journal, "train", D1, tmp_path)
    [f] = Journal.load(journal).faults
    assert f["kind"] == "env_mismatch" and f["detail"]["has"] == have
    hooks.fix_all(world)
    run_one(world, journal, "train", D1, tmp_path)  # reverted: the shared pin is fine again
    # an environment that has the version (what a per-step image gives): no fault at all
    arm_fault(world, "env_mismatch", D2, "ingest", {"package": "scikit-learn", "version": have})
    run_one(world, journal, "ingest", D2, tmp_path)
    assert len(Journal.load(journal).faults) == 1
    s = parse_checked(
        "schema: orchbench.scenario/1\nname: e\nclaim: a step needs another version\ndays: 2\n"
        "faults:\n"
        "  - {kind: env_mismatch, day: 2, at: train, params: {version: '1.8.0'}}\n"
    )
    # what a runner reads (RunContext.requirements): the declaration, never the fault state
    assert catalog.requirements(s) == {
        (s.date_of_day(2).isoformat(), "train"): ["scikit-learn==1.8.0"]
    }
