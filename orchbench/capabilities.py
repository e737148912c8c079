"""What a runner may declare it can do (``RunnerPlugin.capabilities``), each with the one
run that shows it and the rule over that run's ``run.json`` that decides it.

A capability is a behaviour a short run of one scenario shows without a human: the
conformance suite (``tests/conformance``) runs each scenario on each runner and checks
every declaration both ways, so a runner declares a capability exactly when its run
shows it (declared and not shown fails; shown and not declared fails too). A runner whose
runs show one only sometimes (a race in the system) declares it in ``capabilities_vary``
instead, with a comment saying what was seen; the suite then checks it neither way.

These are not the seed article's claims (``orchbench/claims.py``): a claim pools many
runs for the report; a capability is one yes/no the suite keeps honest. No rule passes on
the operator's recovery alone (``tests/unit/test_rules_can_fail.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Capability:
    name: str
    scenario: str  # the scenario whose run shows it
    definition: str
    shown_by: Callable[[dict[str, Any]], bool]  # the rule over the run's ``metrics``


def _no_human(m: dict[str, Any]) -> bool:
    return m.get("recovered") is True and m.get("human_actions") == 0


CAPABILITIES: dict[str, Capability] = {
    c.name: c
    for c in (
        Capability(
            "retries_without_human",
            "transient_error",
            "a step that fails once is retried by the system: recovered, 0 human actions",
            _no_human,
        ),
        Capability(
            "stops_on_schema_break",
            "schema_break",
            "the run stops at bad input: nothing downstream runs on stale data and no bad "
            "model is deployed (0 stale executions; whether anyone is told is "
            "alerts_on_failure)",
            lambda m: m.get("stale_executions") == 0 and m.get("bad_model_deployed") is False,
        ),
        Capability(
            "alerts_on_failure",
            "schema_break",
            "a failure reaches a human by itself (a mail, a callback, a hook): alerted",
            lambda m: m.get("alerted") is True,
        ),
        Capability(
            "fails_fast_on_bad_data",
            "schema_break",
            "a validation failure (the day's data is bad: a retry cannot fix it) stops the "
            "run at once: one attempt of the failing step before the fix, and nothing "
            "downstream ran on stale data (a system that retries nothing and runs on does "
            "not fail fast)",
            lambda m: m.get("attempts_before_fix") == 1 and m.get("stale_executions") == 0,
        ),
        Capability(
            "recovers_from_hang",
            "hang",
            "a hung step is ended by the system's own timeout and run again, the day "
            "completes: recovered, 0 human actions, no kill by our adapter at the timeout "
            "(where the system has none, it is never credited to the system)",
            lambda m: _no_human(m) and not (m.get("harness_assists") or {}).get("timeout_kill"),
        ),
        Capability(
            "recovers_from_crash",
            "crash",
            "a step whose process is killed is run again by the system: recovered, 0 human actions",
            _no_human,
        ),
        Capability(
            "survives_scheduler_crash",
            "scheduler_crash",
            "the scheduler killed mid-run and restarted by a supervisor (ours, as systemd "
            "or k8s would; journaled as harness help, which the deployment, not the "
            "system, provides), the day still completes: recovered, 0 human actions",
            _no_human,
        ),
        Capability(
            "catches_up_missed_days",
            "missed_days",
            "dates missed while the scheduler was down are run once it is back: every "
            "missed date produced with no intervention, recovered, 0 human actions",
            lambda m: _no_human(m) and bool(m.get("missed_dates")) and not m.get("skipped_dates"),
        ),
    )
}


def unknown(names: frozenset[str]) -> list[str]:
    """The names in ``names`` that are not capabilities."""
    return sorted(n for n in names if n not in CAPABILITIES)
