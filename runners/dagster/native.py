"""The native trace from Dagster's own records (runs in ``.venvs/dagster``).

Read with Dagster's Python API on the instance (``DAGSTER_HOME``): each run's record
(status, partition tag, parent and root run ids) and its event log. An attempt begins
at ``STEP_START`` or ``STEP_RESTARTED`` and ends at ``STEP_SUCCESS``, ``STEP_FAILURE`` or
``STEP_UP_FOR_RETRY`` (``interrupted`` when Dagster's error says a signal cut it);
``STEP_SKIPPED`` is the deploy gate's skip; an attempt with no end
is ``crashed`` in a run Dagster ended as failed, ``canceled`` in a run it shows canceled
(Dagster recorded no failure of the step), ``running`` while the run shows in progress.
An attempt's outputs, inputs and code version come from its ``ASSET_MATERIALIZATION``
events. The code version is the asset key with Dagster's tag ``dagster/code_version``,
which holds the ``code_version`` literal the team wrote on the asset: a value our code
sets, so ``practiced`` (as Prefect's deployment version and Metaflow's hash are);
without one Dagster would record the run id there, which is no code version, so nothing
native takes its place. The file refs and hashes are the materialization metadata our
assets add (``practiced``). Alerts are the run failure sensor's messages in the world's
alert sink.

The ``declared`` record (``declared``) reads the job snapshot Dagster stored with the
latest run (the definition's own when no run was launched): each op's output types, the
optional output that gates register and canary, the job's ``dagster/max_runtime`` tag.
Dagster's stored snapshots keep no retry policy, so the retries come from the job
definition the code location loads (``JobDefinition.get_retry_policy_for_handle``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchbench import trace
from runners.dagster.graphql import BACKFILL_TAG

SOURCE = "dagster-instance"
STEP_OF = {
    "raw": "ingest",
    "validated": "validate",
    "features": "featurize",
    "model": "train",
    "evaluate": "evaluate",
    "registration": "register",
    "deployment": "canary",
}
BEGIN = frozenset({"STEP_START", "STEP_RESTARTED"})
END = {"STEP_SUCCESS": "success", "STEP_FAILURE": "failed", "STEP_UP_FOR_RETRY": "failed"}
RUN_STATES = {
    "SUCCESS": "success",
    "FAILURE": "failed",
    "CANCELED": "failed",
    "STARTED": "running",
    "QUEUED": "queued",
    "NOT_STARTED": "queued",
    "STARTING": "running",
    "CANCELING": "running",
}
CODE_VERSION_TAG = "dagster/code_version"
INTERRUPTED = "DagsterExecutionInterruptedError"
SCHEDULE_TAG = "dagster/schedule_name"  # on a run a schedule tick launched
# what an attempt with no end event was, by its run's final status
UNENDED = {"FAILURE": "crashed", "CANCELED": "canceled", "SUCCESS": "crashed"}
# Dagster's type keys of an output that holds no typed value: ``Any`` (a
# ``MaterializeResult`` asset's output) and ``Nothing`` (a ``deps`` edge)
UNTYPED = frozenset({"Any", "Nothing"})
MAX_RUNTIME_TAG = "dagster/max_runtime"


def _ns(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1e9)


def _interrupted(error: Any) -> bool:
    """Dagster's error of a step failure says a signal cut it
    (``DagsterExecutionInterruptedError``, in the error or what caused it): the step
    process's interrupt handler raises it wherever the process is, the step's code not
    yet begun included."""
    while error is not None:
        if error.cls_name == INTERRUPTED:
            return True
        error = error.cause or error.context
    return False


def _refs(value: Any) -> list[dict[str, Any]]:
    refs = value if isinstance(value, list) else []
    return [{**r, "practiced": True} for r in refs if isinstance(r, dict)]


def run_records(instance: Any, run: Any) -> list[dict[str, Any]]:
    """The task attempts, materializations and run state of one run."""
    from dagster import DagsterEventType

    day = run.tags.get("dagster/partition")
    out: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    tries: dict[str, int] = {}
    last_ts: float | None = None
    for rec in instance.get_records_for_run(run.run_id, limit=100_000).records:
        entry = rec.event_log_entry
        ev = entry.dagster_event
        last_ts = entry.timestamp
        if ev is None or ev.step_key is None:
            continue
        kind, key = ev.event_type_value, ev.step_key
        step = STEP_OF.get(key)
        if step is None:
            continue
        if kind in BEGIN:
            tries[key] = tries.get(key, 0) + 1
            open_[key] = trace.task_attempt(
                logical_date=day,
                step=step,
                state="running",
                source=SOURCE,
                attempt=tries[key],
                start_ns=_ns(entry.timestamp),
                run=run.run_id,
                inputs=[],
                outputs=[],
                code_version=None,
                practiced=["code_version"],
                op=key,
                parent_run=run.parent_run_id,
                root_run=run.root_run_id,
            )
        elif kind in END and key in open_:
            a = open_.pop(key)
            a.update(state=END[kind], end_ns=_ns(entry.timestamp))
            if kind == "STEP_UP_FOR_RETRY":
                a["up_for_retry"] = True
            if _interrupted(getattr(ev.event_specific_data, "error", None)):
                a["interrupted"] = True
            out.append(a)
        elif kind == "STEP_SKIPPED":
            out.append(
                trace.task_attempt(
                    logical_date=day,
                    step=step,
                    state="skipped",
                    source=SOURCE,
                    start_ns=_ns(entry.timestamp),
                    end_ns=_ns(entry.timestamp),
                    run=run.run_id,
                    op=key,
                )
            )
        elif kind == DagsterEventType.ASSET_MATERIALIZATION.value and key in open_:
            _materialized(open_[key], ev.event_specific_data.materialization, out, entry)
    ended = UNENDED.get(run.status.value)
    for a in open_.values():
        a["state"] = ended or "running"
        a["end_ns"] = _ns(last_ts) if ended else None
        out.append(a)
    out.append(
        trace.record(
            "run_state",
            run=run.run_id,
            logical_date=day,
            state=RUN_STATES.get(run.status.value, run.status.value.lower()),
            t_ns=_ns(last_ts),
            dagster_status=run.status.value,
            schedule=run.tags.get(SCHEDULE_TAG),
            backfill=run.tags.get(BACKFILL_TAG),
            parent_run=run.parent_run_id,
            root_run=run.root_run_id,
        )
    )
    return out


def _materialized(attempt: dict[str, Any], mat: Any, out: list[dict[str, Any]], entry: Any) -> None:
    """Fold one materialization into its attempt; the canary's is also a deployment."""
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    attempt.setdefault("assets", []).append(mat.asset_key.to_user_string())
    version = (mat.tags or {}).get(CODE_VERSION_TAG)
    if version and attempt["code_version"] is None:  # evaluate's first asset names it
        # the asset key says whose literal it is (every asset starts at "1")
        attempt["code_version"] = f"{mat.asset_key.to_user_string()}@{version}"
    if "inputs" in meta and not attempt["inputs"]:
        attempt["inputs"] = _refs(meta["inputs"])
    if "outputs" in meta and not attempt["outputs"]:
        attempt["outputs"] = _refs(meta["outputs"])
    if attempt["step"] == "canary" and meta.get("deployed") is True:
        out.append(
            trace.record(
                "deployment",
                t_ns=_ns(entry.timestamp),
                slot="production",
                model_sha256=meta.get("model_sha256"),
                run=attempt["run"],
                practiced=True,
            )
        )


def declared(
    ops: dict[str, dict[str, Any]], job_tags: dict[str, str], retries: dict[str, int], source: str
) -> dict[str, Any]:
    """The ``declared`` record of the job's ``ops`` (op name -> ``outputs``: output name ->
    ``(dagster type key, is_required)``, ``inputs``: the input names), its tags and each
    op's ``max_retries``. Typed artifacts are outputs of a type other than ``UNTYPED``; the
    deploy condition is each optional output and the ops that take it as an input (Dagster
    skips them when it is not materialized); Dagster has no per-op timeout, so
    ``timeouts`` is empty and ``max_runtime_s`` holds the run's."""
    typed: list[dict[str, Any]] = []
    gates: list[str] = []
    for op, d in sorted(ops.items()):
        for out, (kind, required) in sorted(d["outputs"].items()):
            if kind not in UNTYPED:
                typed.append({"step": STEP_OF.get(op, op), "name": out, "type": kind})
            if not required:
                takers = sorted(o for o, e in ops.items() if out in e["inputs"])
                gates.append(f"{op}'s optional output {out!r} is materialized: {', '.join(takers)}")
    rec = trace.declared(
        source=source,
        typed_artifacts=typed,
        deploy_condition="; ".join(gates) or None,
        retries={STEP_OF.get(op, op): n for op, n in sorted(retries.items()) if n},
        caching=False,
        timeouts={},
        resources={},
    )
    runtime = job_tags.get(MAX_RUNTIME_TAG)
    rec["max_runtime_s"] = float(runtime) if runtime is not None else None
    rec["output_types"] = {
        op: {out: kind for out, (kind, _) in sorted(d["outputs"].items())}
        for op, d in sorted(ops.items())
    }
    rec["timeouts_note"] = (
        "Dagster has no per-op timeout; the run's dagster/max_runtime tag, enforced by the "
        "daemon's run monitoring, bounds the whole run"
    )
    return rec


def job_declared(instance: Any, runs: list[Any]) -> dict[str, Any]:
    """``declared`` of the job: its snapshot as stored with the latest of ``runs`` (the
    definition's own when there is none), its retry policies from the definition."""
    from dagster._core.definitions.dependency import NodeHandle

    from runners.dagster.definitions import JOB, defs

    job = defs.resolve_job_def(JOB)
    stored = [r for r in runs if r.job_name == JOB and r.job_snapshot_id]
    if stored:
        last = stored[-1]
        snap = instance.get_job_snapshot(last.job_snapshot_id)
        source = f"{SOURCE}: job snapshot {last.job_snapshot_id[:12]} of run {last.run_id}"
    else:
        snap = job.get_job_snapshot()
        source = f"dagster job definition {JOB} (no run stored a snapshot)"
    ops = {
        op.name: {
            "outputs": {o.name: (o.dagster_type_key, o.is_required) for o in op.output_def_snaps},
            "inputs": [i.name for i in op.input_def_snaps],
        }
        for op in snap.node_defs_snapshot.op_def_snaps
    }
    retries: dict[str, int] = {}
    for node in job.nodes:
        policy = job.get_retry_policy_for_handle(NodeHandle(node.name, None))
        retries[node.name] = policy.max_retries if policy is not None else 0
    source += "; retry policies from the job definition (not in Dagster's snapshots)"
    return declared(ops, dict(snap.tags), retries, source)


def collect(alerts: Path) -> list[dict[str, Any]]:
    from dagster import DagsterInstance

    from runners.dagster.definitions import ALERT_PREFIX

    records: list[dict[str, Any]] = []
    with DagsterInstance.get() as instance:
        runs = sorted(instance.get_runs(), key=lambda r: _start(instance, r))
        for run in runs:
            records += run_records(instance, run)
        records.append(job_declared(instance, runs))
    records += trace.sink_alerts(
        alerts, f"{ALERT_PREFIX}*.json", "run-failure-sensor", set(STEP_OF.values())
    )
    return records


def _start(instance: Any, run: Any) -> float:
    rec = instance.get_run_record_by_id(run.run_id)
    return rec.create_timestamp.timestamp() if rec is not None else 0.0


def probe_runs(run_ids: list[str]) -> list[dict[str, Any]]:
    """For the overhead probe (``overhead.py``): each run's status and its event log as
    plain records (``type``, ``step``, ``t``: the event's own timestamp, epoch seconds),
    and per step the value its default IO manager stored (the pickle at the ``path`` of the
    step's ``HANDLED_OUTPUT`` event; None when no path was recorded)."""
    import pickle

    from dagster import DagsterEventType, DagsterInstance

    handled = DagsterEventType.HANDLED_OUTPUT.value
    out: list[dict[str, Any]] = []
    with DagsterInstance.get() as instance:
        for run_id in run_ids:
            run = instance.get_run_by_id(run_id)
            events: list[dict[str, Any]] = []
            values: dict[str, Any] = {}
            for rec in instance.get_records_for_run(run_id, limit=100_000).records:
                entry = rec.event_log_entry
                ev = entry.dagster_event
                if ev is None:
                    continue
                kind = ev.event_type_value
                events.append({"type": kind, "step": ev.step_key, "t": entry.timestamp})
                if kind == handled and ev.step_key is not None:
                    path = ev.event_specific_data.metadata.get("path")
                    stored = getattr(path, "value", path)
                    if stored is not None:
                        values[ev.step_key] = pickle.loads(Path(stored).read_bytes())
            out.append(
                {
                    "run_id": run_id,
                    "status": run.status.value if run is not None else None,
                    "events": events,
                    "values": values,
                }
            )
    return out
