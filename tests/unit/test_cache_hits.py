"""stale_cache_hits on hand-made journals and traces; the redelivery fault through the wrapper."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from fault_injection import catalog, hooks
from fault_injection import state as fault_state
from orchbench.cache_hits import stale_cache_hits
from orchbench.hashing import sha256_path
from orchbench.journal import REDELIVERED, Journal
from orchbench.trace import task_attempt
from orchbench.workflow.data import prepare_world
from orchbench.workflow.paths import dated_paths
from orchbench.workflow.spec import STEP_NAMES
from orchbench.world import World
from tests.conftest import make_scenario
from tests.unit.journal_builder import Builder, S, ref
from tests.unit.step_helpers import arm_fault, run_one

D1, D2 = "2026-01-01", "2026-01-02"
UPTO_EVALUATE = STEP_NAMES[: STEP_NAMES.index("evaluate") + 1]


def hits(b: Builder, date: str, steps: tuple[str, ...] | list[str] = STEP_NAMES) -> list[dict]:
    """The system's records of serving each step of ``date`` from its cache, now."""
    b.t += S
    return [
        task_attempt(logical_date=date, step=s, state="cached", source="test", start_ns=b.t + k)
        for k, s in enumerate(steps)
    ]


def first_delivery_then_redelivered(b: Builder, date: str) -> None:
    """The date ran on a first delivery (ingest read tampered content); at the fix the
    upstream put the original content back under the same path."""
    b.step("ingest", date, tamper={"landing": "first-delivery"})
    for s in STEP_NAMES[1:]:
        b.step(s, date)
    b.event("fix_applied")
    uri = b.uri("landing", date)
    b.files[uri] = f"landing-{date}"
    b.event(REDELIVERED, artifacts=[ref("landing", uri, b.files[uri])])


def test_hits_after_the_landing_was_redelivered_are_stale_down_the_whole_chain() -> None:
    b = Builder()
    b.day(D1)
    first_delivery_then_redelivered(b, D2)
    trace = hits(b, D2)
    assert stale_cache_hits(b.journal(), trace) == len(STEP_NAMES)
    # the same hits before the redelivery served what the landing then held
    early = [{**r, "start_ns": b.journal().harness_time("fix_applied")} for r in trace]
    assert stale_cache_hits(b.journal(), early) == 0


def test_a_hit_on_unchanged_inputs_is_not_stale() -> None:
    b = Builder()
    b.day(D1)
    first_delivery_then_redelivered(b, D2)
    # D1's inputs never changed (register wrote the champion it read: its own write)
    assert stale_cache_hits(b.journal(), hits(b, D1, UPTO_EVALUATE[:4])) == 0
    c = Builder()
    c.day(D1)
    c.day(D2)  # D2's register read D1's champion and wrote its own (state: not counted)
    assert stale_cache_hits(c.journal(), hits(c, D2)) == 0


def test_no_cache_no_stale_hits_and_a_recompute_makes_later_hits_fresh() -> None:
    b = Builder()
    first_delivery_then_redelivered(b, D1)
    rerun = b.day(D1)  # the recovery ran every step on the new content
    trace = [
        task_attempt(logical_date=D1, step=s, state="success", source="test", start_ns=b.t)
        for s in rerun
    ]
    assert stale_cache_hits(b.journal(), trace) == 0
    # a later hit may serve the recomputed result: not stale
    assert stale_cache_hits(b.journal(), hits(b, D1, UPTO_EVALUATE)) == 0


def test_a_hit_with_no_journaled_result_is_not_judged() -> None:
    b = Builder()
    first_delivery_then_redelivered(b, D1)
    assert stale_cache_hits(b.journal(), hits(b, D2)) == 0


def test_a_new_champion_alone_does_not_make_a_cached_evaluate_stale() -> None:
    b = Builder()
    b.day(D1, upto="evaluate")
    b.files[b.uri("champion", D1)] = "another-champion"  # a later registration
    b.step("register", D2)  # reads the new champion: the journal sees it
    assert stale_cache_hits(b.journal(), hits(b, D1, ["evaluate"])) == 0


def _upto(world: World, journal: Path, day: str, root: Path, last: str) -> None:
    for s in STEP_NAMES[: STEP_NAMES.index(last) + 1]:
        run_one(world, journal, s, day, root)


def test_redelivery_fault_lands_a_valid_subset_before_the_date_fires_then_the_full_file(
    tmp_path: Path,
) -> None:
    scenario = make_scenario(faults=[{"kind": "redelivery", "day": 1, "at": "ingest"}])
    world = prepare_world(tmp_path / "world", scenario)
    fault_state.arm(world, [{"kind": "redelivery", "logical_date": D1, "at": "ingest"}])
    journal = tmp_path / "journal.jsonl"
    ctx = SimpleNamespace(world=world, journal=journal, run_id="r1")
    landing = world.landing_partition(D1)
    full, full_sha = pd.read_csv(landing), sha256_path(landing)
    [handler] = catalog.scheduler_faults(scenario)
    assert handler.fires(None, ctx, scenario.date_of_day(2))  # another date: untouched
    assert sha256_path(landing) == full_sha
    assert handler.fires(None, ctx, scenario.date_of_day(1))
    first_sha = sha256_path(landing)
    _upto(world, journal, D1, tmp_path, "validate")  # the first delivery passes validation
    raw = pd.read_csv(dated_paths(tmp_path, D1)["raw"])
    assert 0.6 * len(full) < len(raw) < 0.8 * len(full)
    j = Journal.load(journal)
    [fault] = j.faults
    assert fault["attempt_id"] is None and fault["affected"] == [
        {"name": "landing", "uri": str(landing), "sha256": first_sha}
    ]
    assert j.attempts[0].inputs[0].sha256 == first_sha  # the system saw it from the start
    hooks.fix_all(world)
    assert sha256_path(landing) == full_sha
    j = Journal.load(journal)
    [event] = [h for h in j.harness if h["event"] == REDELIVERED]
    assert event["artifacts"] == [{"name": "landing", "uri": str(landing), "sha256": full_sha}]
    # a cache that served D1's results now is stale; re-running ingest is not
    served = [
        task_attempt(logical_date=D1, step=s, state="cached", source="test", start_ns=None)
        for s in ("ingest", "validate")
    ]
    assert stale_cache_hits(j, served) == 2
    run_one(world, journal, "ingest", D1, tmp_path)
    assert len(pd.read_csv(dated_paths(tmp_path, D1)["raw"])) == len(full)


def test_every_table_fault_journals_what_its_fix_put_back(
    small_world: tuple[World, Path], tmp_path: Path
) -> None:
    world, journal = small_world
    arm_fault(world, "silent_corruption", D1, "featurize", {"flip_labels": 0.3, "seed": 1})
    _upto(world, journal, D1, tmp_path, "featurize")
    validated = dated_paths(tmp_path, D1)["validated"]
    hooks.fix_all(world)
    [event] = [h for h in Journal.load(journal).harness if h["event"] == REDELIVERED]
    assert event["artifacts"] == [
        {"name": "validated", "uri": str(validated), "sha256": sha256_path(validated)}
    ]
