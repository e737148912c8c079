"""The common native trace (``schema: orchbench.trace/1``, JSONL in ``native.jsonl``).

A runner's ``collect()`` converts only what that system's users can read (its API, its
logs, its mail) into these records. Metrics read detection, lineage and the system's own
view of attempts from here, never from the journal. Record kinds (field ``kind``):

- ``task_attempt``: the system's record of one attempt of one step: ``logical_date``,
  ``step``, ``attempt`` (the system's own try number or null), ``state`` (``success``,
  ``failed``, ``upstream_failed``, ``skipped``, ``cached``, ``crashed``, ``running``,
  ``unknown``), ``start_ns``/``end_ns`` (the system's timestamps or null), ``run`` (the
  system's run identifier, e.g. a dag_run_id; null when the system has no run concept),
  ``inputs``/``outputs`` (``{name, uri, sha256}`` with whatever the system recorded; null
  fields where it did not), ``code_version`` (null unless the system recorded it),
  ``source`` (where it was read: ``cron-log``, ``airflow-api``...); optional
  ``interrupted``: true when the system's record says a signal cut the attempt (the
  interrupt may land before the step's code began, so the journal may hold no attempt
  for it).
- ``alert``: a failure message that reached a human: ``t_ns`` (the sink's receive time),
  ``channel`` (``mail``, ``callback``...), ``subject``, ``logical_date``, ``step`` (or null).
- ``run_state``: the system's state of a whole run: ``run``, ``logical_date``, ``state``,
  ``t_ns``.
- ``model_lineage``: the system recorded which training data produced a model:
  ``model_sha256`` or ``model_uri``, ``training`` (``{uri, sha256}``).
- ``deployment``: the system recorded that a model went to a serving slot: ``t_ns``,
  ``slot``, ``model_sha256`` or ``model_uri``.
- ``declared``: what the pipeline definition the system runs declares, read statically
  from it (a compiled KFP spec, a parsed DAG, a flow's task options, a crontab):
  ``source`` (file or API it was read from), ``typed_artifacts`` (list of
  ``{step, name, type}`` for artifacts whose type the system knows; empty if none),
  ``deploy_condition`` (the gate's expression as the system holds it, or null),
  ``retries`` (``{step: n}``), ``caching`` (bool), ``timeouts`` (``{step: seconds}``),
  ``resources`` (``{step: {cpu, memory, memory_limit, accelerator_type,
  accelerator_limit}}``, only what is declared; ``enforced``: the list of those keys the
  system itself enforces where it ran, absent when the runner does not say). One record
  per run at most; the report's capability table reads it, and metrics only its declared
  memory limits.
- ``container``: the container system's record of one container that ran a task:
  ``container_id``, ``oom_killed`` (the system reported the kernel's OOM kill),
  ``exit_code`` (or null), ``t_ns`` (when it died), ``source`` (``docker-events``).

Any record may carry ``practiced``: ``true`` when the whole record, or a list of the field
names whose values, exist only because of lineage code a careful team adds through the
system's own API (hashing each file a task writes into its metadata, a manifest line per
step); a ref inside a record may carry the same mark (``native_only``).
``lineage_native`` is scored on the trace without them (``native_only``),
``lineage_practiced`` with them. What the system records by itself (run and task ids,
its artifact and asset events, URIs, its own versions) is never marked.

Each kind is a typed model below (``MODELS``; runners may add fields of their own).
``write_trace`` and ``read_trace`` check every record against its model, and
``read_trace`` refuses a record of another schema version with a message naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from orchbench.records import SchemaError, unsupported

TRACE = "orchbench.trace"
VERSION = 1
SCHEMA_ID = f"{TRACE}/{VERSION}"
FAILURE_STATES = frozenset({"failed", "upstream_failed", "crashed"})
TRACE_NAME = "native.jsonl"


def record(kind: str, **fields: Any) -> dict[str, Any]:
    return {"schema": SCHEMA_ID, "kind": kind, **fields}


def task_attempt(
    *,
    logical_date: str,
    step: str,
    state: str,
    source: str,
    attempt: int | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    run: str | None = None,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    code_version: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return record(
        "task_attempt",
        logical_date=logical_date,
        step=step,
        state=state,
        source=source,
        attempt=attempt,
        start_ns=start_ns,
        end_ns=end_ns,
        run=run,
        inputs=inputs or [],
        outputs=outputs or [],
        code_version=code_version,
        **extra,
    )


def native_only(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trace without what ``practiced`` marks: practiced records dropped, practiced
    fields replaced by the record's ``native_<field>`` when it has one, else emptied (a
    list field to ``[]``, any other to null). The same rule holds one
    level down, for a ref (``{name, uri, sha256}``) in a record's field or list field: a
    ref marked ``practiced: true`` is dropped (null in a plain field), and its marked keys
    are nulled (``["sha256"]``: the system recorded the uri, our code the hash)."""
    out = []
    for r in trace:
        native = _native(r)
        if native is not None:
            out.append({k: _native_field(v) for k, v in native.items()})
    return out


def _native(r: dict[str, Any]) -> dict[str, Any] | None:
    marked = r.get("practiced")
    if marked is True:
        return None
    if marked:
        return {k: _without(r, k, v) if k in marked else v for k, v in r.items()}
    return r


def _without(r: dict[str, Any], key: str, value: Any) -> Any:
    """A practiced field's native value: what the system recorded by itself in its place
    (``native_<key>``, e.g. Prefect's flow version where our code set the deployment's),
    else emptied."""
    return r.get(f"native_{key}", _emptied(value))


def _native_field(value: Any) -> Any:
    if isinstance(value, dict):
        return _native(value)
    if isinstance(value, list):
        return [_native(v) if isinstance(v, dict) else v for v in value if not _dropped(v)]
    return value


def _dropped(value: Any) -> bool:
    return isinstance(value, dict) and value.get("practiced") is True


def _emptied(value: Any) -> Any:
    return [] if isinstance(value, list) else None


def alert(
    *, t_ns: int, channel: str, subject: str, logical_date: str | None, step: str | None
) -> dict[str, Any]:
    return record(
        "alert", t_ns=t_ns, channel=channel, subject=subject, logical_date=logical_date, step=step
    )


def sink_alerts(
    alerts_dir: Path | None,
    pattern: str,
    channel: str,
    steps: Collection[str],
    step_key: str = "step",
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """``alert`` records, in time order, for the JSON messages a system's hook delivered to
    the world's alert sink (``world/alerts``): the files matching ``pattern`` whose message
    ``keep`` accepts, each with ``t_ns``, ``subject``, ``logical_date`` and the step under
    ``step_key`` (null unless one of ``steps``). An unreadable file is no message."""
    out: list[dict[str, Any]] = []
    if alerts_dir is None or not alerts_dir.is_dir():
        return out
    for path in sorted(alerts_dir.glob(pattern)):
        try:
            m = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if keep is not None and not keep(m):
            continue
        step = m.get(step_key)
        out.append(
            alert(
                t_ns=int(m["t_ns"]),
                channel=str(m.get("channel") or channel),
                subject=str(m.get("subject", "")),
                logical_date=m.get("logical_date"),
                step=step if step in steps else None,
            )
        )
    return sorted(out, key=lambda r: r["t_ns"])


def declared(
    *,
    source: str,
    typed_artifacts: list[dict[str, Any]] | None = None,
    deploy_condition: str | None = None,
    retries: dict[str, int] | None = None,
    caching: bool = False,
    timeouts: dict[str, float] | None = None,
    resources: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return record(
        "declared",
        source=source,
        typed_artifacts=typed_artifacts or [],
        deploy_condition=deploy_condition,
        retries=retries or {},
        caching=caching,
        timeouts=timeouts or {},
        resources=resources or {},
    )


def container(
    *, container_id: str, oom_killed: bool, exit_code: int | None, t_ns: int | None, source: str
) -> dict[str, Any]:
    return record(
        "container",
        container_id=container_id,
        oom_killed=oom_killed,
        exit_code=exit_code,
        t_ns=t_ns,
        source=source,
    )


Number = int | float
Ref = dict[str, Any]  # {name, uri, sha256}: whatever the system recorded


class _Record(BaseModel):
    """A record's fields besides ``schema`` (``check`` reads that one)."""

    model_config = ConfigDict(extra="allow")


class TaskAttempt(_Record):
    kind: Literal["task_attempt"]
    logical_date: str | None
    step: str | None
    state: str | None
    source: str | None = None
    attempt: int | None = None
    start_ns: Number | None = None
    end_ns: Number | None = None
    run: str | int | None = None
    inputs: list[Ref] | None = None
    outputs: list[Ref] | None = None
    code_version: str | None = None


class Alert(_Record):
    kind: Literal["alert"]
    t_ns: Number | None = None
    channel: str | None = None
    subject: str | None = None
    logical_date: str | None = None
    step: str | None = None


class RunState(_Record):
    kind: Literal["run_state"]
    run: str | int | None = None
    logical_date: str | None = None
    state: str | None = None
    t_ns: Number | None = None


class ModelLineage(_Record):
    kind: Literal["model_lineage"]
    model_sha256: str | None = None
    model_uri: str | None = None
    training: Ref | list[Ref] | None = None


class Deployment(_Record):
    kind: Literal["deployment"]
    t_ns: Number | None = None
    slot: str | None = None
    model_sha256: str | None = None
    model_uri: str | None = None


class Declared(_Record):
    kind: Literal["declared"]
    source: str | None = None
    typed_artifacts: list[dict[str, Any]] = []
    deploy_condition: str | None = None
    retries: dict[str, int] = {}
    caching: bool = False
    timeouts: dict[str, Number] = {}
    resources: dict[str, dict[str, Any]] = {}


class Container(_Record):
    kind: Literal["container"]
    container_id: str
    oom_killed: bool
    exit_code: int | None = None
    t_ns: Number | None = None
    source: str | None = None


MODELS: dict[str, type[_Record]] = {
    "task_attempt": TaskAttempt,
    "alert": Alert,
    "run_state": RunState,
    "model_lineage": ModelLineage,
    "deployment": Deployment,
    "declared": Declared,
    "container": Container,
}


def check(r: dict[str, Any], where: str) -> None:
    """Raise SchemaError unless ``r`` is a record of this schema version and fits its kind's
    model (``where`` names the file or source in the message)."""
    found = r.get("schema")
    if found != SCHEMA_ID:
        raise unsupported(where, found, TRACE, [VERSION])
    model = MODELS.get(str(r.get("kind")))
    if model is None:
        raise SchemaError(f"{where}: unknown trace record kind {r.get('kind')!r}")
    try:
        model.model_validate({k: v for k, v in r.items() if k != "schema"})
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise SchemaError(f"{where}: {r.get('kind')} record: {problems}") from None


def write_trace(path: Path, records: list[dict[str, Any]], *, check_records: bool = True) -> None:
    """Write the records as JSONL after checking each (SchemaError names the first bad one)."""
    for r in records if check_records else ():
        check(r, str(path))
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":"), default=str) + "\n")


def read_trace(path: Path | str) -> list[dict[str, Any]]:
    """The file's records as written, each checked (SchemaError: another version or a
    record that does not fit its kind); [] when there is no file."""
    p = Path(path)
    if not p.exists():
        return []
    records = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    for r in records:
        check(r, str(p))
    return records
