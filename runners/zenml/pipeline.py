"""The daily retraining workflow as a ZenML pipeline (local orchestrator, SQLite store).

Written the way ZenML's docs have a team write one:

- a ``@pipeline`` of ``@step`` functions passing **artifacts**: each step returns a small
  reference artifact per dated output (``task.run``: the file's URI and sha256), so ZenML
  links producer and consumer step runs and its cache key sees the content;
- ``StepRetryConfig(max_retries=policy.retries, delay=policy.retry_delay_s rounded up to
  whole seconds, backoff=1)`` on every step (ZenML takes an int delay; backoff 1 keeps it
  constant, like the other runners);
- caching on (ZenML's default) for ``ingest``, ``validate``, ``featurize``, ``train``;
  ``ingest`` takes the landing partition's sha256 as a parameter (the partition is not a
  ZenML artifact, and a parameter is part of the cache key). Off for ``evaluate`` (it reads
  the live champion), ``register`` and ``canary`` (their point is the change they make);
- the deploy gate as a **dynamic pipeline** (``@pipeline(dynamic=True)``): ``register``
  and ``canary`` run only ``if deploy.load()``, evaluate's decision artifact;
- the Model Control Plane: the pipeline's ``Model("daily-retraining")`` gets a new model
  version per run, every artifact of the run is linked to it; ``register`` sets the
  version's stage to ``staging`` when it made the candidate champion, ``canary`` to
  ``production`` when it promoted it (``force=True`` archives the version that held it);
- an ``on_failure`` hook on every step: the alert, written to the world's alert sink.

No step timeout exists in ZenML; the policy's ``timeout_s`` is enforced by the adapter.
The policy comes from ``ORCHBENCH_ZENML_POLICY`` (JSON), read when this module is imported.
"""

from __future__ import annotations

import math
import os
from typing import Annotated, Any

from zenml import ArtifactConfig, Model, get_step_context, pipeline, step
from zenml.config.retry_config import StepRetryConfig
from zenml.enums import ArtifactType

from orchbench.policy import DEFAULT_POLICY, Policy
from runners.zenml import task

POLICY_ENV = "ORCHBENCH_ZENML_POLICY"
PIPELINE_NAME = "daily_retraining"
MODEL_NAME = "daily-retraining"
STAGING, PRODUCTION = "staging", "production"
CACHED = ("ingest", "validate", "featurize", "train")
_POLICY_JSON = os.environ.get(POLICY_ENV)
POLICY = Policy.model_validate_json(_POLICY_JSON) if _POLICY_JSON else DEFAULT_POLICY


def retry_config(policy: Policy) -> StepRetryConfig | None:
    """The policy in ZenML's terms (None when it allows no retry: max_retries must be > 0)."""
    if policy.retries <= 0:
        return None
    delay = math.ceil(policy.retry_delay_s)
    return StepRetryConfig(max_retries=policy.retries, delay=delay, backoff=1)


RETRY = retry_config(POLICY)


def alert_on_failure(exception: BaseException) -> None:
    """``on_failure`` hook: ZenML calls it when a step has failed for good (its retries
    spent); the message goes to the team's alert sink."""
    context = get_step_context()
    params = context.pipeline_run.config.parameters or {}
    task.alert(
        str(params.get("logical_date")),
        context.step_run.name,
        context.pipeline_run.name,
        f"{type(exception).__name__}: {exception}"[:300],
    )


def _step(name: str, **kw: Any) -> Any:
    return step(name=name, retry=RETRY, on_failure=alert_on_failure, **kw)


@_step("ingest")
def ingest(logical_date: str, landing_sha256: str) -> Annotated[dict, "raw"]:
    return task.run("ingest", logical_date, {})[0]["raw"]


@_step("validate")
def validate(logical_date: str, raw: dict) -> Annotated[dict, "validated"]:
    return task.run("validate", logical_date, {"raw": raw})[0]["validated"]


@_step("featurize")
def featurize(logical_date: str, validated: dict) -> Annotated[dict, "features"]:
    return task.run("featurize", logical_date, {"validated": validated})[0]["features"]


@_step("train")
def train(
    logical_date: str, features: dict
) -> Annotated[dict, ArtifactConfig(name="model", artifact_type=ArtifactType.MODEL)]:
    return task.run("train", logical_date, {"features": features})[0]["model"]


@_step("evaluate", enable_cache=False)
def evaluate(
    logical_date: str, model: dict
) -> tuple[Annotated[dict, "evaluation"], Annotated[bool, "deploy"]]:
    refs, summary = task.run("evaluate", logical_date, {"model": model})
    return refs["evaluation"], bool(summary["deploy"])


@_step("register", enable_cache=False)
def register(logical_date: str, model: dict, evaluation: dict) -> Annotated[dict, "registration"]:
    refs, summary = task.run("register", logical_date, {"model": model, "evaluation": evaluation})
    if summary.get("registered"):
        version = get_step_context().model
        version.log_metadata({"model_sha256": model["sha256"], "logical_date": logical_date})
        version.set_stage(STAGING, force=True)
    return refs["registration"]


@_step("canary", enable_cache=False)
def canary(logical_date: str, registration: dict) -> Annotated[dict, "deployment"]:
    refs, summary = task.run("canary", logical_date, {"registration": registration})
    if summary.get("deployed"):
        get_step_context().model.set_stage(PRODUCTION, force=True)
    return refs["deployment"]


@pipeline(
    name=PIPELINE_NAME,
    dynamic=True,
    enable_cache=True,
    model=Model(name=MODEL_NAME, description="the daily retraining's candidate models"),
)
def daily_retraining(logical_date: str, landing_sha256: str) -> None:
    raw = ingest(logical_date, landing_sha256)
    validated = validate(logical_date, raw)
    features = featurize(logical_date, validated)
    model = train(logical_date, features)
    evaluation, deploy = evaluate(logical_date, model)
    if deploy.load():  # the deploy gate: a skipped branch is ZenML's skip
        registration = register(logical_date, model, evaluation)
        canary(logical_date, registration)
