"""The seed article's claims, as the capability ids scenarios are tagged with.

A scenario lists the capabilities it exercises (``capabilities: [retries]``); the report's
capability table (claims x runners) computes each cell from the measured runs of the
scenarios tagged with that claim. Nothing here states an outcome: ``measured_by`` only
says which measurement a cell is built from; the rule that turns it into a cell lives in
``orchbench/report/capability.py`` (``RULES`` for measured claims, ``STATIC_RULES`` for
``static`` ones, which read the native trace's ``declared`` record instead of a metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ClaimId = Literal[
    "dependency_management",
    "retries",
    "backfills",
    "caching",
    "observability",
    "lineage",
    "stop_on_schema_break",
    "conditional_deploy",
    "timeouts",
    "atomic_steps",
    "scheduler_resilience",
    "typed_artifacts",
    "container_isolation",
    "gpu_control",
    "resource_limits",
]


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    quote: str  # the seed article's words (../shared/seed/000_a9d62b63df982b5d.txt)
    measured_by: str
    static: bool = False  # read from what the pipeline declares, not from a scenario's runs


CLAIMS: dict[str, Claim] = {
    c.id: c
    for c in (
        Claim(
            "dependency_management",
            "Dependency management",
            "if step 2 fails, step 3 still runs on stale data",
            "stale_executions (0 = downstream steps never ran on stale inputs)",
        ),
        Claim(
            "retries",
            "Automatic retries",
            "automatic retries",
            "recovered with human_actions == 0",
        ),
        Claim(
            "backfills",
            "Backfills",
            "backfills",
            "every missed logical date produced after the outage; wall time of the catch-up",
        ),
        Claim(
            "caching",
            "Step caching / re-run only the branch",
            "re-run just that branch after the fix",
            "rerun_cost_ratio (1.0 = only the minimal re-execution)",
        ),
        Claim(
            "observability",
            "Observability",
            "you find out hours later",
            "alerted and alert_s, on the production clock too (a message pushed to a "
            "human); visible and visible_s (the system's own view showed it) beside",
        ),
        Claim(
            "lineage",
            "Lineage",
            "no record of which run produced which model",
            "lineage_native from the run's OpenLineage export (the system's own records), "
            "practiced beside",
        ),
        Claim(
            "stop_on_schema_break",
            "Stop on schema break, no garbage model",
            "the orchestrator stops the run and alerts — no garbage model gets trained",
            "alerted, stale_executions == 0 and bad_model_deployed == false",
        ),
        Claim(
            "conditional_deploy",
            "Conditional deploy gate",
            'only deploy if eval accuracy > 0.9 / "if better than champion"',
            "bad_model_deployed == false when the candidate is worse",
        ),
        Claim(
            "timeouts",
            "Hung steps are killed",
            "orchestrators make tasks atomic and idempotent",
            "the run gets past the hung attempt and recovers with human_actions == 0",
        ),
        Claim(
            "atomic_steps",
            "Atomic, idempotent tasks",
            "orchestrators make tasks atomic and idempotent",
            "final_state_correct and stale_executions after a crash or a partial write",
        ),
        Claim(
            "scheduler_resilience",
            "Survives a scheduler crash",
            "surface the whole DAG's state",
            "recovered and human_actions after the scheduler/server is killed mid-run",
        ),
        Claim(
            "typed_artifacts",
            "Typed artifacts",
            "it passes typed artifacts between them",
            "what the compiled pipeline/DAG declares (static check)",
            static=True,
        ),
        Claim(
            "container_isolation",
            "Container isolation",
            "steps are containers running on Kubernetes",
            "a step needing another library version runs: no fault activation, no failed "
            "attempt (env_mismatch)",
        ),
        Claim(
            "gpu_control",
            "Per-step GPU control",
            "its per-step GPU control matters for heterogeneous training",
            "an accelerator request on the train step in what the system runs (static check)",
            static=True,
        ),
        Claim(
            "resource_limits",
            "Per-step resource limits enforced",
            "its per-step GPU control matters for heterogeneous training",
            "memory_limit_enforced (every attempt ran under the memory limit its pipeline "
            "declares) and oom_kills (attempts the container system reports OOM-killed)",
        ),
    )
}

assert set(CLAIMS) == set(ClaimId.__args__)  # type: ignore[attr-defined]
