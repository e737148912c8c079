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

import ast
from pathlib import Path
from typing import Any

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


def _module_assignment(path: Path, name: str) -> ast.expr:
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.value
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            return node.value
    raise LookupError(f"{path}: no module-level assignment to {name}")


def source_strings(path: Path, name: str) -> tuple[str, ...]:
    """The string literals in the value a pipeline file assigns to its module-level
    ``name`` (``NOT_TRANSIENT = FailFastOn("a.B", "c.D")`` -> ``("a.B", "c.D")``), in source
    order, read without importing the file: a pipeline imports its system, which the
    harness's environment does not have. A card built from them follows the pipeline."""
    value = _module_assignment(path, name)
    found = [n for n in ast.walk(value) if isinstance(n, ast.Constant)]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    return tuple(n.value for n in found if isinstance(n.value, str))


def source_literal(path: Path, name: str) -> Any:
    """The literal value (``ast.literal_eval``) a pipeline file assigns to its
    module-level ``name`` (``CACHED = ("ingest", ...)``), read without importing it."""
    return ast.literal_eval(_module_assignment(path, name))


def source_keyword(path: Path, keyword: str) -> Any:
    """The literal value of the first ``keyword=...`` argument of any call in a pipeline
    file (``max_active_runs=1`` in a ``@dag(...)``), read without importing it."""
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == keyword:
                    return ast.literal_eval(kw.value)
    raise LookupError(f"{path}: no call with {keyword}=")


def short_class(path: str) -> str:
    """``orchbench.workflow.steps.ValidationFailed`` -> ``ValidationFailed``."""
    return path.rsplit(".", 1)[-1]
