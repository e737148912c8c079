"""The daily retraining workflow as a Prefect 3 flow, written the way Prefect users write one.

One flow run per logical date (``daily-retraining``, parameter ``logical_date``). Each task
calls the shared step through ``orchbench.wrapper.run_step`` and returns a small reference
to the file it wrote (``uri``, ``sha256``, the step's summary), which the next task takes
as an argument, so Prefect records the dependency (``task_inputs``) itself.

- Retries, retry delay and timeout come from the scenario's policy (``ORCHBENCH_POLICY``,
  JSON; the defaults of ``orchbench.policy`` otherwise).
- Errors a retry cannot fix are not retried: the tasks' ``retry_condition_fn``
  (``retry_unless_not_transient``) returns False for a bad day's data (``ValidationFailed``)
  and a rolled-back canary (``CanaryCheckFailed``), matched by class path along the
  exception's MRO as the Airflow DAG's ``FailFastOn`` does; the task run then fails at once
  (and its failure hook alerts).
- Caching: every task but ``register`` and ``canary`` is cached on the *content* of what it
  reads (``InputFiles``): the code repository's git revision, the run's step config, and each input
  file's path and sha256; outputs count by path. Results are persisted (JSON) so a later
  flow run for the same date reuses what is still valid and shows it as ``Cached``.
  ``register`` and ``canary`` change shared state (champion, serving slots), so they are
  never cached: skipping them would skip the side effect.
- ``refresh_from`` (the operator's "re-run from this step") refreshes the cache of that
  step and every step after it (Prefect's ``refresh_cache``).
- The deploy gate is plain Python: ``register`` and ``canary`` only run when the
  evaluation says ``deploy``.
- ``evaluate`` publishes the gate decision as a markdown artifact (``evaluation-<date>``).
- Failure hooks deliver a message to the run's alert sink (``world/alerts``).
- Each task materializes its outputs as assets (``file://`` keys per date) with the
  content hash as metadata, and declares the source and state files it reads as asset
  dependencies, so the asset graph in Prefect shows the lineage.

Run one date: ``python -m runners.prefect --logical-date 2026-01-02`` with
``PREFECT_API_URL`` and the ``ORCHBENCH_*`` variables set (the adapter does this).
"""

# No ``from __future__ import annotations`` here: ``flow.serve()`` hands the flow to a spawned
# subprocess by value (cloudpickle), where string annotations cannot be resolved (pydantic:
# "Daily_RetrainingModel is not fully defined; you should define `dt`").
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.assets import Asset, add_asset_metadata, materialize
from prefect.cache_policies import NO_CACHE, CachePolicy
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.context import TaskRunContext
from prefect.states import State
from prefect.tasks import MaterializingTask, Task
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from orchbench.hashing import sha256_path
from orchbench.policy import Policy
from orchbench.workflow.paths import dated_paths
from orchbench.workflow.repo import revision
from orchbench.workflow.spec import downstream_from
from orchbench.world import World
from orchbench.wrapper import run_step
from runners.prefect import clock

P = ParamSpec("P")
R = TypeVar("R")
RUNNER = "prefect"
ENV_POLICY = "ORCHBENCH_POLICY"
POLICY = Policy.model_validate_json(os.environ.get(ENV_POLICY) or "{}")


class Output(BaseModel):
    """What a task returns: the dated file it wrote and the step's summary.

    A pydantic model rather than a dict: Prefect links a result to its task run by object
    identity, and for plain dicts it also links the (shared, interned) key strings, which
    made a downstream task look like it consumed every task that ran before it.
    """

    name: str
    uri: str
    sha256: str | None
    summary: dict[str, Any]


def asset(path: Path) -> Asset:
    return Asset(key=f"file://{path}")


def _path_of(value: Any) -> Path | None:
    if isinstance(value, Path):
        return value
    if isinstance(value, Output):
        return Path(value.uri)
    return None


@dataclass
class InputFiles(CachePolicy):
    """Cache key from what the task reads, by content.

    The task's step and the git revision of the team's code repository (``world/code``),
    the run's step config (gate floor,
    minimum rows), and every argument: files (``Path`` or an upstream ``Output``) by path
    and sha256 of their current content, except the arguments named in ``outputs``, which
    count by path only. The same inputs at the same place give the same key; a changed
    input file, new code, or another run's directory gives another.
    """

    outputs: tuple[str, ...] = field(default=("output",))

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        step = task_ctx.task.name
        world = World.from_env()
        # the team's code, by its git revision
        parts: list[Any] = [step, revision(world.root), sha256_path(world.config_path)]
        for name in sorted(inputs):
            value, path = inputs[name], _path_of(inputs[name])
            if path is None:
                parts.append((name, repr(value)))
            elif name in self.outputs:
                parts.append((name, str(path)))
            else:
                parts.append((name, str(path), sha256_path(path)))
        return hash_objects(*parts)


# Errors a retry cannot fix, named by class path and matched along the exception's MRO (the
# rule of the Airflow DAG's ``FailFastOn``).
NOT_TRANSIENT = frozenset(
    {
        "orchbench.workflow.steps.ValidationFailed",  # the day's data is bad: fix the data
        "orchbench.workflow.steps.CanaryCheckFailed",  # rolled back: the model is bad
    }
)


def not_transient(exc: BaseException) -> str | None:
    """The class path in ``NOT_TRANSIENT`` that ``exc`` is an instance of, if any."""
    for cls in type(exc).__mro__:
        path = f"{cls.__module__}.{cls.__qualname__}"
        if path in NOT_TRANSIENT:
            return path
    return None


def retry_unless_not_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """``retry_condition_fn`` of every task: False (fail now) when the attempt raised an
    error a retry cannot fix. Prefect calls it with the failed state, whose ``data`` is the
    exception (``task_engine.can_retry``), and only while retries are left."""
    exc = state.data
    return not (isinstance(exc, BaseException) and not_transient(exc))


def logical_date_of(parameters: dict[str, Any], scheduled: dt.datetime | None) -> str | None:
    """The date a flow run stands for: its ``logical_date`` parameter (a run the harness or
    the operator created), else the date of its scheduled start time on the run's day
    clock (a run Prefect's scheduler created from the deployment's schedule)."""
    given = parameters.get("logical_date")
    if given is not None:
        return str(given)
    day_clock = clock.read()
    if day_clock is None or scheduled is None:
        return None
    return clock.date_at(day_clock, scheduled.timestamp())


def run_logical_date() -> str | None:
    """``logical_date_of`` the current flow run (``prefect.runtime``)."""
    params = runtime.flow_run.parameters or {}
    scheduled = runtime.flow_run.scheduled_start_time if not params.get("logical_date") else None
    return logical_date_of(params, scheduled)


def run_name() -> str:
    """The flow run's name: ``retrain-<its logical date>``."""
    return f"retrain-{run_logical_date()}"


def alert_sink(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> None:
    """on_failure hook: deliver a message to the alert sink (the team's channel)."""
    world = World.from_env()
    logical_date = run_logical_date()
    message = {
        "t_ns": time.time_ns(),
        "channel": "callback",
        "subject": f"[prefect] {task.name} {state.name} for {logical_date}: {state.message}",
        "logical_date": str(logical_date) if logical_date is not None else None,
        "step": task.name,
        "flow_run_id": str(task_run.flow_run_id),
        "task_run_id": str(task_run.id),
    }
    _deliver(world, message)


def flow_crashed(flow: Any, flow_run: FlowRun, state: State[Any]) -> None:
    """on_crashed hook of the flow: tell someone. A process worker runs it after the flow
    run's process died, and passes the arguments by keyword (``flow=``), so the names
    matter."""
    logical_date = logical_date_of(flow_run.parameters, flow_run.expected_start_time)
    _deliver(
        World.from_env(),
        {
            "t_ns": time.time_ns(),
            "channel": "callback",
            "subject": f"[prefect] flow run {flow_run.name} {state.name}: {state.message}",
            "logical_date": str(logical_date) if logical_date is not None else None,
            "step": None,
            "flow_run_id": str(flow_run.id),
            "task_run_id": None,
        },
    )


def _deliver(world: World, message: dict[str, Any]) -> None:
    world.alerts.mkdir(parents=True, exist_ok=True)
    path = world.alerts / f"prefect-{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(message))
    tmp.replace(path)


TASK_OPTIONS: dict[str, Any] = {
    "retries": POLICY.retries,
    "retry_delay_seconds": POLICY.retry_delay_s,
    "timeout_seconds": POLICY.timeout_s,
    "persist_result": True,
    "result_serializer": "json",
    "on_failure": [alert_sink],
    "retry_condition_fn": retry_unless_not_transient,
}
CACHED = InputFiles()
# The assets a task materializes are per date: the flow sets them with `with_options`.
_PLACEHOLDER = "file:///orchbench/placeholder"


def step_task(
    cache_policy: CachePolicy = CACHED,
) -> Callable[[Callable[P, R]], MaterializingTask[P, R]]:
    """``@materialize`` with the shared options; the task's name is the step's name. No
    task ``version``: the code's version is the deployment's (the repository's git
    revision, set where the flow is served), which Prefect records on each flow run."""

    def decorate(fn: Callable[P, R]) -> MaterializingTask[P, R]:
        return materialize(
            _PLACEHOLDER,
            name=fn.__name__,
            cache_policy=cache_policy,
            **TASK_OPTIONS,
        )(fn)

    return decorate


def _step(
    step: str, logical_date: dt.date, inputs: dict[str, Any], outputs: dict[str, Path]
) -> Output:
    """Run one attempt of ``step`` under the shared wrapper; describe what it wrote.

    Every file the step wrote gets its sha256 (and the step's summary) as asset metadata;
    the task returns its dated output.
    """
    ctx = TaskRunContext.get()
    native: dict[str, Any] = {}
    if ctx is not None:
        native = {
            "flow_run_id": str(ctx.task_run.flow_run_id),
            "task_run_id": str(ctx.task_run.id),
            "run_count": ctx.task_run.run_count,
        }
    paths = {name: _path_of(v) for name, v in inputs.items()}
    summary = run_step(
        step,
        logical_date,
        inputs={k: p for k, p in paths.items() if p is not None},
        outputs=outputs,
        native=native,
    )
    shas = {name: sha256_path(path) for name, path in outputs.items()}
    for name, path in outputs.items():
        add_asset_metadata(asset(path), {"sha256": shas[name], "step": step, **summary})
    dated = next(iter(outputs))
    return Output(name=dated, uri=str(outputs[dated]), sha256=shas[dated], summary=summary)


@step_task()
def ingest(logical_date: dt.date, landing: Path, output: Path) -> Output:
    return _step("ingest", logical_date, {"landing": landing}, {"raw": output})


@step_task()
def validate(logical_date: dt.date, raw: Output, reference: Path, output: Path) -> Output:
    inputs = {"raw": raw, "reference": reference}
    return _step("validate", logical_date, inputs, {"validated": output})


@step_task()
def featurize(logical_date: dt.date, validated: Output, output: Path) -> Output:
    return _step("featurize", logical_date, {"validated": validated}, {"features": output})


@step_task()
def train(logical_date: dt.date, features: Output, output: Path) -> Output:
    return _step("train", logical_date, {"features": features}, {"model": output})


@step_task()
def evaluate(
    logical_date: dt.date, model: Output, holdout: Path, champion: Path, output: Path
) -> Output:
    inputs = {"model": model, "holdout": holdout, "champion": champion}
    result = _step("evaluate", logical_date, inputs, {"evaluation": output})
    s = result.summary
    create_markdown_artifact(
        key=f"evaluation-{logical_date}",
        markdown="| candidate accuracy | champion accuracy | deploy |\n|---|---|---|\n"
        f"| {s['accuracy']} | {s['champion_accuracy']} | {s['deploy']} |",
        description=f"Deploy gate for {logical_date}",
    )
    return result


# register and canary change shared state (the champion pointer, the serving slots):
# a cache hit would skip the change itself, so they always run.
@step_task(cache_policy=NO_CACHE)
def register(logical_date: dt.date, model: Output, evaluation: Output, output: Path) -> Output:
    outputs = {"registration": output, "champion": World.from_env().champion}
    return _step("register", logical_date, {"model": model, "evaluation": evaluation}, outputs)


@step_task(cache_policy=NO_CACHE)
def canary(logical_date: dt.date, registration: Output, holdout: Path, output: Path) -> Output:
    outputs = {"deployment": output, "serving": World.from_env().serving}
    inputs = {"registration": registration, "holdout": holdout}
    return _step("canary", logical_date, inputs, outputs)


@flow(
    name="daily-retraining",
    flow_run_name=run_name,
    log_prints=True,
    on_crashed=[flow_crashed],
)
def daily_retraining(logical_date: dt.date | None = None, refresh_from: str | None = None) -> str:
    """Ingest, validate, featurize, train, evaluate; register and canary if the gate opens.

    A run of the deployment's schedule has no ``logical_date``: it runs the date of its
    scheduled start time (``logical_date_of``)."""
    if logical_date is None:
        found = run_logical_date()
        if found is None:
            raise ValueError("no logical_date, and the scheduled start time is on no date")
        logical_date = dt.date.fromisoformat(found)
    world = World.from_env()
    out = dated_paths(world.artifacts_dir(RUNNER), logical_date)
    landing = world.landing_partition(logical_date)
    refresh = set(downstream_from(refresh_from)) if refresh_from else set()

    def run(task: Any, *produces: Path, reads: tuple[Path, ...] = ()) -> Any:
        """The task for this date: the assets it writes and reads, whether to refresh."""
        return task.with_options(
            assets=[asset(p) for p in produces],
            asset_deps=[asset(p) for p in reads],
            refresh_cache=task.name in refresh,
            task_run_name=f"{task.name}-{logical_date}",
        )

    raw = run(ingest, out["raw"], reads=(landing,))(logical_date, landing, out["raw"])
    validated = run(validate, out["validated"], reads=(world.reference_profile,))(
        logical_date, raw, world.reference_profile, out["validated"]
    )
    features = run(featurize, out["features"])(logical_date, validated, out["features"])
    model = run(train, out["model"])(logical_date, features, out["model"])
    evaluation = run(evaluate, out["evaluation"], reads=(world.holdout, world.champion))(
        logical_date, model, world.holdout, world.champion, out["evaluation"]
    )
    if not evaluation.summary["deploy"]:
        return f"{logical_date}: candidate not deployed (evaluation gate closed)"
    # register and canary read the state they update: it is an asset dependency too.
    registration = run(register, out["registration"], world.champion, reads=(world.champion,))(
        logical_date, model, evaluation, out["registration"]
    )
    serving_reads = (world.holdout, world.champion, world.serving)
    deployment = run(canary, out["deployment"], world.serving, reads=serving_reads)(
        logical_date, registration, world.holdout, out["deployment"]
    )
    return f"{logical_date}: deployed {deployment.summary.get('model_sha256')}"
