"""What the flow's definition declares to Prefect (trace kind ``declared``).

Read from the task objects the flow module defines, in the runner's own environment
(``python -m runners.prefect --declare`` prints it as JSON): each task's ``retries``,
``timeout_seconds`` and cache policy, as Prefect holds them. The deploy gate is a plain
Python ``if`` in the flow body: Prefect never sees it as a condition, so
``deploy_condition`` is null. Task results and assets are untyped for Prefect (a
``file://`` key and metadata), so ``typed_artifacts`` is empty. ``retry_condition`` names
each task's ``retry_condition_fn``, ``not_retried`` the exception classes it fails at once.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from orchbench import trace
from orchbench.workflow.spec import STEP_NAMES
from runners.prefect import flow


def declared() -> dict[str, Any]:
    tasks = {name: getattr(flow, name) for name in STEP_NAMES}
    cached = {
        n: t.cache_policy is not None and t.cache_policy is not NO_CACHE for n, t in tasks.items()
    }
    rec = trace.declared(
        source="prefect task options (runners/prefect/flow.py)",
        typed_artifacts=[],
        deploy_condition=None,
        retries={n: int(t.retries) for n, t in tasks.items() if t.retries},
        caching=any(cached.values()),
        timeouts={n: float(t.timeout_seconds) for n, t in tasks.items() if t.timeout_seconds},
        resources={},
    )
    rec["cache_policies"] = {n: type(t.cache_policy).__name__ for n, t in tasks.items()}
    rec["retry_condition"] = {
        n: t.retry_condition_fn.__name__ for n, t in tasks.items() if t.retry_condition_fn
    }
    rec["not_retried"] = sorted(flow.NOT_TRANSIENT)
    rec["cached_steps"] = [n for n, c in cached.items() if c]
    rec["gate"] = "python `if` on evaluate's result in the flow body (not known to Prefect)"
    return rec
