"""Daily model retraining, written the way an Airflow 3 user writes it.

    ingest >> validate >> featurize >> train >> evaluate >> deploy_gate >> register >> canary

- TaskFlow ``@task`` functions; each calls the shared step through ``orchbench.wrapper.run_step``
  (the task program is the same on every orchestrator; this file only orchestrates).
- Per-run artifact paths are templated on the logical date (``{{ ds }}``), so a re-run or a
  backfill of one day never touches another day's files. Paths travel between tasks as XCom.
- ``retries``, ``retry_delay`` and ``execution_timeout`` come from the deployment's execution
  policy (the one policy every runner applies). A ``retry_policy`` (Airflow 3.3) fails at once
  on errors a retry cannot fix (bad data, a failed canary check) instead of retrying them.
- The deploy gate (better than the champion, and above the optional floor) is a
  ``@task.short_circuit``: when the candidate does not pass, ``register`` and ``canary`` are
  skipped.
- ``on_failure_callback`` delivers a message to the alert sink after a task's last try.
- Scheduled by Airflow (a system-scheduled scenario run: the deployment has a ``schedule``):
  the scenario's dates are the intervals of a ``ScenarioTimetable`` (the plugin
  ``plugins/orchbench_timetable.py``), ``catchup=True``, and a ``@task.sensor`` in
  reschedule mode, ``wait_for_landing``, waits for the day's landing partition before
  ``ingest`` (Airflow's way to wait for a file: "Sensors", core-concepts/sensors.html);
  it pokes every ``retry_delay_s`` of the policy and gives up after
  ``timeout_s × (retries + 1)``, the time the policy gives ingest's tries. Triggered
  deployments keep ``@daily`` with catchup off and no sensor (the harness triggers a date
  once its partition is there).
- Assets are the tasks' inlets and outlets; dated artifacts are emitted as partitions keyed by
  the logical date. Every asset event's ``extra`` holds the path the task wrote and its
  content hash (``sha256``), as a careful user records it (Prefect's flow attaches the same
  to its asset metadata); the registry and serving events also say which model they now
  point to. The OpenLineage provider (configured on the stack) turns the assets into
  OpenLineage datasets.

One DAG per *deployment* (Airflow's dynamic-DAG-from-config pattern): every JSON file in
``orchbench_deployments/`` next to this file describes one deployment of the pipeline, with its
own world (landing area, registry, serving slots), journal, artifact root, dates and policy.
orchbench deploys one per scenario run; a real team would have exactly one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from airflow.sdk import (
    Asset,
    PokeReturnValue,
    RetryDecision,
    RetryPolicy,
    dag,
    get_current_context,
    task,
)

from orchbench.workflow.paths import dated_paths
from orchbench.workflow.spec import STEP_BY_NAME
from orchbench.world import World, step_env

DEPLOYMENTS = Path(__file__).with_name("orchbench_deployments")
DS = "{{ ds }}"  # the logical date, rendered by Airflow for each run


class FailFastOn(RetryPolicy):
    """Retry as configured, except on the given exception classes: those fail at once.

    Classes are named by import path and matched along the exception's MRO, so parsing the
    DAG file imports no data library (top-level imports slow every parse).
    """

    def __init__(self, *class_paths: str) -> None:
        self.class_paths = frozenset(class_paths)

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        for cls in type(exception).__mro__:
            if f"{cls.__module__}.{cls.__qualname__}" in self.class_paths:
                return RetryDecision.fail(f"{cls.__name__}: a retry cannot fix it")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "FailFastOn", "class_paths": sorted(self.class_paths)}


NOT_TRANSIENT = FailFastOn(
    "orchbench.workflow.steps.ValidationFailed",  # the day's data is bad: fix the data
    "orchbench.workflow.steps.CanaryCheckFailed",  # rolled back: the model is bad
)


def _asset(dep: dict[str, Any], name: str, path: Path) -> Asset:
    return Asset(name=f"{dep['dag_id']}.{name}", uri=path.resolve().as_uri(), group="orchbench")


def schedule_of(dep: dict[str, Any]) -> Any:
    """The deployment's schedule: the scenario's dates as a timetable when Airflow's
    scheduler fires them (``dep["schedule"]``), else ``@daily`` (the harness triggers)."""
    fires = (dep.get("schedule") or {}).get("fires")
    if not fires:
        return "@daily"
    from orchbench_timetable import ScenarioTimetable  # the plugins folder's module

    return ScenarioTimetable(fires)


def build_dag(dep: dict[str, Any]) -> None:
    """Define the retraining DAG of one deployment (see the module docstring)."""
    world = World(Path(dep["world"]))
    journal = Path(dep["journal"])
    policy = dep["policy"]
    out = {name: str(p) for name, p in dated_paths(Path(dep["artifacts"]), DS).items()}
    landing = str(world.landing_partition(DS))
    reference, holdout = str(world.reference_profile), str(world.holdout)
    champion, serving = str(world.champion), str(world.serving)

    # Dated artifacts: one asset each, one partition per logical date.
    assets = {name: _asset(dep, name, Path(dep["artifacts"]) / name) for name in out}
    assets |= {
        "landing": _asset(dep, "landing", world.landing),
        "reference": _asset(dep, "reference", world.reference_profile),
        "holdout": _asset(dep, "holdout", world.holdout),
        "champion": _asset(dep, "champion", world.champion),
        "serving": _asset(dep, "serving", world.serving / "production.json"),
    }

    def lineage(step: str) -> dict[str, list[Asset]]:
        spec = STEP_BY_NAME[step]
        return {
            "inlets": [assets[n] for n in spec.inputs],
            "outlets": [assets[n] for n in spec.outputs],
        }

    def run(step: str, inputs: dict[str, str], outputs: dict[str, str]) -> dict[str, Any]:
        """One attempt of a shared step, journaled by the shared wrapper.

        Each output's asset event carries the path the step wrote and that file's sha256
        (a directory: its manifest hash), so what a try wrote can be named by content.
        """
        from orchbench.hashing import sha256_path
        from orchbench.wrapper import run_step

        context = get_current_context()
        ti = context["ti"]
        os.environ.update(step_env(world, journal, dep["run_id"], dep["runner"]))
        result = run_step(
            step,
            context["ds"],
            inputs,
            outputs,
            world=world,
            journal=journal,
            run_id=dep["run_id"],
            runner=dep["runner"],
            native={
                "dag_id": ti.dag_id,
                "dag_run_id": ti.run_id,
                "task_id": ti.task_id,
                "try_number": ti.try_number,
            },
        )
        for name, path in outputs.items():
            event = context["outlet_events"][assets[name]]
            written = {"path": path, "sha256": sha256_path(path)}
            if name in out:  # a dated artifact: record the day's partition
                event.add_partitions(context["ds"])
                event.extra = {**written, "logical_date": context["ds"]}
            else:  # the registry or serving slot: say which model it now points to
                keys = ("registered", "deployed", "model_sha256")
                event.extra = {**written, **{k: result[k] for k in keys if k in result}}
        return result

    def alert_sink(context: dict[str, Any]) -> None:
        """on_failure_callback: deliver a message to the team's alert sink (a directory)."""
        ti = context["ti"]
        now = time.time_ns()
        message = {
            "t_ns": now,
            "channel": "airflow-callback",
            "subject": f"[airflow] {ti.dag_id}.{ti.task_id} failed for {context['ds']} "
            f"(try {ti.try_number})",
            "dag_id": ti.dag_id,
            "dag_run_id": ti.run_id,
            "task_id": ti.task_id,
            "logical_date": context["ds"],
            "try_number": ti.try_number,
            "exception": repr(context.get("exception"))[:500],
        }
        sink = world.alerts
        sink.mkdir(parents=True, exist_ok=True)
        tmp = sink / f".{now}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(message))
        tmp.rename(sink / f"{now}.{os.getpid()}.airflow.json")

    @dag(
        dag_id=dep["dag_id"],
        description="Daily retraining: ingest, validate, featurize, train, evaluate, deploy",
        schedule=schedule_of(dep),
        start_date=dt.datetime.fromisoformat(dep["start_date"]).replace(tzinfo=dt.UTC),
        end_date=dt.datetime.fromisoformat(dep["end_date"]).replace(tzinfo=dt.UTC),
        catchup=bool(dep.get("catchup", False)),
        # days share the registry and serving slots: one at a time, the catch-up runs too
        max_active_runs=1,
        default_args={
            "retries": policy["retries"],
            "retry_delay": dt.timedelta(seconds=policy["retry_delay_s"]),
            "execution_timeout": dt.timedelta(seconds=policy["timeout_s"]),
            "retry_policy": NOT_TRANSIENT,
            "on_failure_callback": alert_sink,
        },
        tags=["orchbench", dep["scenario"]],
    )
    def retrain() -> None:
        wait = dep.get("wait_for_landing")

        @task.sensor(
            mode="reschedule",  # frees the worker slot between pokes
            poke_interval=(wait or {}).get("poke_interval_s", 60),
            timeout=(wait or {}).get("timeout_s", 3600),
            retries=0,  # the timeout is the deadline: no second wait
        )
        def wait_for_landing(landing: str) -> PokeReturnValue:
            """The day's landing partition is there (the file the scheduler's run needs)."""
            return PokeReturnValue(is_done=Path(landing).is_file())

        @task(**lineage("ingest"))
        def ingest(landing: str, raw: str) -> str:
            run("ingest", {"landing": landing}, {"raw": raw})
            return raw

        @task(**lineage("validate"))
        def validate(raw: str, reference: str, validated: str) -> str:
            run("validate", {"raw": raw, "reference": reference}, {"validated": validated})
            return validated

        @task(**lineage("featurize"))
        def featurize(validated: str, features: str) -> str:
            run("featurize", {"validated": validated}, {"features": features})
            return features

        @task(**lineage("train"))
        def train(features: str, model: str) -> str:
            run("train", {"features": features}, {"model": model})
            return model

        @task(multiple_outputs=True, **lineage("evaluate"))
        def evaluate(model: str, holdout: str, champion: str, evaluation: str) -> dict[str, Any]:
            inputs = {"model": model, "holdout": holdout, "champion": champion}
            result = run("evaluate", inputs, {"evaluation": evaluation})
            return {"evaluation": evaluation, **result}

        @task.short_circuit
        def deploy_gate(deploy: bool) -> bool:
            """Register and deploy only a candidate that passed evaluation's gate."""
            return bool(deploy)

        @task(multiple_outputs=True, **lineage("register"))
        def register(
            model: str, evaluation: str, champion: str, registration: str
        ) -> dict[str, Any]:
            inputs = {"model": model, "evaluation": evaluation, "champion": champion}
            outputs = {"registration": registration, "champion": champion}
            return {"registration": registration, **run("register", inputs, outputs)}

        @task(multiple_outputs=True, **lineage("canary"))
        def canary(
            registration: str, holdout: str, champion: str, serving: str, deployment: str
        ) -> dict[str, Any]:
            inputs = {
                "registration": registration,
                "holdout": holdout,
                "champion": champion,
                "serving": serving,
            }
            outputs = {"deployment": deployment, "serving": serving}
            return {"deployment": deployment, **run("canary", inputs, outputs)}

        raw = ingest(landing=landing, raw=out["raw"])
        if wait:
            wait_for_landing(landing=landing) >> raw
        validated = validate(raw=raw, reference=reference, validated=out["validated"])
        features = featurize(validated=validated, features=out["features"])
        model = train(features=features, model=out["model"])
        evaluation = evaluate(
            model=model, holdout=holdout, champion=champion, evaluation=out["evaluation"]
        )
        registration = register(
            model=model,
            evaluation=evaluation["evaluation"],
            champion=champion,
            registration=out["registration"],
        )
        deploy_gate(evaluation["deploy"]) >> registration
        canary(
            registration=registration["registration"],
            holdout=holdout,
            champion=champion,
            serving=serving,
            deployment=out["deployment"],
        )

    retrain()


for _path in sorted(DEPLOYMENTS.glob("*.json")):
    build_dag(json.loads(_path.read_text()))
