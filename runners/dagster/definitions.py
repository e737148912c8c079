"""The daily retraining workflow as Dagster daily-partitioned assets (the code location).

Loaded by the code server that ``dagster dev`` starts for one scenario run; everything
run-specific comes from the environment the adapter starts ``dagster dev`` with (the
step environment, ``ORCHBENCH_POLICY``, the partition range, the artifacts root, the
day clock of a system-scheduled run).

- One asset per step, named by what the step writes (``raw``, ``validated``, ...),
  partitioned by day; each calls the shared step through ``orchbench.wrapper.run_step``
  on per-date files (``deps``, not an IO manager: the assets write files, as Dagster's
  docs model external storage: https://docs.dagster.io/guides/build/assets/passing-data-between-assets).
- ``RetryPolicy`` from the scenario's policy on every asset.
- ``code_version`` on each asset: a literal the team writes and bumps when it changes
  the step's code (Dagster's asset versioning), ``"1"`` for every asset; the adapter's
  ``deploy_code`` is the team's bump (``CODE_VERSIONS_FILE``: the asset's new literal,
  read when the code location loads or is reloaded).
- Materialization metadata: the file's path, its sha256 and the step's summary.
- Fail-fast: a ``ValidationFailed`` / ``CanaryCheckFailed`` is raised again as
  ``Failure(allow_retries=False)``: Dagster does not retry it.
- The deploy gate: ``evaluate`` is a multi-asset whose second output, ``deploy_approved``,
  is materialized only when the evaluation says to deploy; ``registration`` and
  ``deployment`` depend on it, so Dagster skips them otherwise (``is_required=False``).
- Alert: a ``@run_failure_sensor`` (run by the daemon) writes a message into the world's
  alert sink.
- Profiles (``ORCHBENCH_DAGSTER_PROFILE``, ``EXECUTOR``, ``ALERT_INTERVAL_S``): ``default``
  keeps Dagster's multiprocess executor and the sensor's documented 30 s; ``tuned`` runs
  the job on the in-process executor and the sensor every 5 s; ``production`` is
  default's executor and sensor (its PostgreSQL storage is the instance's, not this
  file's). The scenario's policy (retries, their delay, ``dagster/max_runtime``) is the
  same on every profile.
- System-scheduled runs: a real schedule (``ScheduleDefinition``, cron ``CRON``: one
  simulated day per tick) whose evaluation maps the tick's ``scheduled_execution_time``
  to the scenario date on the run's day clock (as Airflow's runner maps intervals to
  dates with a timetable) and requests that date's partition. Which ticks the daemon
  evaluates after downtime (catch-up or not) is Dagster's own scheduler's choice.
"""

import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    DailyPartitionsDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RunFailureSensorContext,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    multi_asset,
    run_failure_sensor,
    schedule,
)

from orchbench.hashing import sha256_path
from orchbench.policy import Policy
from orchbench.workflow.paths import dated_paths, step_paths
from orchbench.workflow.steps import CanaryCheckFailed, ValidationFailed
from orchbench.world import World
from orchbench.wrapper import resolve_call, run_step

ENV_POLICY = "ORCHBENCH_POLICY"
ENV_ARTIFACTS = "ORCHBENCH_DAGSTER_ARTIFACTS"
ENV_FIRST = "ORCHBENCH_DAGSTER_FIRST_DATE"
ENV_LAST = "ORCHBENCH_DAGSTER_LAST_DATE"
ENV_CLOCK = "ORCHBENCH_DAGSTER_CLOCK"  # the day clock file (system-scheduled runs only)
ENV_TAG = "ORCHBENCH_DAGSTER_TAG"  # the scenario run's id, as a run tag
ENV_PROFILE = "ORCHBENCH_DAGSTER_PROFILE"  # the runner's profile: default, tuned, production
# the team's code_version literals bumped since revision 1 (JSON: step -> literal), written
# by the adapter's deploy_code; absent: every asset at "1"
ENV_CODE_VERSIONS = "ORCHBENCH_DAGSTER_CODE_VERSIONS"
JOB = "daily_retraining"
RUN_TAG = "orchbench/run"
ALERT_PREFIX = "dagster-"  # the alert sink's files: dagster-<uuid>.json
# the asset each step materializes (the step's main output), in workflow order
ASSET_OF = {
    "ingest": "raw",
    "validate": "validated",
    "featurize": "features",
    "train": "model",
    "evaluate": "evaluation",
    "register": "registration",
    "canary": "deployment",
}
GATE = "deploy_approved"  # evaluate's optional output: register and canary need it
NOT_RETRIED = (ValidationFailed, CanaryCheckFailed)  # a retry cannot fix these
SCHEDULE = "daily_retraining_schedule"
# one simulated day per tick: every 2 minutes (a run of the 7 steps, each its own process,
# took 40 to 55 s alone and 80 to 90 s beside other lanes; cron cannot tick faster than
# once a minute)
CRON = "*/2 * * * *"
# Per profile, the job's executor (https://docs.dagster.io/deployment/executors):
# default, Dagster's own (multiprocess: a process per step, each importing Dagster and
# loading this code location); tuned, the in-process executor (every step in the run
# worker's process: no process start per step, but a step that kills its process kills
# the run); production, Dagster's own as on default (its storage is what differs:
# services.instance_yaml)
EXECUTOR = {"default": "multiprocess", "tuned": "in_process", "production": "multiprocess"}
# Per profile, the run failure sensor's minimum interval in seconds: default and
# production, Dagster's documented 30; tuned, 5, the sensor daemon's own loop
# (``MIN_INTERVAL_LOOP_TIME`` in dagster/_daemon/sensor.py, 1.13: a smaller minimum would
# change nothing)
ALERT_INTERVAL_S = {"default": 30, "tuned": 5, "production": 30}


def _policy() -> Policy:
    raw = os.environ.get(ENV_POLICY)
    return Policy.model_validate_json(raw) if raw else Policy()


def _profile() -> str:
    profile = os.environ.get(ENV_PROFILE, "default")
    if profile not in EXECUTOR:
        raise ValueError(f"{ENV_PROFILE}={profile!r}: not one of {sorted(EXECUTOR)}")
    return profile


PROFILE = _profile()
POLICY = _policy()
RETRY = RetryPolicy(max_retries=POLICY.retries, delay=POLICY.retry_delay_s)
FIRST = os.environ.get(ENV_FIRST, "2026-01-01")
LAST = dt.date.fromisoformat(os.environ.get(ENV_LAST, FIRST))
PARTITIONS = DailyPartitionsDefinition(
    start_date=FIRST, end_date=(LAST + dt.timedelta(days=1)).isoformat()
)


def _world() -> World | None:
    try:
        return World.from_env()
    except Exception:  # loaded without a run's environment (e.g. `dagster definitions validate`)
        return None


WORLD = _world()


def _code_versions() -> dict[str, str]:
    """Each step's ``code_version`` literal: "1", as the team first wrote it, unless the
    team bumped it (the file ``ENV_CODE_VERSIONS`` names)."""
    versions = dict.fromkeys(ASSET_OF, "1")
    path = os.environ.get(ENV_CODE_VERSIONS)
    if path and Path(path).exists():
        versions.update(json.loads(Path(path).read_text()))
    return versions


CODE_VERSIONS = _code_versions()


def _code(step: str) -> str:
    return CODE_VERSIONS[step]


def _artifacts() -> Path:
    return Path(os.environ.get(ENV_ARTIFACTS, "artifacts"))


def _step(context: AssetExecutionContext, step: str) -> dict[str, Any]:
    """One attempt of ``step`` for the run's partition through the shared wrapper; the
    materialization metadata of its outputs."""
    day = context.partition_key
    ins, outs = step_paths(step, dated_paths(_artifacts(), day))
    for p in outs.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    native = {
        "dagster_run_id": context.run_id,
        "op": context.op.name,
        "retry_number": context.retry_number,
    }
    call = resolve_call(step, day, ins, outs)  # every input, source and state ones too
    read = _refs(call.inputs)  # before the step runs (it may replace a state file)
    try:
        summary = run_step(step, day, inputs=ins, outputs=outs, native=native)
    except NOT_RETRIED as e:
        raise Failure(description=f"{type(e).__name__}: {e}", allow_retries=False) from e
    meta: dict[str, Any] = {"logical_date": day, "step": step}
    meta["inputs"] = MetadataValue.json(read)
    meta["outputs"] = MetadataValue.json(_refs(call.outputs))
    for name, p in outs.items():
        meta[f"{name}_path"] = MetadataValue.path(str(p))
    for k, v in summary.items():
        if isinstance(v, bool | int | float | str):
            meta[k] = v
    return meta


def _refs(paths: dict[str, Path]) -> list[dict[str, Any]]:
    return [{"name": n, "uri": str(p), "sha256": sha256_path(p)} for n, p in paths.items()]


def _asset(step: str, deps: list[str]) -> Any:
    name = ASSET_OF[step]

    @asset(
        name=name,
        deps=deps,
        partitions_def=PARTITIONS,
        code_version=_code(step),
        retry_policy=RETRY,
        description=f"step {step} of the daily retraining",
        op_tags={"orchbench/step": step},
    )
    def _materialize(context: AssetExecutionContext) -> MaterializeResult:
        return MaterializeResult(metadata=_step(context, step))

    return _materialize


raw = _asset("ingest", [])
validated = _asset("validate", ["raw"])
features = _asset("featurize", ["validated"])
model = _asset("train", ["features"])


@multi_asset(
    name="evaluate",
    outs={
        "evaluation": AssetOut(code_version=_code("evaluate")),
        GATE: AssetOut(is_required=False, code_version=_code("evaluate")),
    },
    deps=["model"],
    partitions_def=PARTITIONS,
    retry_policy=RETRY,
    op_tags={"orchbench/step": "evaluate"},
)
def evaluate(context: AssetExecutionContext) -> Any:
    """The evaluation, and the deploy gate: ``deploy_approved`` only when it says deploy."""
    meta = _step(context, "evaluate")
    yield MaterializeResult(asset_key="evaluation", metadata=meta)
    if meta.get("deploy") is True:
        yield MaterializeResult(asset_key=GATE, metadata={"accuracy": meta.get("accuracy")})


registration = _asset("register", ["model", "evaluation", GATE])
deployment = _asset("canary", ["registration"])

ASSETS = [raw, validated, features, model, evaluate, registration, deployment]
# Dagster has no per-op timeout: the run's ``dagster/max_runtime``, enforced by the
# daemon's run monitoring, is the longest a run may take if every attempt of the 7 steps
# used the policy's timeout
MAX_RUNTIME_S = int(POLICY.timeout_s * (POLICY.retries + 1) * 7)
daily = define_asset_job(
    JOB,
    selection="*",
    partitions_def=PARTITIONS,
    tags={"dagster/max_runtime": str(MAX_RUNTIME_S)},
    # None: the Definitions' default executor, multiprocess
    executor_def=in_process_executor if EXECUTOR[PROFILE] == "in_process" else None,
)


@run_failure_sensor(
    name="alert_on_failure",
    minimum_interval_seconds=ALERT_INTERVAL_S[PROFILE],
    default_status=DefaultSensorStatus.RUNNING,
    monitored_jobs=[daily],
)
def alert_on_failure(context: RunFailureSensorContext) -> None:
    """The team's alert: a message per failed run into the world's alert sink."""
    if WORLD is None:
        return
    run = context.dagster_run
    step = next(
        (e.step_key for e in context.get_step_failure_events() if e.step_key is not None), None
    )
    message = {
        "t_ns": time.time_ns(),
        "channel": "run-failure-sensor",
        "subject": f"[dagster] {run.job_name} run {run.run_id} failed: "
        f"{context.failure_event.message}",
        "logical_date": run.tags.get("dagster/partition"),
        "step": _step_of(step),
        "run_id": run.run_id,
    }
    WORLD.alerts.mkdir(parents=True, exist_ok=True)
    path = WORLD.alerts / f"{ALERT_PREFIX}{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(message))
    tmp.replace(path)


def _step_of(step_key: str | None) -> str | None:
    if step_key is None:
        return None
    for step, name in ASSET_OF.items():
        if step_key in (name, step):
            return step
    return None


def _clock() -> dict[str, Any] | None:
    path = os.environ.get(ENV_CLOCK)
    if not path or not Path(path).exists():
        return None
    return json.loads(Path(path).read_text())


@schedule(
    name=SCHEDULE,
    cron_schedule=CRON,
    job=daily,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
)
def daily_schedule(context: ScheduleEvaluationContext) -> Any:
    """The daily schedule on the run's compressed clock: the tick at ``start + k * day_s``
    is date ``k``'s (the nearest interval); a tick outside the run's dates skips."""
    clock = _clock()
    t = context.scheduled_execution_time
    if clock is None or t is None:
        return SkipReason("no day clock: the harness triggers this scenario's runs")
    k = round((t.timestamp() - clock["start"]) / clock["day_s"])
    if not 0 <= k < len(clock["dates"]):
        return SkipReason(f"tick {t.isoformat()} is outside the run's dates")
    date = clock["dates"][k]
    return RunRequest(partition_key=date, tags={RUN_TAG: os.environ.get(ENV_TAG, "")})


SCHEDULES = [daily_schedule] if os.environ.get(ENV_CLOCK) else []
defs = Definitions(assets=ASSETS, jobs=[daily], sensors=[alert_on_failure], schedules=SCHEDULES)


def asset_key(step: str) -> AssetKey:
    return AssetKey(ASSET_OF[step])
