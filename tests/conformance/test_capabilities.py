"""Each runner's declared capabilities (``capabilities`` in its ``plugin.py``) against its
conformance runs, both ways: a declared capability must show in the run of its scenario
(``orchbench.capabilities``), and one that shows must be declared. A capability a runner
declares to vary (``capabilities_vary``: a race in the system) is skipped, with why."""

from __future__ import annotations

import pytest

from orchbench import plugins
from orchbench.capabilities import CAPABILITIES
from tests.conformance import scenarios
from tests.conformance.bench import Bench, runner_names
from tests.conformance.test_properties import completed

pytestmark = pytest.mark.slow


def test_every_capability_has_a_conformance_scenario() -> None:
    assert {c.scenario for c in CAPABILITIES.values()} <= set(scenarios.SCENARIOS)


@pytest.mark.parametrize("capability", list(CAPABILITIES))
@pytest.mark.parametrize("runner", runner_names())
def test_declared_exactly_when_shown(conformance: Bench, runner: str, capability: str) -> None:
    cap = CAPABILITIES[capability]
    if capability in plugins.plugin(runner).capabilities_vary:
        pytest.skip(f"{runner} declares that its runs show {capability!r} only sometimes")
    _, run = completed(conformance, runner, cap.scenario)
    shown = cap.shown_by(run["metrics"])
    declared = capability in plugins.plugin(runner).capabilities
    keys = (
        "recovered",
        "human_actions",
        "harness_help",
        "alerted",
        "visible",
        "attempts_before_fix",
    )
    m = {k: run["metrics"].get(k) for k in keys}
    assert shown == declared, (
        f"{runner} {'declares' if declared else 'does not declare'} {capability!r} "
        f"({cap.definition}) but its {cap.scenario} run {'shows' if shown else 'does not show'}"
        f" it: {m}, stale {run['metrics']['stale_executions']}"
    )
