"""A runner profile's configuration card: how that deployment of the system is set up,
aspect by aspect, so a reader can see what was compared (a vendor once objected that a
rival's benchmark ran its system with the wrong task runner).

The card comes from the runner itself (``Runner.card``: built from the same configuration
objects the adapter starts the system with), is recorded in each run's ``env.json``
(``card``) and shown by the report, one row per runner x profile. An aspect the runner does
not fill reads ``not declared``; ``none`` is a statement (the system has no such thing in
this profile), not a gap.
"""

from __future__ import annotations

# aspect -> what it says (the report's legend)
ASPECTS: dict[str, str] = {
    "scheduler": "what fires the dates (the system's own scheduler, cron, or the harness)",
    "executor": "where and how each step runs (process, worker, container)",
    "database": "the system's own state store",
    "retries": "how a failed step is retried (from the scenario's policy)",
    "timeouts": "what ends a hung step",
    "fail_fast": "how errors a retry cannot fix (bad data, a failed canary) are not retried",
    "alerting": "how a failure reaches a human by itself",
    "caching": "what a re-run skips",
    "parallelism": "how many steps or runs at once",
}
NOT_DECLARED = "not declared"


def problems(card: dict[str, str]) -> list[str]:
    """What is wrong with a card: a missing or empty aspect, or one not in ``ASPECTS``."""
    out = [f"aspect {a!r} missing or empty" for a in ASPECTS if not str(card.get(a, "")).strip()]
    return out + [f"unknown aspect {a!r}" for a in card if a not in ASPECTS]
