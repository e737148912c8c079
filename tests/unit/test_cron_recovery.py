"""What the cron operators re-run and type, on hand-made plans (no daemon is started).

Naive cron's scripts share fixed ``current/`` files, so a date restarts from its broken
step only when it is the last date and nothing was re-run before it; cron-hardened's
dates have their own directories, so its plan is the harness's, carried out with one
``rerun.sh DATE... --from STEP`` per group of consecutive dates restarting from one step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench.contracts import RecoveryPlan
from orchbench.journal import Journal
from orchbench.runner import RunContext
from orchbench.scenario import load_scenario
from runners.cron.adapter import CronRunner, HardenedCronRunner
from tests.conftest import run_context

D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"


def _ctx(tmp_path: Path, days: int = 3) -> RunContext:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"schema: orchbench.scenario/1\nname: s\nclaim: a test scenario claim\ndays: {days}\n"
    )
    return run_context(tmp_path, load_scenario(path), "cron")


def test_naive_restarts_every_date_after_an_earlier_rerun_from_ingest(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    assert [d.isoformat() for d in ctx.dates] == [D1, D2, D3]
    plan = RecoveryPlan({D1: "validate", D3: "train"})
    # D1 is not the last date: D2 and D3 ran after it and overwrote current/
    assert CronRunner().operator_plan(ctx, plan).restart_from == {D1: "ingest", D3: "ingest"}


def test_naive_restarts_the_last_date_alone_from_its_broken_step(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    plan = RecoveryPlan({D3: "train"})
    assert CronRunner().operator_plan(ctx, plan).restart_from == {D3: "train"}
    # an earlier date alone is not the last: current/ holds D3's files
    assert CronRunner().operator_plan(ctx, RecoveryPlan({D2: "train"})).restart_from == {
        D2: "ingest"
    }


def test_hardened_keeps_the_plan(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    plan = RecoveryPlan({D1: "validate", D3: "train"})
    assert HardenedCronRunner().operator_plan(ctx, plan) == plan


def _typed(runner: CronRunner, ctx: RunContext, plan: RecoveryPlan) -> list[str]:
    ran: list[str] = []
    runner._run_by_hand = lambda _ctx, command: ran.append(command) or 0  # type: ignore[method-assign]
    ctx.intervention("after the fix, re-run the plan")
    runner.recover(ctx, plan)
    return ran


def test_hardened_types_one_rerun_per_group_of_dates_from_one_step(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    plan = RecoveryPlan({D3: "train", D1: "validate", D2: "validate"})
    typed = _typed(HardenedCronRunner(), ctx, plan)
    assert [c.split(" ", 1)[1] for c in typed] == [
        f"{D1} {D2} --from validate",
        f"{D3} --from train",
    ]
    assert all(c.split(" ", 1)[0].endswith("/scripts/hardened/rerun.sh") for c in typed)
    journal = Journal.load(ctx.journal)
    assert journal.human_actions == 1
    assert [a["command"] for a in journal.operator_actions] == typed


def test_hardened_keeps_date_order_across_groups(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    plan = RecoveryPlan({D1: "validate", D2: "ingest", D3: "validate"})
    typed = _typed(HardenedCronRunner(), ctx, plan)
    assert [c.split(" ", 1)[1] for c in typed] == [
        f"{D1} --from validate",
        f"{D2} --from ingest",
        f"{D3} --from validate",
    ]


def test_naive_types_one_command_per_script(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    typed = _typed(CronRunner(), ctx, RecoveryPlan({D3: "register"}))
    assert len(typed) == 2
    assert typed[0].startswith(f"LOGICAL_DATE={D3} ") and "/naive/register.sh" in typed[0]
    assert "/naive/canary.sh" in typed[1]


@pytest.mark.parametrize("profile", ["default", "pipeline"])
def test_hardened_crontab_lines(tmp_path: Path, profile: str) -> None:
    ctx = _ctx(tmp_path)
    tab = HardenedCronRunner(profile).crontab(ctx, D1)
    jobs = [line for line in tab.splitlines() if line[:1].isdigit()]
    if profile == "pipeline":
        assert len(jobs) == 1 and jobs[0].startswith("0 2 * * * ")
        assert jobs[0].endswith("/scripts/hardened/pipeline.sh")
    else:
        assert len(jobs) == 7 and "pipeline.sh" not in tab


def test_naive_cron_has_no_pipeline_profile() -> None:
    with pytest.raises(ValueError, match="no profile"):
        CronRunner("pipeline")
