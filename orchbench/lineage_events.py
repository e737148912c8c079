"""OpenLineage RunEvents built from a run's native trace alone (``orchbench export-lineage``).

Only what the system recorded (``native.jsonl``, ``orchbench.trace``) goes in; the journal
is never read, so the events say what the system's own records say, gaps included.
With ``native=True`` the trace is first cut to what the system records with no lineage
code of ours (``trace.native_only``), the view ``lineage_native`` scores.

Mapping (OpenLineage spec 2-0-2, built with ``openlineage-python``):

- each ``task_attempt`` is one run of the job ``daily_retraining.<step>`` in the namespace
  ``orchbench/<runner>``: a ``START`` event at its start and a terminal event at its end
  (``success``/``cached`` -> ``COMPLETE``, ``failed``/``crashed`` -> ``FAIL``,
  ``upstream_failed``/``skipped`` -> ``ABORT``, ``running``/``unknown`` -> no terminal
  event). Its run id is a UUID derived from the run, the system's run id, the date, the
  step and the record's position, so the same trace gives the same events;
- its ``inputs``/``outputs`` are datasets (namespace ``file``, name = the recorded uri,
  else its name, else ``sha256:<hash>``), with a ``version`` facet (``datasetVersion`` =
  sha256) where the system recorded a hash; outputs go on the terminal event only;
- ``parent``: the system's run of the date (``run``, else the date) as a run of the job
  ``daily_retraining``; a ``run_state`` record becomes that parent run's own event;
- ``nominalTime`` run facet: the logical date the system ran the attempt for (its
  ``nominalStartTime``, midnight UTC of the date);
- ``orchbench_attempt`` run facet (ours, schema shipped beside the spec's): the system's
  own try number and state word, which OpenLineage's run states cannot carry (``cached``
  and ``upstream_failed`` both end a run without it having run);
- ``sourceCodeLocation`` job facet with ``version`` = the recorded ``code_version``;
- ``model_lineage`` and ``deployment`` records become events of the jobs
  ``daily_retraining.model_lineage`` (training data in, model out) and
  ``daily_retraining.deployment`` (model in, serving slot out), at the record's time, else
  at the end of the run.

A record with no time at all cannot be placed in an event stream: it is counted in
``Export.untimed`` and left out. The spec's JSON schemas are shipped in
``orchbench/openlineage_spec/`` (``validate``).

``read`` turns events back into the trace records lineage is scored on (``task_attempt``,
``model_lineage``, ``deployment``), so ``metrics.lineage_by_fact`` reads every system
through these events: what the export cannot carry does not count.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    dataset_version_dataset,
    nominal_time_run,
    parent_run,
    source_code_location_job,
)
from openlineage.client.serde import Serde

from orchbench import trace as tr

PRODUCER = "https://orchbench.invalid/export-lineage"
PARENT_JOB = "daily_retraining"
SPEC_DIR = Path(__file__).with_name("openlineage_spec")
ATTEMPT_FACET = "orchbench_attempt"
NO_NAME = "sha256:"  # the dataset name of a ref the system recorded only by its hash
TERMINAL = {
    "success": RunState.COMPLETE,
    "cached": RunState.COMPLETE,
    "failed": RunState.FAIL,
    "crashed": RunState.FAIL,
    "upstream_failed": RunState.ABORT,
    "skipped": RunState.ABORT,
}
RUN_STATES = {"success": RunState.COMPLETE, "running": RunState.RUNNING, **TERMINAL}


@attr.define
class AttemptRunFacet(RunFacet):
    """The system's own try number and state word of one task attempt (our custom facet)."""

    state: str = attr.field()
    attempt: int | None = attr.field(default=None)
    _additional_skip_redact: ClassVar[list[str]] = ["state", "attempt"]

    @staticmethod
    def _get_schema() -> str:
        return (
            "https://orchbench.invalid/spec/facets/1-0-0/OrchbenchAttemptRunFacet.json"
            "#/$defs/OrchbenchAttemptRunFacet"
        )


@dataclass
class Export:
    """The events of one run, oldest first, and the records that had no time."""

    events: list[dict[str, Any]] = field(default_factory=list)
    untimed: int = 0


def _iso(ns: float) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "orchbench:" + "/".join(map(str, parts))))


def _datasets(refs: list[dict[str, Any]] | None, kind: type) -> list[Any]:
    out = []
    for ref in refs or []:
        name = ref.get("uri") or ref.get("name")
        if not name and ref.get("sha256"):
            name = f"{NO_NAME}{ref['sha256']}"
        if not name:
            continue
        facets = {}
        if ref.get("sha256"):
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(ref["sha256"])
            )
        out.append(kind(namespace="file", name=str(name), facets=facets))
    return out


def _parent(namespace: str, run_key: str, record: dict[str, Any]) -> parent_run.ParentRunFacet:
    system_run = record.get("run") if record.get("run") is not None else record.get("logical_date")
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=_uuid(run_key, "parent", system_run)),
        job=parent_run.Job(namespace=namespace, name=PARENT_JOB),
    )


def _event(state: RunState, t_ns: float, run: Run, job: Job, **io: Any) -> dict[str, Any]:
    event = RunEvent(
        eventType=state, eventTime=_iso(t_ns), run=run, job=job, producer=PRODUCER, **io
    )
    return Serde.to_dict(event)


def export(
    records: list[dict[str, Any]],
    runner: str,
    run_key: str,
    end_ns: float | None,
    native: bool = False,
) -> Export:
    """The OpenLineage events of one run's native trace (``run_key``: the run's id)."""
    if native:
        records = tr.native_only(records)
    namespace = f"orchbench/{runner}"
    out = Export()
    timed: list[tuple[float, int, dict[str, Any]]] = []
    for i, r in enumerate(records):
        made = _events_of(r, i, namespace, run_key, end_ns)
        if made is None:
            out.untimed += 1
        timed += [(t, i, e) for t, e in made or []]
    out.events = [e for _, _, e in sorted(timed, key=lambda x: (x[0], x[1]))]
    return out


def _events_of(
    r: dict[str, Any], i: int, namespace: str, run_key: str, end_ns: float | None
) -> list[tuple[float, dict[str, Any]]] | None:
    """The (time, event) pairs of one record; [] for a kind with no lineage, None when
    the record has lineage but no time."""
    kind = r.get("kind")
    if kind == "task_attempt":
        return _attempt_events(r, i, namespace, run_key)
    if kind == "run_state":
        t, state = r.get("t_ns"), RUN_STATES.get(str(r.get("state", "")).lower())
        if state is None:
            return []
        if t is None:
            return None
        run = Run(runId=_parent(namespace, run_key, r).run.runId)
        return [(t, _event(state, t, run, Job(namespace=namespace, name=PARENT_JOB)))]
    if kind in ("model_lineage", "deployment"):
        t = r.get("t_ns") or end_ns
        if t is None:
            return None
        model = [{"uri": r.get("model_uri"), "sha256": r.get("model_sha256")}]
        if kind == "model_lineage":
            training = r.get("training") or []  # one ref, or a runner's list of them
            ins, outs = training if isinstance(training, list) else [training], model
        else:
            ins, outs = model, [{"uri": f"serving://{r.get('slot')}"}]
        run = Run(runId=_uuid(run_key, kind, i))
        job = Job(namespace=namespace, name=f"{PARENT_JOB}.{kind}")
        return [
            (
                t,
                _event(
                    RunState.COMPLETE,
                    t,
                    run,
                    job,
                    inputs=_datasets(ins, InputDataset),
                    outputs=_datasets(outs, OutputDataset),
                ),
            )
        ]
    return []


def _attempt_events(
    r: dict[str, Any], i: int, namespace: str, run_key: str
) -> list[tuple[float, dict[str, Any]]] | None:
    start, end = r.get("start_ns"), r.get("end_ns")
    if start is None and end is None:
        return None
    facets: dict[str, Any] = {
        "parent": _parent(namespace, run_key, r),
        ATTEMPT_FACET: AttemptRunFacet(
            state=str(r.get("state")),
            attempt=r["attempt"] if isinstance(r.get("attempt"), int) else None,
        ),
    }
    if r.get("logical_date"):
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=f"{r['logical_date']}T00:00:00Z"
        )
    run = Run(
        runId=_uuid(run_key, r.get("run"), r.get("logical_date"), r.get("step"), i),
        facets=facets,
    )
    job_facets = {}
    if r.get("code_version"):
        job_facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url="file:///world/code", version=str(r["code_version"])
        )
    job = Job(namespace=namespace, name=f"{PARENT_JOB}.{r.get('step')}", facets=job_facets)
    inputs = _datasets(r.get("inputs"), InputDataset)
    out = [
        (
            start if start is not None else end,
            _event(RunState.START, start or end, run, job, inputs=inputs),
        )
    ]
    terminal = TERMINAL.get(str(r.get("state", "")).lower())
    if terminal is not None and end is not None:
        outputs = (
            _datasets(r.get("outputs"), OutputDataset) if terminal == RunState.COMPLETE else []
        )
        out.append((end, _event(terminal, end, run, job, inputs=inputs, outputs=outputs)))
    return out


def export_run(run_dir: Path, native: bool = False) -> Export:
    """``export`` of a run directory's ``native.jsonl``, named by its ``run.json``."""
    record = json.loads((run_dir / "run.json").read_text())
    end = record.get("finished_at")
    end_ns = datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp() * 1e9 if end else None
    records = tr.read_trace(run_dir / tr.TRACE_NAME)
    return export(records, str(record.get("runner")), str(record.get("run_id")), end_ns, native)


def read(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace records lineage is scored on, as ``events`` carry them.

    One ``task_attempt`` per attempt run (its START, then its terminal event if any): date
    from ``nominalTime``, try number and state from ``orchbench_attempt``, start and end
    from the event times (microseconds), ``code_version`` from ``sourceCodeLocation``,
    datasets as ``{uri, sha256}`` refs. ``model_lineage`` and ``deployment`` records from
    their jobs' events. Run states are left out: lineage does not read them.
    """
    attempts: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for e in events:
        job = e["job"]["name"]
        if not job.startswith(f"{PARENT_JOB}."):
            continue
        step, t = job.removeprefix(f"{PARENT_JOB}."), _ns(e["eventTime"])
        ins = [_ref(d) for d in e.get("inputs") or []]
        outs = [_ref(d) for d in e.get("outputs") or []]
        if step == "model_lineage":
            model = outs[0] if outs else {}
            out.append(
                {"kind": step, "model_sha256": model.get("sha256"), "model_uri": model.get("uri"),
                 "training": ins, "t_ns": t}
            )  # fmt: skip
            continue
        if step == "deployment":
            model = ins[0] if ins else {}
            out.append(
                {"kind": step, "model_sha256": model.get("sha256"), "model_uri": model.get("uri"),
                 "t_ns": t}
            )  # fmt: skip
            continue
        run_id = e["run"]["runId"]
        r = attempts.get(run_id)
        if r is None:
            facets = e["run"].get("facets") or {}
            own = facets.get(ATTEMPT_FACET) or {}
            nominal = (facets.get("nominalTime") or {}).get("nominalStartTime")
            code = ((e["job"].get("facets") or {}).get("sourceCodeLocation") or {}).get("version")
            r = attempts[run_id] = {
                "kind": "task_attempt",
                "logical_date": nominal[:10] if nominal else None,
                "step": step,
                "attempt": own.get("attempt"),
                "state": own.get("state"),
                "start_ns": t,
                "end_ns": None,
                "inputs": ins,
                "outputs": [],
                "code_version": code,
            }
            out.append(r)
        if e["eventType"] != "START":
            r["end_ns"], r["inputs"], r["outputs"] = t, ins, outs
    return out


def _ns(iso: str) -> int:
    t = datetime.fromisoformat(iso.replace("Z", "+00:00")) - datetime(1970, 1, 1, tzinfo=UTC)
    return t // timedelta(microseconds=1) * 1000


def _ref(dataset: dict[str, Any]) -> dict[str, Any]:
    name = dataset.get("name")
    version = ((dataset.get("facets") or {}).get("version") or {}).get("datasetVersion")
    return {"uri": None if name.startswith(NO_NAME) else name, "sha256": version}


def validate(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` breaks the shipped OpenLineage spec (the RunEvent schema, then
    each facet against the schema its ``_schemaURL`` names), as messages; [] if none."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource

    registry = Registry()
    for path in sorted(SPEC_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    core = json.loads((SPEC_DIR / "OpenLineage.json").read_text())

    def check(instance: Any, url: str) -> list[str]:
        base = url.partition("#")[0]
        try:
            registry.get_or_retrieve(base)
        except NoSuchResource:
            return [f"no shipped schema for {base}"]
        schema = {"$ref": url, "$id": "urn:orchbench:check"}
        v = Draft202012Validator(schema, registry=registry)
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)
        ]

    problems = check(event, f"{core['$id']}#/$defs/RunEvent")
    for where, facets in _facets(event):
        for name, facet in facets.items():
            problems += [f"{where}.{name}: {p}" for p in check(facet, facet["_schemaURL"])]
    return problems


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = [
        ("run.facets", event["run"].get("facets") or {}),
        ("job.facets", event["job"].get("facets") or {}),
    ]
    for side in ("inputs", "outputs"):
        for k, d in enumerate(event.get(side) or []):
            out.append((f"{side}.{k}.facets", d.get("facets") or {}))
    return out
