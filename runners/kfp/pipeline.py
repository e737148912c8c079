"""The daily retraining workflow as a Kubeflow Pipelines (KFP v2) pipeline.

Written the way KFP users write one: lightweight Python components (``@dsl.component``)
passing **typed artifacts** (``Dataset`` -> ``Model`` -> ``Metrics``), a ``dsl.If`` deploy
gate on the evaluation's outputs, ``set_retry``, caching and a memory limit per task, and
resource requests (CPU, memory) on ``train``. Every component body calls
the shared step through ``runners.kfp.task.run`` (the shared wrapper,
``orchbench.wrapper.run_step``).

- One submission per logical date: the pipeline parameter ``logical_date`` is every
  task's input, so it is part of every cache key. ``min_accuracy`` is the absolute floor of
  the gate (0.0 when the scenario sets none).
- Retries: ``set_retry(policy.retries, backoff_duration=policy.retry_delay_s,
  backoff_factor=1.0)`` on every task (a constant delay, like the other runners;
  KFP takes whole seconds, so a fractional delay is rounded up).
- Caching on for ``ingest``, ``validate``, ``featurize``, ``train``: their results depend
  only on their KFP inputs and the day's partition (partitions are treated as immutable, as
  KFP users do). Off for ``evaluate`` (it reads the live champion, which is not a KFP
  input), ``register`` and ``canary`` (they change the registry and serving slots; a cache
  hit would skip the change itself).
- The gate: ``register`` and ``canary`` sit inside ``dsl.If(evaluate.output >
  min_accuracy)`` and, nested, ``dsl.If(evaluate.outputs["better_than_champion"] == True)``:
  deploy only if the candidate's accuracy is above the floor and it beats the champion.
  (The accuracy is ``evaluate``'s return value because kfp.local 2.17.3 cannot resolve a
  named output in a top-level condition and silently evaluates it as false; see README.)
- Components install nothing (``install_kfp_package=False``, no ``packages_to_install``):
  the image (or, locally, the interpreter) already has kfp and this project.
- Memory: every task declares ``set_memory_limit(STEP_MEMORY_LIMIT)`` (train peaks near
  180 MB RSS here), as cluster users do so one task cannot starve its node. kfp.local's
  runners do not read it; ``kfp-docker`` passes it to Docker (see ``docker_adapter``).
- Accelerators: none by default. ``train`` is a scikit-learn logistic regression, which
  runs on CPU only, and KFP's docs present ``set_accelerator_type``/``set_accelerator_limit``
  for tasks that use a GPU; a competent team declares none here. ``compile_spec(...,
  accelerator=True)`` (the runners' ``gpu-request`` profile) adds ``TRAIN_ACCELERATOR`` on
  ``train`` to show what a run does with a request it cannot use (kfp.local ignores it).
- KFP v2's pipeline spec has no task timeout field; the policy's ``timeout_s`` is enforced
  by whoever runs the pipeline (locally: the orchbench adapter).
- Alerts: the steps run inside ``dsl.ExitHandler(alert_on_failure)``; the exit task
  receives the block's ``dsl.PipelineTaskFinalStatus`` and, when it is not ``SUCCEEDED``,
  delivers a message to the run's alert sink (``world/alerts``), as KFP's docs show for
  notifications (control flow, "Exit handling"). It runs after every body task, whatever
  their outcome; a driver killed mid-run runs no exit task.

Compile: ``python -m runners.kfp compile --out build/kfp/daily_retraining.yaml``.
"""

import math
import os
from pathlib import Path

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from orchbench.policy import DEFAULT_POLICY, Policy

PIPELINE_NAME = "daily-retraining"
# What a cluster would run (the image must hold orchbench). kfp-docker compiles with the
# step image built here (``make image``), passed as ORCHBENCH_KFP_BASE_IMAGE.
BASE_IMAGE = os.environ.get("ORCHBENCH_KFP_BASE_IMAGE") or "python:3.11-slim"
# Per-step images ("step=image,step=image"): a step whose code needs other library versions
# than the rest (kfp-docker on an ``env_mismatch`` date) gets its own image.
STEP_IMAGES = dict(
    item.split("=", 1)
    for item in (os.environ.get("ORCHBENCH_KFP_STEP_IMAGES") or "").split(",")
    if "=" in item
)
STEP_MEMORY_LIMIT = "512M"  # Kubernetes quantity: 512 * 10**6 bytes
TRAIN_RESOURCES = {"cpu_request": "1", "memory_request": "512M"}
# only with accelerator=True (profile gpu-request): train needs no GPU (see the docstring)
TRAIN_ACCELERATOR = {"accelerator_type": "nvidia.com/gpu", "accelerator_limit": "1"}
CACHED = ("ingest", "validate", "featurize", "train")
ALERT_TASK = "alert-on-failure"  # the exit task's name in the compiled spec


def _component(fn):  # KFP's decorator returns its own PythonComponent type
    image = STEP_IMAGES.get(fn.__name__, BASE_IMAGE)
    return dsl.component(base_image=image, install_kfp_package=False)(fn)


@_component
def ingest(logical_date: str, raw: Output[Dataset]) -> None:
    from runners.kfp.task import run

    run("ingest", logical_date, {}, {"raw": raw})


@_component
def validate(logical_date: str, raw: Input[Dataset], validated: Output[Dataset]) -> None:
    from runners.kfp.task import run

    run("validate", logical_date, {"raw": raw}, {"validated": validated})


@_component
def featurize(logical_date: str, validated: Input[Dataset], features: Output[Dataset]) -> None:
    from runners.kfp.task import run

    run("featurize", logical_date, {"validated": validated}, {"features": features})


@_component
def train(logical_date: str, features: Input[Dataset], model: Output[Model]) -> None:
    from runners.kfp.task import run

    run("train", logical_date, {"features": features}, {"model": model})


@_component
def evaluate(
    logical_date: str,
    model: Input[Model],
    evaluation: Output[Metrics],
    better_than_champion: dsl.OutputPath(bool),
) -> float:
    """Returns the candidate's accuracy (the gate's main output)."""
    import json

    from runners.kfp.task import run

    summary = run("evaluate", logical_date, {"model": model}, {"evaluation": evaluation})
    with open(evaluation.path) as f:
        record = json.load(f)
    evaluation.log_metric("accuracy", record["accuracy"])
    if record["champion_accuracy"] is not None:
        evaluation.log_metric("champion_accuracy", record["champion_accuracy"])
    with open(better_than_champion, "w") as f:
        f.write(json.dumps(bool(record["better_than_champion"])))
    return float(summary["accuracy"])


@_component
def register(
    logical_date: str,
    model: Input[Model],
    evaluation: Input[Metrics],
    registration: Output[dsl.Artifact],
) -> None:
    from runners.kfp.task import run

    inputs = {"model": model, "evaluation": evaluation}
    run("register", logical_date, inputs, {"registration": registration})


@_component
def canary(
    logical_date: str, registration: Input[dsl.Artifact], deployment: Output[dsl.Artifact]
) -> None:
    from runners.kfp.task import run

    run("canary", logical_date, {"registration": registration}, {"deployment": deployment})


@_component
def alert_on_failure(logical_date: str, status: dsl.PipelineTaskFinalStatus) -> None:
    """The exit task: tell someone when the steps did not all succeed."""
    from runners.kfp.task import alert

    if status.state != "SUCCEEDED":
        alert(logical_date, status.state, status.pipeline_task_name, status.error_message)


def build(policy: Policy = DEFAULT_POLICY, accelerator: bool = False):  # a GraphComponent
    """The pipeline with ``policy``'s retries (KFP compiles retries into the spec);
    ``accelerator``: also request ``TRAIN_ACCELERATOR`` on ``train``."""

    def options(task: dsl.PipelineTask, step: str) -> dsl.PipelineTask:
        task.set_display_name(step)
        task.set_retry(
            num_retries=policy.retries,
            backoff_duration=f"{math.ceil(policy.retry_delay_s)}s",  # whole seconds only
            backoff_factor=1.0,
        )
        task.set_caching_options(enable_caching=step in CACHED)
        task.set_memory_limit(STEP_MEMORY_LIMIT)
        return task

    def _steps(logical_date: str, min_accuracy: float) -> None:
        raw = options(ingest(logical_date=logical_date), "ingest")
        validated = options(validate(logical_date=logical_date, raw=raw.outputs["raw"]), "validate")
        features = options(
            featurize(logical_date=logical_date, validated=validated.outputs["validated"]),
            "featurize",
        )
        trained = options(
            train(logical_date=logical_date, features=features.outputs["features"]), "train"
        )
        trained.set_cpu_request(TRAIN_RESOURCES["cpu_request"])
        trained.set_memory_request(TRAIN_RESOURCES["memory_request"])
        if accelerator:
            trained.set_accelerator_type(TRAIN_ACCELERATOR["accelerator_type"])
            trained.set_accelerator_limit(TRAIN_ACCELERATOR["accelerator_limit"])
        ev = evaluate(logical_date=logical_date, model=trained.outputs["model"])
        options(ev, "evaluate")
        accurate = ev.outputs["Output"] > min_accuracy
        better = ev.outputs["better_than_champion"] == True  # noqa: E712 - a KFP condition
        with (
            dsl.If(accurate, name="accuracy-above-floor"),
            dsl.If(better, name="better-than-champion"),
        ):
            reg = options(
                register(
                    logical_date=logical_date,
                    model=trained.outputs["model"],
                    evaluation=ev.outputs["evaluation"],
                ),
                "register",
            )
            options(
                canary(logical_date=logical_date, registration=reg.outputs["registration"]),
                "canary",
            )

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Daily retraining: ingest, validate, featurize, train, evaluate, "
        "then register and canary only if the candidate passes the gate.",
    )
    def daily_retraining(logical_date: str, min_accuracy: float = 0.0) -> None:
        notify = alert_on_failure(logical_date=logical_date)
        notify.set_display_name(ALERT_TASK)
        notify.set_caching_options(enable_caching=False)  # every failure is told
        notify.set_memory_limit(STEP_MEMORY_LIMIT)
        with dsl.ExitHandler(notify, name="steps"):
            _steps(logical_date, min_accuracy)

    return daily_retraining


def compile_spec(out: Path, policy: Policy = DEFAULT_POLICY, accelerator: bool = False) -> Path:
    """Compile the pipeline to KFP's IR YAML at ``out`` (written atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    compiler.Compiler().compile(build(policy, accelerator), str(tmp))
    tmp.replace(out)
    return out
