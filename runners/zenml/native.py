"""``python -m runners.zenml.native --out FILE [--snapshot FILE]``: the native trace from
ZenML's own records, read with ``Client()`` from the run's store (``ZENML_CONFIG_PATH``;
on profile ``server``, the local server's REST API at ``ZENML_STORE_URL``).

Two halves: ``fetch`` turns ZenML's responses into plain data (runs with their step runs,
model versions with their artifact links; every artifact version as id, URI and loaded
value), written to ``--snapshot`` for the record; ``records`` turns that data into the
trace. ``records`` needs no ZenML: its unit tests feed it hand-made data.

- ``run_state`` per pipeline run (``Client().list_pipeline_runs``): its id, status, end.
- ``task_attempt`` per step run (``Client().list_run_steps(pipeline_run_id=...)``, which
  lists every attempt: a retried attempt is its own step run with status ``retried`` and
  ``version`` its try number): state, try, ZenML's start/end times, run id, step run id,
  ``code_hash`` (ZenML's hash of the step's source) as the code version, and the input
  and output artifact versions (``artifact_version``: ZenML's id, ``zenml_uri``: its URI
  in the artifact store). Each reference artifact's value (the file it names and that
  file's sha256, written by ``task.run``) is added as a practiced ref: the hash is our
  lineage code, the artifact version ZenML's own.
- ``model_lineage`` per model version of ``daily-retraining`` whose register step logged
  ``model_sha256`` (practiced): the version's own model and features artifacts.
- ``deployment`` per completed ``canary`` step run whose deployment record says it
  promoted: the model version it ran under (ZenML's stage ``production`` is set by that
  step), the time the step ended.
- ``declared``: the step runs' configurations as ZenML stores them: retries and cache
  settings of each step, output artifact types; the gate (a dynamic pipeline's ``if``, in
  its source, which ZenML stores as code, not as a condition).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.spec import STEP_NAMES

SOURCE = "zenml-client"
DATA = "DataArtifact"  # the type ZenML gives an output with no ArtifactConfig type (a dict)
PAGE = 1000
STATES = {
    "completed": "success",
    "failed": "failed",
    "retried": "failed",
    "cached": "cached",
    "skipped": "skipped",
    "running": "running",
    "retrying": "running",
    "initializing": "running",
    "provisioning": "running",
    "queued": "running",
    "stopped": "failed",
    "cancelled": "failed",
}
MODEL_NAME = "daily-retraining"  # pipeline.MODEL_NAME (this module must not import zenml's steps)


def _ns(t: datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:  # ZenML stores UTC without a zone
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1e9)


def _id(x: Any) -> str | None:
    """A ZenML id (or a response's id) as a string; None stays None."""
    if x is None:
        return None
    return str(getattr(x, "id", x))


def _status(s: Any) -> str:
    return str(getattr(s, "value", s))


def _value(av: Any) -> Any:
    try:
        return av.load()
    except Exception:  # a value the store cannot give back is no value
        return None


def _external(values: list[Any], key: str) -> list[dict[str, Any]]:
    """The files outside ZenML a step read or wrote (``reads``/``writes`` in its output
    values: our lineage code)."""
    seen, out = set(), []
    for value in values:
        if not isinstance(value, dict):
            continue
        for ref in value.get(key) or []:
            k = (ref.get("name"), ref.get("sha256"))
            if k not in seen:
                seen.add(k)
                out.append({**ref, "practiced": True})
    return out


def _artifacts(groups: Any) -> dict[str, list[dict[str, Any]]]:
    """ZenML's artifact versions by name, as plain data: id, URI and loaded value."""
    return {
        name: [{"id": str(av.id), "uri": av.uri, "value": _value(av)} for av in avs]
        for name, avs in groups.items()
    }


def fetch() -> dict[str, Any]:
    """ZenML's own records, read with ``Client()`` (on profile ``server`` through the
    server's REST API), as plain data: the contract ``records`` reads (unit-tested with
    hand-made data in ``tests/unit/test_zenml_native.py``)."""
    from zenml.client import Client

    client = Client()
    runs: list[dict[str, Any]] = []
    for run in client.list_pipeline_runs(size=PAGE, sort_by="asc:created", hydrate=True).items:
        steps = []
        for s in client.list_run_steps(pipeline_run_id=run.id, size=PAGE, hydrate=True).items:
            cfg = s.config
            steps.append(
                {
                    "id": str(s.id),
                    "name": s.name,
                    "status": _status(s.status),
                    "version": s.version,
                    "start_ns": _ns(s.start_time),
                    "end_ns": _ns(s.end_time),
                    "created_ns": _ns(s.created),
                    "original_step_run": _id(s.original_step_run_id),
                    "model_version": _id(s.model_version_id),
                    "parameters": dict(cfg.parameters or {}),
                    "code_hash": s.code_hash,
                    "source_code": s.source_code,
                    "inputs": _artifacts(s.inputs),
                    "outputs": _artifacts(s.outputs),
                    "config": {
                        "retries": cfg.retry.max_retries if cfg.retry is not None else None,
                        "enable_cache": cfg.enable_cache,
                        "outputs": {
                            name: (
                                _status(o.artifact_config.artifact_type)
                                if o.artifact_config and o.artifact_config.artifact_type
                                else None
                            )
                            for name, o in (cfg.outputs or {}).items()
                        },
                    },
                }
            )
        runs.append(
            {
                "id": str(run.id),
                "name": run.name,
                "status": _status(run.status),
                "start_ns": _ns(run.start_time),
                "end_ns": _ns(run.end_time),
                "original_run": _id(getattr(run, "original_run", None)),
                "parameters": dict(run.config.parameters or {}),
                "steps": steps,
            }
        )
    versions: list[dict[str, Any]] = []
    try:
        found = client.list_model_versions(MODEL_NAME, size=PAGE, hydrate=True).items
    except KeyError:  # no model yet
        found = []
    for mv in found:
        links = client.list_model_version_artifact_links(model_version_id=mv.id, size=PAGE).items
        by_name: dict[str, list[Any]] = {}
        for link in links:
            av = link.artifact_version
            by_name.setdefault(av.artifact.name, []).append(av)
        versions.append(
            {
                "id": str(mv.id),
                "number": mv.number,
                "stage": _status(mv.stage) if mv.stage else None,
                "metadata": dict(mv.run_metadata or {}),
                "artifacts": _artifacts(by_name),
                "pipeline_runs": [str(r) for r in mv.pipeline_run_ids.values()],
            }
        )
    return {"runs": runs, "model_versions": versions}


def collect() -> list[dict[str, Any]]:
    return records(fetch())


def _refs(name: str, versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ZenML's artifact versions (native) and the file refs their values name (practiced)."""
    out: list[dict[str, Any]] = []
    for av in versions:
        out.append({"name": name, "uri": av["uri"], "sha256": None, "artifact_version": av["id"]})
        value = av.get("value")
        if isinstance(value, dict) and "uri" in value:
            out.append(
                {
                    "name": name,
                    "uri": value["uri"],
                    "sha256": value.get("sha256"),
                    "practiced": True,
                }
            )
    return out


def _values(groups: dict[str, list[dict[str, Any]]]) -> list[Any]:
    return [av.get("value") for avs in groups.values() for av in avs]


def _code_version(s: dict[str, Any]) -> str | None:
    """ZenML's own code record of the step run: its ``code_hash`` when set, else a hash of
    the ``source_code`` ZenML stored for the step (the step function's source)."""
    if s.get("code_hash"):
        return str(s["code_hash"])
    if s.get("source_code"):
        return hashlib.sha256(s["source_code"].encode()).hexdigest()[:16]
    return None


def records(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The native trace from ``fetch``'s plain data."""
    out: list[dict[str, Any]] = []
    runs = snapshot.get("runs") or []
    configured: dict[str, dict[str, Any]] = {}  # step name -> its last step run
    canaries: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    for run in runs:
        logical_date = (run.get("parameters") or {}).get("logical_date")
        out.append(
            trace.record(
                "run_state",
                run=run["id"],
                logical_date=logical_date,
                state=STATES.get(run["status"], run["status"]),
                t_ns=run.get("end_ns") or run.get("start_ns"),
                run_name=run.get("name"),
                original_run=run.get("original_run"),
                source=SOURCE,
            )
        )
        steps = sorted(
            run.get("steps") or [],
            key=lambda s: (s.get("start_ns") or s.get("created_ns") or 0, s.get("version") or 0),
        )
        for s in steps:
            if s["name"] not in STEP_NAMES:
                continue
            configured[s["name"]] = s
            state = STATES.get(s["status"], "unknown")
            if state == "skipped" and s.get("original_step_run") is not None:
                # a replay reused this step's run and outputs (ZenML links the original):
                # a reuse, judged by the stale-cache check as a cached result is
                state = "cached"
            step_params = s.get("parameters") or {}
            date = step_params.get("logical_date") or logical_date
            inputs = [r for n, avs in (s.get("inputs") or {}).items() for r in _refs(n, avs)]
            outputs = [r for n, avs in (s.get("outputs") or {}).items() for r in _refs(n, avs)]
            values = _values(s.get("outputs") or {})
            inputs += _external(values, "reads")
            outputs += _external(values, "writes")
            if "landing_sha256" in step_params:
                inputs.append(
                    {
                        "name": "landing",
                        "uri": None,
                        "sha256": step_params["landing_sha256"],
                        "practiced": True,
                    }
                )
            out.append(
                trace.task_attempt(
                    logical_date=str(date),
                    step=s["name"],
                    state=state,
                    source=SOURCE,
                    attempt=s.get("version"),
                    start_ns=s.get("start_ns"),
                    end_ns=s.get("end_ns"),
                    run=run["id"],
                    inputs=inputs,
                    outputs=outputs,
                    code_version=_code_version(s),
                    step_run=s["id"],
                    zenml_status=s["status"],
                    original_step_run=s.get("original_step_run"),
                    model_version=s.get("model_version"),
                )
            )
            if s["name"] == "canary" and state == "success":
                canaries.append((s, run, str(date)))
    versions = snapshot.get("model_versions") or []
    out += _models(versions)
    out += _deployments(versions, canaries)
    if runs:
        out.append(_declared(runs[-1], list(configured.values())))
    return out


def _models(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model version whose register step logged the model's sha256: the version's own
    ``model`` and ``features`` artifacts (ZenML links every artifact of the run to it)."""
    out: list[dict[str, Any]] = []
    for mv in versions:
        meta = mv.get("metadata") or {}
        by_name = mv.get("artifacts") or {}
        model = [r for r in _refs("model", by_name.get("model", [])) if r.get("practiced")]
        if not model:
            continue
        out.append(
            trace.record(
                "model_lineage",
                model_sha256=model[0]["sha256"],
                model_uri=by_name["model"][0]["uri"],
                training=_refs("features", by_name.get("features", [])),
                model_version=mv["id"],
                model_version_number=mv.get("number"),
                stage=mv.get("stage"),
                registered=meta.get("model_sha256") is not None,
                practiced=["model_sha256", "registered"],  # from our log_metadata
                source=SOURCE,
            )
        )
    return out


def _deployments(
    versions: list[dict[str, Any]], canaries: list[tuple[dict[str, Any], dict[str, Any], str]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_run = {r: mv for mv in versions for r in mv.get("pipeline_runs") or []}
    for s, run, date in canaries:
        values = _values(s.get("outputs") or {})
        record = next((v for v in values if isinstance(v, dict) and "uri" in v), None)
        try:
            deployed = json.loads(Path(record["uri"]).read_text()) if record else {}
        except (OSError, ValueError):
            deployed = {}
        if not deployed.get("deployed"):
            continue
        mv = by_run.get(run["id"])
        out.append(
            trace.record(
                "deployment",
                t_ns=s.get("end_ns"),
                slot="production",
                model_sha256=(mv.get("metadata") or {}).get("model_sha256") if mv else None,
                model_version=mv["id"] if mv else None,
                stage_now=mv.get("stage") if mv else None,
                logical_date=date,
                run=run["id"],
                # exists because our canary's deployment.json says so: practiced as a whole
                practiced=True,
                source=SOURCE,
            )
        )
    return out


def _declared(run: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """What the step runs' configurations declare, as ZenML stored them (a dynamic
    pipeline's snapshot has no step configurations: its steps are added as they run)."""
    retries: dict[str, int] = {}
    typed: list[dict[str, Any]] = []
    caching = False
    for st in steps:
        cfg = st.get("config") or {}
        if cfg.get("retries") is not None:
            retries[st["name"]] = cfg["retries"]
        caching = caching or cfg.get("enable_cache") is not False
        for out_name, kind in (cfg.get("outputs") or {}).items():
            entry = {"step": st["name"], "name": out_name, "type": kind or DATA}
            if entry not in typed:
                typed.append(entry)
    return trace.declared(
        source=f"zenml step run configurations of run {run['id']}",
        typed_artifacts=typed,
        deploy_condition="if deploy.load(): register, canary (dynamic pipeline)",
        retries=retries,
        caching=caching,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.zenml.native")
    ap.add_argument("--out", required=True)
    ap.add_argument("--snapshot", help="also write fetch()'s plain data here (JSON)")
    args = ap.parse_args(argv)
    snapshot = fetch()
    if args.snapshot:
        Path(args.snapshot).write_text(json.dumps(snapshot, default=str, indent=1))
    found = records(snapshot)
    Path(args.out).write_text("".join(json.dumps(r, default=str) + "\n" for r in found))
    print(f"{len(found)} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
