"""Read a run back from the Prefect API and convert it into the common native trace.

Only what a Prefect user can read: flow runs (by the run's tag), their states, task runs
and each task run's state history, the asset events, the persisted task results the
states point to, and the messages the failure hooks delivered to the alert sink.

- ``task_attempt``: one per attempt. Prefect keeps one task run per task call in a flow
  run and records every attempt in its state history: an attempt starts at ``Running`` or
  ``Retrying`` and ends at the next state (``AwaitingRetry`` or ``Failed``/``TimedOut``:
  failed; ``Completed``: success; ``Cached``: cached; ``Crashed``: crashed; with no retry
  delay Prefect goes straight to ``Retrying``, which ends the previous attempt as failed).
  An attempt the API still shows running when the run is collected (its process was
  killed and nothing marked it) is written as ``running``, as is a flow run still shown
  ``Running``: what the system says, not what happened. Every record here is read from
  the API, the system's central view (none is passive); ``attempt`` is
  Prefect's own count within the task run; ``run`` the flow run id; ``code_version`` the
  task's ``version`` if it has one, else the flow run's deployment version (the git
  revision the team serves; ``flow_version`` without a deployment), per task.
- ``practiced`` (``orchbench.trace``): every sha256 in a ref is one our flow computed and
  stored through Prefect's API (asset metadata, the task's returned ``Output``): such a
  ref is ``practiced: ["sha256"]`` (the asset key or returned path is Prefect's record);
  ``model_lineage`` marks ``model_sha256``; ``deployment`` (read from the metadata the
  flow added) is practiced whole.
- Inputs: for each argument that came from another task, that task run's persisted result
  (what it wrote and its sha256); the assets the materialization event names as upstream
  (source/state files, by key only). Outputs: the materialization event's assets with the
  sha256 the task added as metadata. Cached task runs emit no asset event; their outputs
  are the persisted result they reused.
- ``model_lineage``: a successful ``train`` with the features it read; ``deployment``: the
  production slot's materialization event; ``run_state``: each flow run's final state,
  its work pool and the worker that ran it (the worker's ``submitted-flow-run`` event);
  ``alert``: the hook messages. Artifacts a task published (``evaluate``'s gate decision)
  are listed on its last attempt.

Prefect records task states and events asynchronously (the task engine emits events, the
server's recorders write them in batches), so ``wait_stable`` polls until the view has
not changed for a while before anything is read.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.paths import FILENAMES
from orchbench.workflow.spec import STEP_BY_NAME
from orchbench.world import World
from runners.prefect import clock
from runners.prefect.server import Api

SOURCE = "prefect-api"
PAGE = 200  # the most flow/task runs one filter call returns
EVENTS_PAGE = 50  # the most events one call returns
MATERIALIZED = "prefect.asset.materialization."
# Every sha256 in a ref is one our flow computed and stored through Prefect's API (asset
# metadata, the task's returned ``Output``): practiced lineage; the key or path is Prefect's.
PRACTICED_SHA = ["sha256"]


def _practiced(ref: dict[str, Any]) -> dict[str, Any]:
    """``ref`` with its sha256 marked practiced, when it has one."""
    return {**ref, "practiced": PRACTICED_SHA} if ref.get("sha256") else ref


WORKER_EVENTS = "prefect.worker."


def run_tag(run_id: str) -> str:
    return f"orchbench-run:{run_id}"


def ts_ns(value: str | None) -> int | None:
    """An API timestamp (ISO 8601, UTC) in integer nanoseconds since the epoch."""
    if not value:
        return None
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (t - epoch) // dt.timedelta(microseconds=1) * 1000


@dataclass
class Snapshot:
    """Everything read from the API for one run."""

    flow_runs: list[dict[str, Any]] = field(default_factory=list)
    flow_states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    task_runs: list[dict[str, Any]] = field(default_factory=list)
    task_states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    worker_events: list[dict[str, Any]] = field(default_factory=list)

    def fingerprint(self) -> tuple[Any, ...]:
        return (
            tuple((f["id"], f.get("state_name")) for f in self.flow_runs),
            tuple(sorted((k, len(v)) for k, v in self.flow_states.items())),
            tuple(
                sorted((t["id"], t.get("state_name"), t.get("run_count")) for t in self.task_runs)
            ),
            tuple(sorted((k, len(v)) for k, v in self.task_states.items())),
            len(self.events),
            len(self.artifacts),
            len(self.worker_events),
        )


def read_snapshot(api: Api, tag: str) -> Snapshot:
    snap = Snapshot()
    snap.flow_runs = _paged(
        lambda off: api.post(
            "flow_runs/filter",
            {
                "flow_runs": {"tags": {"all_": [tag]}},
                "sort": "START_TIME_ASC",
                "limit": PAGE,
                "offset": off,
            },
        )
    )
    ids = [f["id"] for f in snap.flow_runs]
    for fid in ids:
        snap.flow_states[fid] = api.get(f"flow_run_states/?flow_run_id={fid}") or []
    if ids:
        snap.task_runs = _paged(
            lambda off: api.post(
                "task_runs/filter",
                {
                    "flow_runs": {"id": {"any_": ids}},
                    "sort": "EXPECTED_START_TIME_ASC",
                    "limit": PAGE,
                    "offset": off,
                },
            )
        )
    for t in snap.task_runs:
        snap.task_states[t["id"]] = api.get(f"task_run_states/?task_run_id={t['id']}") or []
    if ids:
        snap.artifacts = _paged(
            lambda off: api.post(
                "artifacts/filter",
                {"artifacts": {"flow_run_id": {"any_": ids}}, "limit": PAGE, "offset": off},
            )
        )
    snap.events = read_events(api, tag)
    if any(f.get("work_pool_name") for f in snap.flow_runs):
        snap.worker_events = read_worker_events(api, ids)
    return snap


def _paged(fetch: Callable[[int], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = fetch(len(out)) or []
        out.extend(page)
        if len(page) < PAGE:
            return out


def read_events(api: Api, tag: str) -> list[dict[str, Any]]:
    """Asset materialization events of the run's flow runs (oldest first)."""
    return _events(api, MATERIALIZED, [f"prefect.tag.{tag}"])


def read_worker_events(api: Api, flow_run_ids: list[str]) -> list[dict[str, Any]]:
    """What workers reported about these flow runs (submitted, executed), oldest first."""
    return _events(api, WORKER_EVENTS, [f"prefect.flow-run.{i}" for i in flow_run_ids])


def _events(api: Api, prefix: str, related: list[str]) -> list[dict[str, Any]]:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat()
    body = {
        "filter": {
            "occurred": {"since": since},
            "event": {"prefix": [prefix]},
            "related": {"id": related},
            "order": "ASC",
        },
        "limit": EVENTS_PAGE,
    }
    page = api.post("events/filter", body) or {}
    events = list(page.get("events") or [])
    while page.get("next_page"):
        page = api.get(page["next_page"]) or {}
        events.extend(page.get("events") or [])
    return events


def wait_stable(
    api: Api, tag: str, quiet_s: float, max_wait_s: float, poll_s: float = 0.5
) -> tuple[Snapshot, bool]:
    """Poll until the API's view of the run has not changed for ``quiet_s`` seconds.

    Returns the last snapshot and whether it was stable (False: ``max_wait_s`` ran out).
    """
    t0 = time.monotonic()
    snap = read_snapshot(api, tag)
    last, changed_at = snap.fingerprint(), time.monotonic()
    while time.monotonic() - t0 < max_wait_s:
        time.sleep(poll_s)
        snap = read_snapshot(api, tag)
        fp = snap.fingerprint()
        if fp != last:
            last, changed_at = fp, time.monotonic()
        elif time.monotonic() - changed_at >= quiet_s:
            return snap, True
    return snap, False


# --- conversion ---------------------------------------------------------------------------


def step_of(task_run: dict[str, Any]) -> str | None:
    """The step a task run ran: its task key is ``<function name>-<hash>``."""
    name = str(task_run.get("task_key", "")).rsplit("-", 1)[0]
    return name if name in STEP_BY_NAME else None


def attempts(states: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split a task run's state history into attempts (see the module docstring)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for s in sorted(states, key=lambda s: s["timestamp"]):
        kind, name = s.get("type"), s.get("name")
        if kind == "RUNNING":
            if current is not None and current["state"] == "running":
                if name == "Retrying":  # a retry with no delay: no AwaitingRetry between
                    current.update(end=s["timestamp"], state="failed", native=name)
                else:
                    current.update(state="unknown")  # a new attempt began without an end
            current = {"start": s["timestamp"], "end": None, "state": "running", "native": name}
            out.append(current)
            continue
        if current is None or current["state"] != "running":
            continue
        state = _attempt_state(kind, name)
        if state is not None:
            current.update(end=s["timestamp"], state=state, native=name, message=s.get("message"))
    return out


def _attempt_state(kind: str | None, name: str | None) -> str | None:
    if kind == "COMPLETED":
        return "cached" if name == "Cached" else "success"
    if kind == "FAILED":
        return "failed"  # Failed, TimedOut
    if kind == "CRASHED":
        return "crashed"
    if kind == "SCHEDULED" and name == "AwaitingRetry":
        return "failed"  # the attempt failed; Prefect will retry it
    if kind in ("CANCELLED", "CANCELLING"):
        return "unknown"
    return None  # Pending, Paused...: not the end of an attempt


def _load_result(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The task's persisted return value (an ``Output``) the state points to, if readable."""
    data = (state or {}).get("data")
    key = data.get("storage_key") if isinstance(data, dict) else None
    if not key:
        return None
    try:
        record = json.loads(Path(key).read_text())
        value = record.get("result")
        value = json.loads(value) if isinstance(value, str) else value
    except (OSError, ValueError):
        return None
    if isinstance(value, dict) and isinstance(value.get("data"), dict):
        value = value["data"]  # pydantic models are encoded as {"__class__", "data"}
    return value if isinstance(value, dict) and "uri" in value else None


def _artifact_name(uri: str, world: World | None) -> str:
    path = Path(uri)
    if world is not None:
        known = {
            world.champion: "champion",
            world.serving: "serving",
            world.holdout: "holdout",
            world.reference_profile: "reference",
        }
        if path in known:
            return known[path]
        if path.parent == world.landing:
            return "landing"
    by_file = {f: n for n, f in FILENAMES.items()}
    return by_file.get(path.name, path.name)


def _key_uri(key: str) -> str:
    return key.removeprefix("file://")


def _task_run_of(event: dict[str, Any]) -> str | None:
    for r in event.get("related") or []:
        if r.get("prefect.resource.role") == "task-run":
            return str(r["prefect.resource.id"]).removeprefix("prefect.task-run.")
    return None


def convert(
    snap: Snapshot, alerts_dir: Path | None = None, world: World | None = None
) -> list[dict[str, Any]]:
    """The common trace records for one run's snapshot (see the module docstring)."""
    records: list[dict[str, Any]] = []
    day_clock = clock.read(clock.path_in(world.root.parent)) if world is not None else None
    dates = {f["id"]: logical_date_of(f, day_clock) for f in snap.flow_runs}
    run_versions = {f["id"]: code_version_of(f) for f in snap.flow_runs}
    # the flow's own version (Prefect's default: a hash of the flow's file), what Prefect
    # records where our code did not set the deployment's version
    flow_versions = {f["id"]: _flow_version(f) for f in snap.flow_runs}
    deployed = {f["id"] for f in snap.flow_runs if f.get("deployment_version")}
    by_id = {t["id"]: t for t in snap.task_runs}
    results = {t["id"]: _load_result(t.get("state")) for t in snap.task_runs}
    events: dict[str, list[dict[str, Any]]] = {}
    for e in snap.events:
        tr = _task_run_of(e)
        if tr is not None:
            events.setdefault(tr, []).append(e)

    produced: dict[str, dict[str, dict[str, Any]]] = {}
    for tr, evs in events.items():
        for e in evs:
            if e["event"].endswith(".succeeded"):
                uri = _key_uri(e["resource"]["prefect.resource.id"])
                name = _artifact_name(uri, world)
                sha = (e.get("payload") or {}).get("sha256")
                ref = {"name": name, "uri": uri, "sha256": sha}
                produced.setdefault(tr, {})[name] = _practiced(ref)

    # Each asset's materializations in time order: which version a later reader saw.
    history: dict[str, list[tuple[int, str | None]]] = {}
    for e in snap.events:
        if e["event"].endswith(".succeeded"):
            uri = _key_uri(e["resource"]["prefect.resource.id"])
            occurred = ts_ns(e.get("occurred")) or 0
            history.setdefault(uri, []).append((occurred, (e.get("payload") or {}).get("sha256")))
    for versions in history.values():
        versions.sort(key=lambda v: v[0])

    def dated_output(task_run_id: str) -> dict[str, Any] | None:
        """What an upstream task run wrote: its own asset event, else its persisted result
        (a Cached run emits no asset event; its result is the record it reused)."""
        up = by_id.get(task_run_id)
        step = step_of(up) if up else None
        if step is None:
            return None
        name = STEP_BY_NAME[step].outputs[0]
        ref = produced.get(task_run_id, {}).get(name)
        if ref is None and (res := results.get(task_run_id)) is not None:
            ref = _practiced(
                {"name": res.get("name"), "uri": res.get("uri"), "sha256": res.get("sha256")}
            )
        return ref

    for t in snap.task_runs:
        step = step_of(t)
        if step is None:
            continue
        run = t.get("flow_run_id")
        date = dates.get(run, "None")
        inputs: list[dict[str, Any]] = []
        for name, refs in (t.get("task_inputs") or {}).items():
            for ref in refs:
                if ref.get("input_type") == "task_run":
                    up = dated_output(ref["id"])
                    if up is not None:
                        inputs.append({**up, "name": name})
        succeeded = [e for e in events.get(t["id"], []) if e["event"].endswith(".succeeded")]
        outputs = list(produced.get(t["id"], {}).values())
        tries = attempts(snap.task_states.get(t["id"], []))
        began = ts_ns(tries[0]["start"]) if tries else None
        named = {i["uri"] for i in inputs}
        for e in events.get(t["id"], []):
            for r in e.get("related") or []:
                if r.get("prefect.resource.role") == "asset":
                    uri = _key_uri(r["prefect.resource.id"])
                    if uri not in named:
                        named.add(uri)
                        sha = _version_at(history.get(uri, []), began)
                        inputs.append(
                            _practiced(
                                {"name": _artifact_name(uri, world), "uri": uri, "sha256": sha}
                            )
                        )
        cached = results.get(t["id"])
        published = [
            {"key": a.get("key"), "type": a.get("type"), "description": a.get("description")}
            for a in snap.artifacts
            if a.get("task_run_id") == t["id"]
        ]
        for k, a in enumerate(tries, start=1):
            last = k == len(tries)
            out: list[dict[str, Any]] = []
            if last and a["state"] == "success":
                out = outputs
            elif last and a["state"] == "cached" and cached is not None:
                ref = {"name": cached["name"], "uri": cached["uri"], "sha256": cached["sha256"]}
                out = [_practiced(ref)]
            records.append(
                trace.task_attempt(
                    logical_date=date,
                    step=step,
                    state=a["state"],
                    source=SOURCE,
                    attempt=k,
                    start_ns=ts_ns(a["start"]),
                    end_ns=ts_ns(a["end"]),
                    run=run,
                    inputs=inputs,
                    outputs=out,
                    code_version=_task_version(t, run_versions.get(run), step),
                    native_code_version=_task_version(t, flow_versions.get(run), step),
                    practiced=["code_version"] if run in deployed else None,
                    native_state=a["native"],
                    task_run=t["id"],
                    message=a.get("message"),
                    artifacts=published if last else [],
                )
            )
        if step == "train" and tries and tries[-1]["state"] == "success":
            model = next((o for o in outputs if o["name"] == "model"), None)
            training = [i for i in inputs if i["name"] == "features"]
            if model is not None and training:
                records.append(
                    trace.record(
                        "model_lineage",
                        model_uri=model["uri"],
                        model_sha256=model["sha256"],
                        training=training[0],
                        run=run,
                        source=SOURCE,
                        practiced=["model_sha256"],  # the flow's hash; the keys Prefect's
                    )
                )
        if step == "canary":
            for e in succeeded:
                payload = e.get("payload") or {}
                uri = _key_uri(e["resource"]["prefect.resource.id"])
                serving = _artifact_name(uri, world) == "serving"
                if serving and payload.get("deployed") and payload.get("model_sha256"):
                    records.append(
                        trace.record(
                            "deployment",
                            t_ns=ts_ns(e.get("occurred")),
                            slot="production",
                            model_sha256=payload["model_sha256"],
                            run=run,
                            logical_date=date,
                            source=SOURCE,
                            practiced=True,  # from the metadata the flow added to the event
                        )
                    )

    workers = _workers(snap.worker_events)
    for f in snap.flow_runs:
        history = sorted(snap.flow_states.get(f["id"], []), key=lambda s: s["timestamp"])
        final = history[-1] if history else f.get("state") or {}
        records.append(
            trace.record(
                "run_state",
                run=f["id"],
                logical_date=dates.get(f["id"]),
                state=_run_state(final.get("type"), final.get("name")),
                native_state=final.get("name"),
                t_ns=ts_ns(final.get("timestamp")),
                name=f.get("name"),
                parameters=f.get("parameters"),
                # who created the run: "SCHEDULE" (the deployment's schedule, Prefect's
                # scheduler service), else the API call that did (created_by is null)
                created_by=(f.get("created_by") or {}).get("type"),
                # the names of its states in order, Prefect's words (Scheduled, Late, ...)
                native_states=[h.get("name") for h in history],
                scheduled_start_ns=ts_ns(f.get("expected_start_time")),
                start_ns=ts_ns(f.get("start_time")),
                work_pool=f.get("work_pool_name"),
                worker=workers.get(f["id"]),
                source=SOURCE,
            )
        )
    records.extend(read_alerts(alerts_dir) if alerts_dir is not None else [])
    return records


def logical_date_of(flow_run: dict[str, Any], day_clock: dict[str, Any] | None) -> str:
    """The date a flow run stands for: its ``logical_date`` parameter, else (a run of the
    deployment's schedule) the date of its scheduled start time on the run's day clock,
    as the flow itself derives it (``flow.logical_date_of``)."""
    given = (flow_run.get("parameters") or {}).get("logical_date")
    expected = ts_ns(flow_run.get("expected_start_time"))
    if given is None and day_clock is not None and expected is not None:
        given = clock.date_at(day_clock, expected / 1e9)
    return str(given)


def code_version_of(flow_run: dict[str, Any]) -> str | None:
    """The code version Prefect recorded on a flow run: its deployment's version when it
    ran from one (the repository's git revision, which our code sets where the flow is
    served or deployed: practiced, as cron-hardened's manifest revision is), else the
    flow's version (by default a hash of the flow's file: native)."""
    if dv := flow_run.get("deployment_version"):
        return f"deployment {dv}"
    if fv := flow_run.get("flow_version"):
        return f"flow {fv}"
    return None


def _flow_version(flow_run: dict[str, Any]) -> str | None:
    fv = flow_run.get("flow_version")
    return f"flow {fv}" if fv else None


def _task_version(task_run: dict[str, Any], run_version: str | None, step: str) -> str | None:
    """A task run's code version: its own ``task_version`` when the task sets one, else the
    flow run's version, per task (one flow version covers every task of the flow)."""
    if tv := task_run.get("task_version"):
        return str(tv)
    return f"{run_version}/{step}" if run_version else None


def _workers(worker_events: list[dict[str, Any]]) -> dict[str, str]:
    """Flow run id -> name of the worker that submitted it."""
    out: dict[str, str] = {}
    for e in worker_events:
        if e.get("event") != "prefect.worker.submitted-flow-run":
            continue
        name = (e.get("resource") or {}).get("prefect.resource.name")
        for r in e.get("related") or []:
            if r.get("prefect.resource.role") == "flow-run" and name:
                out[str(r["prefect.resource.id"]).removeprefix("prefect.flow-run.")] = name
    return out


def _version_at(versions: list[tuple[int, str | None]], t: int | None) -> str | None:
    """The sha256 of the asset's latest materialization before ``t`` (None if none)."""
    if t is None:
        return None
    before = [sha for occurred, sha in versions if occurred <= t]
    return before[-1] if before else None


def _run_state(kind: str | None, name: str | None) -> str:
    return {
        "COMPLETED": "success",
        "FAILED": "failed",
        "CRASHED": "crashed",
        "RUNNING": "running",
    }.get(str(kind), "unknown")


def read_alerts(alerts_dir: Path) -> list[dict[str, Any]]:
    """The messages the flow's failure hooks delivered to the alert sink."""
    return trace.sink_alerts(alerts_dir, "prefect-*.json", "callback", STEP_BY_NAME)


def collect(
    api: Api,
    run_id: str,
    alerts_dir: Path | None,
    world: World | None,
    quiet_s: float,
    max_wait_s: float,
) -> tuple[list[dict[str, Any]], bool]:
    """The run's native trace, once the API's view is stable. Returns (records, stable)."""
    try:
        snap, stable = wait_stable(api, run_tag(run_id), quiet_s=quiet_s, max_wait_s=max_wait_s)
    except (OSError, urllib.error.URLError) as e:
        raise RuntimeError(f"cannot read the Prefect API at {api.url}: {e}") from e
    return convert(snap, alerts_dir, world), stable
