"""The step wrapper around real steps, and the two fault kinds acting through it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fault_injection import hooks
from fault_injection.kinds.transient_error import TransientStepError
from orchbench.hashing import sha256_path
from orchbench.journal import Journal
from orchbench.workflow.paths import dated_paths
from orchbench.workflow.spec import STEPS
from orchbench.workflow.steps import ValidationFailed
from orchbench.world import World
from tests.unit.step_helpers import arm_fault, run_one

D1, D2 = "2026-01-01", "2026-01-02"


def _day(world: World, journal: Path, day: str, root: Path) -> None:
    for s in STEPS:
        run_one(world, journal, s.name, day, root)


def test_wrapper_journals_every_attempt_with_hashes(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    _day(world, journal, D1, tmp_path / "a")
    j = Journal.load(journal)
    assert [a.step for a in j.attempts] == [s.name for s in STEPS]
    for a in j.attempts:
        assert a.status == "success" and a.attempt == 1
        assert a.cpu_s is not None and a.cpu_s >= 0 and a.end_ns >= a.start_ns
        assert a.code_version and len(a.code_version) == 16
        for o in a.outputs:
            assert o.sha256 == sha256_path(o.uri) or o.name in ("champion", "serving")
    ingest = j.attempts[0]
    assert ingest.inputs[0].sha256 == sha256_path(world.landing_partition(D1))
    reg = next(a for a in j.attempts if a.step == "register")
    assert reg.result["registered"] is True  # first model: no champion yet
    champion = json.loads(world.champion.read_text())
    prod = json.loads((world.serving / "production.json").read_text())
    assert champion["model_sha256"] == prod["model_sha256"] == reg.result["model_sha256"]


def test_same_inputs_same_bytes(small_world, tmp_path: Path) -> None:
    """Steps are pure: the same day run twice gives byte-identical dated artifacts."""
    world, journal = small_world
    _day(world, journal, D1, tmp_path / "a")
    _day(world, journal, D1, tmp_path / "b")
    a, b = dated_paths(tmp_path / "a", D1), dated_paths(tmp_path / "b", D1)
    for name in ("raw", "validated", "features", "model"):  # evaluation reads the champion
        assert sha256_path(a[name]) == sha256_path(b[name]), name


def test_failed_step_is_journaled_and_raises(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    world.landing_partition(D1).unlink()
    with pytest.raises(FileNotFoundError):
        run_one(world, journal, "ingest", D1, tmp_path)
    a = Journal.load(journal).attempts[0]
    assert a.status == "failed" and a.error_type == "FileNotFoundError" and a.outputs == []


def test_an_attempt_cut_while_its_imports_load_is_journaled(
    small_world, tmp_path: Path, monkeypatch
) -> None:
    """A system's interrupt while the step's heavy imports load (before the measured work)
    still leaves a journaled attempt, failed, as the system records one (Dagster's
    multiprocess executor forwarding SIGTERM, seen in a scheduler_crash run)."""
    from orchbench.workflow import steps

    def interrupted(step: str) -> None:
        raise KeyboardInterrupt

    world, journal = small_world
    monkeypatch.setattr(steps, "preload", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_one(world, journal, "train", D1, tmp_path)
    (a,) = Journal.load(journal).attempts
    assert (a.step, a.status, a.error_type, a.attempt) == (
        "train",
        "failed",
        "KeyboardInterrupt",
        1,
    )
    assert a.end_ns >= a.start_ns and a.outputs == []


def test_schema_break_activates_fails_validation_and_fix_restores(small_world, tmp_path) -> None:
    world, journal = small_world
    clean = sha256_path(world.landing_partition(D2))
    arm_fault(world, "schema_break", D2, "ingest", {"rename": {"amount": "amount_usd"}})
    run_one(world, journal, "ingest", D1, tmp_path)  # other date: untouched
    run_one(world, journal, "ingest", D2, tmp_path)
    with pytest.raises(ValidationFailed, match="schema"):
        run_one(world, journal, "validate", D2, tmp_path)
    j = Journal.load(journal)
    assert len(j.faults) == 1
    f = j.faults[0]
    assert f["kind"] == "schema_break" and f["logical_date"] == D2 and f["step"] == "ingest"
    assert f["attempt_id"] == j.attempts[1].attempt_id
    assert f["affected"][0]["sha256"] != clean
    assert "amount_usd" in world.landing_partition(D2).read_text().splitlines()[0]
    assert hooks.fix_all(world) == ["f1"]
    assert sha256_path(world.landing_partition(D2)) == clean
    run_one(world, journal, "ingest", D2, tmp_path)  # the fixed world: no new activation
    run_one(world, journal, "validate", D2, tmp_path)
    assert len(Journal.load(journal).faults) == 1


@pytest.mark.parametrize("variant", [{"retype": {"amount": "str"}}, {"drop": ["discount"]}])
def test_schema_break_variants_fail_validation(small_world, tmp_path, variant) -> None:
    world, journal = small_world
    arm_fault(world, "schema_break", D1, "validate", variant)
    run_one(world, journal, "ingest", D1, tmp_path)
    with pytest.raises(ValidationFailed):
        run_one(world, journal, "validate", D1, tmp_path)


def test_transient_error_raises_first_n_attempts(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    arm_fault(world, "transient_error", D1, "ingest", {"failures": 2})
    for _ in range(2):
        with pytest.raises(TransientStepError):
            run_one(world, journal, "ingest", D1, tmp_path)
    run_one(world, journal, "ingest", D1, tmp_path)
    j = Journal.load(journal)
    assert [a.status for a in j.attempts] == ["failed", "failed", "success"]
    assert [a.attempt for a in j.attempts] == [1, 2, 3]
    assert [f["detail"]["failure"] for f in j.faults] == [1, 2]


def test_fixed_transient_error_stops_raising(small_world, tmp_path: Path) -> None:
    world, journal = small_world
    arm_fault(world, "transient_error", D1, "ingest", {"failures": 5})
    with pytest.raises(TransientStepError):
        run_one(world, journal, "ingest", D1, tmp_path)
    hooks.fix_all(world)
    run_one(world, journal, "ingest", D1, tmp_path)
