"""No capability rule passes on the operator's recovery alone.

Each journal below is a scenario's shape on a system that does nothing for us: it retries
nothing, runs later steps on whatever files are there (cron's shared ``current/`` paths),
alerts no one, and the operator then fixes every broken date by hand, so the run ends
recovered with the right final state. Every rule a scenario is scored by (its
``capabilities`` tags for the report's claims, and the conformance capabilities that
name it) must fail on it: a rule that passes here rewards the operator, not the system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from orchbench.capabilities import CAPABILITIES
from orchbench.claims import CLAIMS
from orchbench.contracts import recovery_plan
from orchbench.metrics import analyse, compute_metrics
from orchbench.oracle import OracleResult
from orchbench.report.capability import PASSING, RULES
from orchbench.report.load import COUNTED
from orchbench.workflow.spec import STEP_NAMES, downstream_from
from tests.conftest import make_scenario
from tests.unit.journal_builder import FIXED_URIS, Builder

D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"
ORACLE = OracleResult(champion_sha256="champ", production_sha256="prod")
FINAL_OK = {"champion_sha256": "champ", "production_sha256": "prod"}
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# scenario -> (what went wrong on day 2, at which step)
SHAPES: dict[str, tuple[str, str]] = {
    "clean": ("nothing", "ingest"),
    "schema_break": ("broken_landing", "validate"),
    "transient_error": ("failed", "train"),
    "transient_error_exhausted": ("failed", "train"),
    "env_mismatch": ("failed", "train"),
    "late_data": ("failed", "ingest"),
    "hang": ("killed", "train"),
    "crash": ("killed", "featurize"),
    "scheduler_crash": ("killed", "featurize"),
    "partial_write": ("torn", "featurize"),
    "silent_corruption": ("bad_landing", "ingest"),
    "corruption_on_promotion_day": ("bad_landing", "ingest"),
    "accuracy_regression": ("bad_landing", "ingest"),
    "missed_days": ("missed", "ingest"),
    "backfill_transient": ("missed", "ingest"),
}


def _torn(b: Builder, aid: str, step: str, date: str) -> None:
    """The attempt reported success over a half-written first output."""
    end = next(r for r in b.records if r.get("attempt_id") == aid and r["type"] == "attempt_end")
    out = end["outputs"][0]
    out["sha256"] = b.files[out["uri"]] = "torn"
    b.fault(aid, step, date, [dict(out)], t_ns=end["end_ns"] - 1)


def _day2(b: Builder, how: str, at: str) -> None:
    if how == "missed":  # the scheduler was down for day 2: nothing ran
        b.fault(None, "ingest", D2, [])  # type: ignore[arg-type]
        b.records[-1].update(kind="missed_days", detail={"dates": [D2]})
        return
    for step in STEP_NAMES:
        if step == at and how in ("failed", "killed"):
            b.step(step, D2, status=how, transient=True)
        elif step == "ingest" and how in ("broken_landing", "bad_landing"):
            b.step(step, D2, tamper={"landing": f"landing-{how}"})
        elif step == at and how == "broken_landing":
            b.step(step, D2, status="failed")
        elif step == at and how == "torn":
            _torn(b, b.step(step, D2), step, D2)
        else:
            b.step(step, D2)  # runs on whatever files are there


def hand_fixed(name: str) -> dict[str, Any]:
    """The run.json metrics of scenario ``name``'s shape, fixed by hand."""
    how, at = SHAPES[name]
    b = Builder(layout="current")
    b.event("run_started")
    b.day(D1)
    _day2(b, how, at)
    b.day(D3)
    b.event("days_finished")
    # the fix: the upstream re-delivers day 2, the registry and serving slots are rolled
    # back to what they held before the run
    b.files[f"landing/{D2}.csv"] = f"landing-{D2}"
    b.files[FIXED_URIS["champion"]] = b.files[FIXED_URIS["serving"]] = None
    plan = recovery_plan(b.journal(), analyse(b.journal()), (D1, D2, D3)).restart_from
    b.event("fix_applied")
    b.event("recovery_started", plan=plan)
    if plan:
        n = b.decide(f"after the fix, re-run {', '.join(sorted(plan))} from ingest")
        for date in sorted(plan):  # from ingest: the shared files hold another date's
            for step in downstream_from("ingest"):
                b.op(f"LOGICAL_DATE={date} {step}.sh", intervention=n)
                b.step(step, date)
    b.event("recovery_finished")
    b.event("run_finished")
    return compute_metrics(b.journal(), [], ORACLE, FINAL_OK, scenario=make_scenario(days=3))


def _tags(name: str) -> list[str]:
    return yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text()).get("capabilities") or []


SHAPED = [n for n in SHAPES if (SCENARIOS / f"{n}.yaml").is_file()]


@pytest.mark.parametrize("name", SHAPED)
def test_the_operator_fixed_everything(name: str) -> None:
    m = hand_fixed(name)
    if name == "clean":
        assert m["human_actions"] == 0
        return
    assert m["recovered"] and m["final_state_correct"] and m["human_actions"] == 1


@pytest.mark.parametrize("name", SHAPED)
def test_no_claim_rule_passes_on_the_operator_alone(name: str) -> None:
    m = hand_fixed(name)
    counted = {f"{k}_n": len(v) for k, v in m.items() if k in COUNTED and v is not None}
    # the system's own scheduler fired the dates (a rule may pass only then)
    fired = {"system": "sys", "fired_by": "sys"}
    row = pd.DataFrame(
        [{**m, **counted, **fired, "harness_assists": None, "lineage_by_fact": None}]
    )
    for claim in _tags(name):
        verdict, text = RULES[claim](row)
        assert verdict not in PASSING, f"{name}: {claim} reads {verdict}: {text}"


@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_no_conformance_capability_is_shown_by_the_operator_alone(capability: str) -> None:
    c = CAPABILITIES[capability]
    assert not c.shown_by(hand_fixed(c.scenario)), f"{capability} on {c.scenario}"


def test_every_dynamic_claim_is_checked_on_some_shape() -> None:
    checked = {claim for name in SHAPED for claim in _tags(name)}
    dynamic = {cid for cid, claim in CLAIMS.items() if not claim.static}
    assert dynamic <= checked, sorted(dynamic - checked)
    assert {c.scenario for c in CAPABILITIES.values()} <= set(SHAPED)
