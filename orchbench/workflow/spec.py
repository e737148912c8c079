"""The one workflow every runner executes: steps, their named artifacts, and their order.

Runners build their pipeline from this spec; a round-trip test checks that the graph each
runner ran equals it. Artifact kinds drive the metrics:

- ``source``: comes from outside the pipeline (landing partition, holdout set); never stale.
- ``dated``: produced by a step for one logical date; consuming one produced for another
  date (or not produced in this run) is a *stale execution*.
- ``state``: long-lived state shared across dates (registry, serving slots); reading
  yesterday's champion is the point, so it is never stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ArtifactKind = Literal["source", "dated", "state"]
COUNTRIES = ("de", "fr", "nl", "pl", "us")  # the data's country codes (workflow/data.py)


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: ArtifactKind
    description: str


@dataclass(frozen=True)
class Step:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact("landing", "source", "the day's partition as delivered to the landing area"),
        Artifact("holdout", "source", "fixed held-out evaluation set"),
        Artifact("reference", "source", "reference profile for drift checks"),
        Artifact("raw", "dated", "the day's partition copied into the pipeline"),
        Artifact("validated", "dated", "the partition after schema/row/null/drift checks"),
        Artifact("features", "dated", "model-ready feature table"),
        Artifact("model", "dated", "trained candidate model (JSON coefficients)"),
        Artifact("evaluation", "dated", "candidate vs champion metrics and the gate decision"),
        Artifact("registration", "dated", "register's decision record for the day"),
        Artifact("deployment", "dated", "canary's record: what was put on canary and promoted"),
        Artifact("champion", "state", "registry pointer to the current champion model"),
        Artifact("serving", "state", "serving slots (canary, production)"),
    )
}

STEPS: tuple[Step, ...] = (
    Step("ingest", ("landing",), ("raw",), "copy the day's partition into the pipeline"),
    Step("validate", ("raw", "reference"), ("validated",), "schema, row count, nulls, drift"),
    Step("featurize", ("validated",), ("features",), "derive model features"),
    Step("train", ("features",), ("model",), "fit a scikit-learn model"),
    Step(
        "evaluate",
        ("model", "holdout", "champion"),
        ("evaluation",),
        "score on held-out data and compare with the champion",
    ),
    Step(
        "register",
        ("model", "evaluation", "champion"),
        ("registration", "champion"),
        "make the candidate champion if it passed the gate",
    ),
    Step(
        "canary",
        ("registration", "holdout", "champion", "serving"),
        ("deployment", "serving"),
        "put the new champion on canary, check it, promote",
    ),
)

STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
STEP_BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}


def kind_of(artifact: str) -> str | None:
    """The artifact's kind (``source``, ``dated``, ``state``); None for a name the spec
    does not know."""
    art = ARTIFACTS.get(artifact)
    return art.kind if art else None


def step_index(name: str) -> int:
    return STEP_NAMES.index(name)


def upstream_of(name: str) -> str | None:
    """The step directly before ``name`` in the chain (None for the first)."""
    i = step_index(name)
    return STEP_NAMES[i - 1] if i else None


def downstream_from(name: str) -> tuple[str, ...]:
    """``name`` and every step after it, in order."""
    return STEP_NAMES[step_index(name) :]


def edges() -> set[tuple[str, str]]:
    """Dependency edges (producer step -> consumer step) implied by dated artifacts."""
    producer = {o: s.name for s in STEPS for o in s.outputs if ARTIFACTS[o].kind == "dated"}
    return {(producer[i], s.name) for s in STEPS for i in s.inputs if i in producer}
