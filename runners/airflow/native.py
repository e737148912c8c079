"""Read what an Airflow user can read into the common trace (``orchbench.trace/1``).

Sources, all public: the REST API v2 (dag runs; task instances with every try from
``/tries``; rendered template fields; XCom return values; asset events) and the OpenLineage
events the provider wrote through its file transport; plus the alert sink the DAG's
``on_failure_callback`` delivers to. Nothing here reads the journal.

What becomes what:

- each try of each task instance -> ``task_attempt`` (Airflow's try number, state and
  start/end timestamps). A try that failed and was retried is ``failed``; a task that never
  started because an upstream failed is ``upstream_failed``; a task the deploy gate
  short-circuited is ``skipped``.
- inputs/outputs: the task's rendered arguments (the paths Airflow templated and resolved
  from upstream XCom) and the asset events it emitted. The DAG puts in each event's
  ``extra`` the path the task wrote and its ``sha256`` (dated artifacts also carry their
  partition, the logical date). Content hashes only where Airflow itself stored one:
  - outputs: the ``sha256`` of the asset events the try emitted (an event belongs to the
    last successful try of its task that started before the event's timestamp);
  - inputs: an input path gets the ``sha256`` of the latest asset event for that same path
    that any run of this DAG emitted before this try started (the rule Prefect's reader
    applies to its asset materializations: which version a later reader saw); and the
    ``model_sha256`` that ``register`` returns (XCom) for its model. A path no task of the
    DAG wrote (landing, holdout, reference) has no hash.
  OpenLineage's datasets name assets, not a day's file, so they are kept beside them
  (``openlineage``) rather than counted as inputs/outputs.
- ``code_version``: the DAG version (Airflow 3 DAG versioning) each try ran, per task,
  with the bundle version when the bundle is versioned. A new DAG version exists only when
  the serialized DAG changed: a change inside the code a task imports makes none.
- ``practiced`` (``orchbench.trace``): a ref whose sha256 is the DAG's own ``sha256_path``
  from an asset event's ``extra`` is ``practiced: ["sha256"]`` (the path is Airflow's: a
  rendered argument or the event's). register's and canary's XCom ``model_sha256`` is the
  step summary the task returns: Airflow stores it, but it holds a hash our code
  computed, the same summary Prefect's flow and KFP's ``task.py`` put in their systems'
  metadata, so it is practiced for all three (the model ref's sha256, the ``deployment``
  record); ``model_lineage`` marks ``model_sha256``.
- each dag run -> ``run_state``, with who made it (``run_type``: ``scheduled`` when the
  scheduler's timetable created it, ``manual``, ``backfill``; ``triggered_by``), when it
  might run (``run_after_ns``), was created (``queued_ns``) and started (``start_ns``);
- each try also carries Airflow's own words on it (``native``): its state, try number,
  host, pid, executor, when it was queued, and the event log entries Airflow wrote for
  it (``heartbeat timeout``, ``state mismatch``...): what a scheduler crash did to an
  in-flight task (adopted: the try ran on; reset or timed out: a next try) is read there;
- a task that is no workflow step (the deploy gate, the sensor ``wait_for_landing``) is
  recorded like the steps, under its own task id; its pokes (a reschedule-mode sensor
  keeps its try number) are no step attempts;
- each callback message -> ``alert``; each successful
  canary that deployed -> ``deployment``; each successful try of train (a cleared run
  trains again in the same dag run) -> ``model_lineage`` (model path and hash from that
  try's asset event, else, for the last try, the hash register recorded; the training
  features' path and the hash that try's input ref has: featurize's latest asset event
  for that path before the try started).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.spec import STEP_BY_NAME, STEP_NAMES
from runners.airflow.api import AirflowAPI, APIError, q

SOURCE = "airflow-api"
# The mark of a ref whose sha256 our DAG put in an asset event's ``extra``: the path is
# Airflow's, the hash practiced lineage.
PRACTICED_SHA = ["sha256"]
GATE = "deploy_gate"
SENSOR = "wait_for_landing"  # the sensor before ingest (system-scheduled deployments)
_STATE = {
    "success": "success",
    "failed": "failed",
    "up_for_retry": "failed",
    "upstream_failed": "upstream_failed",
    "skipped": "skipped",
    "removed": "unknown",
    "running": "running",
    "queued": "running",
    "scheduled": "running",
    "restarting": "running",
    "deferred": "running",
    "up_for_reschedule": "running",
}


def to_ns(ts: str | None) -> int | None:
    """Airflow's ISO-8601 UTC timestamp -> ns since the epoch (exact to the microsecond)."""
    if not ts:
        return None
    t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000


def state_of(airflow_state: str | None) -> str:
    return _STATE.get(airflow_state or "", "unknown")


def _ref(name: str, uri: str | None, sha256: str | None = None) -> dict[str, Any]:
    return {"name": name, "uri": uri, "sha256": sha256}


def _practiced(ref: dict[str, Any]) -> dict[str, Any]:
    """``ref`` with its sha256 marked practiced (the DAG's hash), when it has one."""
    return {**ref, "practiced": PRACTICED_SHA} if ref.get("sha256") else ref


def _merge(refs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ref per (name, uri), keeping a sha256 when any source had one (Airflow's own
    before the DAG's practiced one)."""

    def rank(r: dict[str, Any]) -> int:
        return 0 if not r.get("sha256") else 1 if r.get("practiced") else 2

    out: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in refs:
        key = (r["name"], r["uri"])
        if key not in out or rank(r) > rank(out[key]):
            out[key] = dict(r)
    return list(out.values())


def written(event: dict[str, Any]) -> dict[str, Any]:
    """The ref an asset event names: the artifact (the asset name's last part), the path the
    task wrote (``extra.path``, else the asset's URI) and the ``sha256`` it recorded."""
    extra = event.get("extra") or {}
    name = str(event.get("name") or "").rsplit(".", 1)[-1]
    return _practiced(_ref(name, extra.get("path") or _path(event["uri"]), extra.get("sha256")))


def events_by_try(
    events: Iterable[dict[str, Any]], tries: Iterable[dict[str, Any]]
) -> dict[int, list[dict[str, Any]]]:
    """try_number -> the asset events that try emitted.

    Airflow stamps an asset event as the try succeeds, so an event belongs to the last
    successful try that started at or before its timestamp; when no start says so, to the
    last successful try.
    """
    ok = sorted(
        (to_ns(t.get("start_date")), int(t["try_number"]))
        for t in tries
        if t.get("state") == "success" and t.get("start_date")
    )
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not ok:
        return out
    for e in events:
        at = to_ns(e.get("timestamp"))
        before = [n for start, n in ok if at is not None and start is not None and start <= at]
        out[before[-1] if before else ok[-1][1]].append(e)
    return out


def hash_before(events: Iterable[dict[str, Any]], uri: str, t_ns: int | None) -> str | None:
    """The ``sha256`` of the latest asset event for path ``uri`` emitted at or before
    ``t_ns`` (None if there is none, or it recorded no hash)."""
    if t_ns is None:
        return None
    found = [
        (at, ref["sha256"])
        for e in events
        if (at := to_ns(e.get("timestamp"))) is not None
        and at <= t_ns
        and (ref := written(e))["uri"] == uri
        and ref["sha256"]
    ]
    return max(found)[1] if found else None


@dataclass
class _Run:
    """What the API says about one dag run, gathered once."""

    rid: str
    date: str | None
    tis: dict[str, dict[str, Any]]  # task_id -> latest task instance
    xcoms: dict[str, dict[str, Any] | None]  # task_id -> return value (successful tasks)
    events: dict[str, list[dict[str, Any]]]  # task_id -> asset events it emitted
    dag_events: list[dict[str, Any]]  # every asset event of the DAG, all runs
    bundle_version: str | None = None  # the dag run's bundle version (versioned bundles)


class Collector:
    """Reads one deployment's DAG (``dag_id``) from a running stack."""

    def __init__(
        self, api: AirflowAPI, dag_id: str, alerts: Path, lineage: Iterable[dict[str, Any]]
    ) -> None:
        self.api = api
        self.dag_id = dag_id
        self.alerts = alerts
        self.lineage = _lineage_by_try(e for e in lineage if _ol_dag(e) == dag_id)
        self.event_log: dict[tuple[str, str, int], list[dict[str, Any]]] = {}

    def collect(self) -> list[dict[str, Any]]:
        dag = q(self.dag_id)
        tasks = self._tasks()
        events: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        dag_events = list(
            self.api.paged("/assets/events", "asset_events", source_dag_id=self.dag_id)
        )
        for e in dag_events:
            events[e["source_run_id"]][e["source_task_id"]].append(e)
        self.event_log = self._event_log()
        out: list[dict[str, Any]] = []
        for run in self.api.paged(f"/dags/{dag}/dagRuns", "dag_runs", order_by="logical_date"):
            rid = run["dag_run_id"]
            date = (run.get("logical_date") or "")[:10] or None
            out.append(
                trace.record(
                    "run_state",
                    run=rid,
                    logical_date=date,
                    state=run["state"],
                    t_ns=to_ns(run.get("end_date") or run.get("start_date") or run["queued_at"]),
                    source=SOURCE,
                    run_type=run.get("run_type"),
                    triggered_by=run.get("triggered_by"),
                    run_after_ns=to_ns(run.get("run_after")),
                    queued_ns=to_ns(run.get("queued_at")),
                    start_ns=to_ns(run.get("start_date")),
                    end_ns=to_ns(run.get("end_date")),
                )
            )
            base = f"/dags/{dag}/dagRuns/{q(rid)}/taskInstances"
            tis = {t["task_id"]: t for t in self.api.paged(base, "task_instances")}
            xcoms = {
                tid: self._xcom(base, tid) for tid, t in tis.items() if t["state"] == "success"
            }
            view = _Run(rid, date, tis, xcoms, events[rid], dag_events, run.get("bundle_version"))
            for tid in sorted(tis, key=_order):
                tries = self.api.get(f"{base}/{q(tid)}/tries").get("task_instances", [])
                tries.sort(key=lambda t: t["try_number"])
                emitted = events_by_try(view.events.get(tid, []), tries)
                recs = [
                    self._attempt(view, t, emitted.get(int(t["try_number"]), [])) for t in tries
                ]
                out += recs
                out += self._derived(view, tid, tries, recs)
        out += self._alerts()
        decl = None if tasks is None else self._declared(tasks)
        return out if decl is None else [decl, *out]

    def _event_log(self) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
        """(run, task, try) -> the entries of Airflow's event log (audit log) for it."""
        out: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
        try:
            entries = list(self.api.paged("/eventLogs", "event_logs", dag_id=self.dag_id))
        except APIError:
            return out
        for e in entries:
            if e.get("run_id") and e.get("task_id") and e.get("try_number") is not None:
                key = (e["run_id"], e["task_id"], int(e["try_number"]))
                out[key].append(
                    {
                        "event": e.get("event"),
                        "when": e.get("when"),
                        "extra": (e.get("extra") or "")[:300],
                    }
                )
        return out

    def _tasks(self) -> list[dict[str, Any]] | None:
        """The parsed DAG's tasks (``GET /dags/{id}/tasks``), None if the API has none."""
        try:
            return self.api.get(f"/dags/{q(self.dag_id)}/tasks").get("tasks") or []
        except APIError:
            return None

    # --- what the DAG declares -----------------------------------------------------------

    def _declared(self, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        """The ``declared`` record from the parsed DAG (``GET /dags/{id}/tasks``).

        Retries and ``execution_timeout`` per task as Airflow holds them; the deploy gate
        is the short-circuit task (its condition is the ``deploy`` flag evaluate returns).
        Assets are not counted as typed artifacts: an Asset is a name and a URI, Airflow
        knows no type for what it points to. Airflow has no task-level caching.
        """
        by_id = {t["task_id"]: t for t in tasks}
        gate = by_id.get(GATE)
        condition = None
        if gate is not None:
            condition = f"{GATE} ({gate.get('operator_name')}): evaluate's 'deploy' is true"
        rec = trace.declared(
            source=f"{SOURCE} /dags/{{dag_id}}/tasks",
            typed_artifacts=[],
            deploy_condition=condition,
            retries={tid: int(t["retries"]) for tid, t in by_id.items() if t.get("retries")},
            caching=False,
            timeouts={
                tid: s
                for tid, t in by_id.items()
                if (s := _seconds(t.get("execution_timeout"))) is not None
            },
            resources={},
        )
        rec["operators"] = {tid: t.get("operator_name") for tid, t in by_id.items()}
        return rec

    # --- one try ----------------------------------------------------------------------

    def _attempt(
        self, run: _Run, t: dict[str, Any], emitted: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """One try; ``emitted``: the asset events this try emitted (``events_by_try``)."""
        tid, n = t["task_id"], int(t["try_number"])
        state = state_of(t["state"])
        start, end = to_ns(t.get("start_date")), to_ns(t.get("end_date"))
        spec = STEP_BY_NAME.get(tid)
        ins: list[dict[str, Any]] = []
        outs: list[dict[str, Any]] = []
        ran = n > 0 and state not in ("upstream_failed", "skipped")
        if spec is not None and ran:
            args = _kwargs(run.tis[tid])
            # what the DAG's tasks last recorded writing there before this try started
            ins += [
                _practiced(_ref(k, str(v), hash_before(run.dag_events, str(v), start)))
                for k, v in args.items()
                if k in spec.inputs
            ]
            if state == "success":
                outs += [_ref(k, str(v)) for k, v in args.items() if k in spec.outputs]
                outs += [written(e) for e in emitted]
            xcom = run.xcoms.get(tid) or {}
            latest = n == int(run.tis[tid]["try_number"])
            if latest and state == "success" and tid == "register" and xcom.get("model_sha256"):
                model = next((r for r in ins if r["name"] == "model"), None)
                if model is not None:
                    # the step summary the task returns: the same one Prefect's flow and
                    # KFP's task.py put in metadata, so practiced for all three alike
                    ins.append(_practiced(_ref("model", model["uri"], xcom["model_sha256"])))
        dag_version = t.get("dag_version") or {}
        version = dag_version.get("version_number")
        # the bundle version the dag run used (None for a local, unversioned bundle); a
        # DagVersion's own bundle_version is refreshed in place when the bundle advances
        # without a DAG change (SerializedDagModel.write_dag), so it is not per try
        bundle = run.bundle_version
        extra: dict[str, Any] = {
            "task_id": tid,
            "max_tries": t.get("max_tries"),
            "queued_ns": to_ns(t.get("queued_when")),
            "airflow_state": t["state"],
            "duration_s": t.get("duration"),
            # Airflow's own record of this try, in its words
            "native": {
                "state": t["state"],
                "try_number": t.get("try_number"),
                "hostname": t.get("hostname"),
                "pid": t.get("pid"),
                "executor": t.get("executor"),
                "queued_when": t.get("queued_when"),
                "events": self.event_log.get((run.rid, tid, n), []),
            },
        }
        ol = self.lineage.get((run.rid, tid, n))
        if ol is not None:  # what OpenLineage says: datasets per asset, not per day's file
            extra["openlineage"] = ol
        if tid == GATE:
            extra["gate"] = True
        if state == "skipped":
            extra["reason"] = "short-circuited by the deploy gate"
        return trace.task_attempt(
            logical_date=run.date or "",
            step=tid,
            state=state,
            source=SOURCE,
            attempt=n or None,
            start_ns=start,
            end_ns=end,
            run=run.rid,
            inputs=_merge(ins),
            outputs=_merge(outs),
            code_version=(
                f"dag v{version}{f' ({bundle})' if bundle else ''}/{tid}"
                if version is not None and ran
                else None
            ),
            **extra,
        )

    # --- what the XComs of a run say ----------------------------------------------------

    def _derived(
        self,
        run: _Run,
        tid: str,
        tries: list[dict[str, Any]],
        recs: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Records a run's XComs and asset events imply; ``recs``: each try's record."""
        ti = run.tis[tid]
        if ti["state"] != "success" or not tries:
            return []
        end = to_ns(tries[-1].get("end_date"))
        args = _kwargs(ti)
        xcom = run.xcoms.get(tid) or {}
        if tid == "canary" and xcom.get("deployed") and xcom.get("model_sha256"):
            return [
                trace.record(
                    "deployment",
                    t_ns=end,
                    slot="production",
                    model_sha256=xcom["model_sha256"],
                    logical_date=run.date,
                    run=run.rid,
                    source=SOURCE,
                    practiced=True,  # from the step summary the task returns, as elsewhere
                )
            ]
        if tid == "train" and args.get("model") and args.get("features"):
            model, features = str(args["model"]), str(args["features"])
            out = []
            # every successful try (a cleared run trains again): the model's hash from that
            # try's own asset event, else (last try only) what register recorded; the
            # features' hash as that try's input ref has it (featurize's latest event)
            for k, (t, rec) in enumerate(zip(tries, recs, strict=True)):
                if state_of(t["state"]) != "success":
                    continue
                refs = rec.get("outputs") or []
                sha = next((r["sha256"] for r in refs if r["uri"] == model and r["sha256"]), None)
                # the DAG's hash, else register's returned summary: practiced either way
                mark = ["model_sha256"]
                if k == len(tries) - 1:
                    sha = sha or (run.xcoms.get("register") or {}).get("model_sha256")
                ins = rec.get("inputs") or []
                training = next((r for r in ins if r["uri"] == features), None)
                training = _practiced(
                    {"uri": features, "sha256": training["sha256"] if training else None}
                )
                out.append(
                    trace.record(
                        "model_lineage",
                        model_uri=model,
                        model_sha256=sha,
                        training=training,
                        logical_date=run.date,
                        run=run.rid,
                        attempt=int(t["try_number"]) or None,
                        source=SOURCE,
                        practiced=mark,
                    )
                )
            return out
        return []

    def _xcom(self, base: str, tid: str) -> dict[str, Any] | None:
        try:
            value = self.api.get(f"{base}/{q(tid)}/xcomEntries/return_value").get("value")
        except APIError as e:
            if e.status == 404:
                return None
            raise
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return {"value": value}
        return value if isinstance(value, dict) else {"value": value}

    # --- alerts ------------------------------------------------------------------------

    def _alerts(self) -> list[dict[str, Any]]:
        """The messages this DAG's ``on_failure_callback`` delivered to the alert sink."""
        return trace.sink_alerts(
            self.alerts,
            "*.airflow.json",
            "callback",
            STEP_NAMES,
            step_key="task_id",
            keep=lambda m: m.get("dag_id") == self.dag_id,
        )


def _lineage_by_try(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(dag_run_id, task_id, try) -> the OpenLineage events' types and dataset names."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for e in events:
        facet = ((e.get("run") or {}).get("facets") or {}).get("airflow") or {}
        ti, task, run = facet.get("taskInstance"), facet.get("task"), facet.get("dagRun")
        if not (ti and task and run):
            continue
        key = (run.get("run_id"), task.get("task_id"), int(ti.get("try_number") or 0))
        got = out.setdefault(key, {"events": [], "inputs": [], "outputs": []})
        got["events"].append(e.get("eventType"))
        for side in ("inputs", "outputs"):
            for d in e.get(side) or []:
                name = f"{d.get('namespace')}:{d.get('name')}"
                if name not in got[side]:
                    got[side].append(name)
    return out


def _seconds(value: Any) -> float | None:
    """A timedelta as the REST API serializes it (``{"__type": "TimeDelta", ...}``, a
    number of seconds, or ``"HH:MM:SS"``) -> seconds."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        days = float(value.get("days") or 0)
        return (
            days * 86400
            + float(value.get("seconds") or 0)
            + float(value.get("microseconds") or 0) / 1e6
        )
    if isinstance(value, str):
        parts = value.split(" day")
        days = float(parts[0]) if len(parts) > 1 else 0.0
        hms = parts[-1].lstrip("s, ").split(":")
        try:
            h, m, sec = (float(x) for x in hms)
        except ValueError:
            return None
        return days * 86400 + h * 3600 + m * 60 + sec
    return None


def _kwargs(ti: dict[str, Any]) -> dict[str, Any]:
    """The task's arguments as Airflow rendered them (templates and upstream XCom resolved)."""
    return ((ti.get("rendered_fields") or {}).get("op_kwargs")) or {}


def _path(uri: str) -> str:
    return uri.removeprefix("file://")


def _order(task_id: str) -> int:
    order = [SENSOR, *STEP_NAMES[:5], GATE, *STEP_NAMES[5:]]
    return order.index(task_id) if task_id in order else len(order)


def _ol_dag(event: dict[str, Any]) -> str | None:
    airflow = ((event.get("run") or {}).get("facets") or {}).get("airflow") or {}
    dag = airflow.get("dag") or {}
    return dag.get("dag_id")
