"""A scheduler-level fault kind defined only in a test (``tests/unit/test_dayloop.py``)
takes effect on real systems: the base runner's day loop handles it, no adapter knows it.

Every runner, default profile: cron's own daemon fires the dates, the others are triggered
per date by the harness, so both ways a date is fired are covered. The step processes run
outside this interpreter and never learn the kind (``step_hooks`` is off), so they must
not need it. A runner whose environment is missing here is skipped, with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench import plugins
from orchbench.harness import make_runner, run_scenario
from orchbench.runner import EnvironmentMissing
from tests.unit.test_dayloop import assert_paused_and_correct, pause_kind, pause_scenario

__all__ = ["pause_kind"]  # the fixture, used by name

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("runner_name", sorted(plugins.all_plugins()))
def test_a_test_only_scheduler_fault_takes_effect(
    runner_name: str, pause_kind: str, tmp_path: Path
) -> None:
    runner = make_runner(runner_name, "default")
    try:
        runner.check_environment()
    except EnvironmentMissing as e:
        pytest.skip(str(e))
    out = run_scenario(pause_scenario(tmp_path, rows=2000), runner_name, out_root=tmp_path / "r")
    assert_paused_and_correct(out)
