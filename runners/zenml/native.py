"""``python -m runners.zenml.native --out FILE``: the native trace from ZenML's own
records, read with ``Client()`` from the run's store (``ZENML_CONFIG_PATH``).

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


def _refs(name: str, versions: list[Any]) -> list[dict[str, Any]]:
    """ZenML's artifact versions (native) and the file refs their values name (practiced)."""
    out: list[dict[str, Any]] = []
    for av in versions:
        out.append({"name": name, "uri": av.uri, "sha256": None, "artifact_version": str(av.id)})
        value = _value(av)
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


def _code_version(s: Any) -> str | None:
    """ZenML's own code record of the step run: its ``code_hash`` when set, else a hash of
    the ``source_code`` ZenML stored for the step (the step function's source)."""
    if s.code_hash:
        return str(s.code_hash)
    if s.source_code:
        return hashlib.sha256(s.source_code.encode()).hexdigest()[:16]
    return None


def _date(params: dict[str, Any], run: Any) -> str | None:
    return params.get("logical_date") or (run.config.parameters or {}).get("logical_date")


def collect() -> list[dict[str, Any]]:
    from zenml.client import Client

    client = Client()
    records: list[dict[str, Any]] = []
    runs = client.list_pipeline_runs(size=PAGE, sort_by="asc:created", hydrate=True).items
    configured: dict[str, Any] = {}  # step name -> its last step run (its configuration)
    canaries: list[tuple[Any, Any, str]] = []
    for run in runs:
        params = dict(run.config.parameters or {})
        logical_date = params.get("logical_date")
        records.append(
            trace.record(
                "run_state",
                run=str(run.id),
                logical_date=logical_date,
                state=STATES.get(_status(run.status), _status(run.status)),
                t_ns=_ns(run.end_time) or _ns(run.start_time),
                run_name=run.name,
                original_run=_id(getattr(run, "original_run", None)),
                source=SOURCE,
            )
        )
        steps = client.list_run_steps(pipeline_run_id=run.id, size=PAGE, hydrate=True).items
        for s in sorted(steps, key=lambda s: (s.start_time or s.created, s.version)):
            if s.name not in STEP_NAMES:
                continue
            configured[s.name] = s
            state = STATES.get(_status(s.status), "unknown")
            if state == "skipped" and s.original_step_run_id is not None:
                # a replay reused this step's run and outputs (ZenML links the original):
                # a reuse, judged by the stale-cache check as a cached result is
                state = "cached"
            step_params = dict(s.config.parameters or {})
            date = step_params.get("logical_date") or logical_date
            inputs = [r for n, avs in s.inputs.items() for r in _refs(n, list(avs))]
            outputs = [r for n, avs in s.outputs.items() for r in _refs(n, list(avs))]
            values = [_value(av) for avs in s.outputs.values() for av in avs]
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
            records.append(
                trace.task_attempt(
                    logical_date=str(date),
                    step=s.name,
                    state=state,
                    source=SOURCE,
                    attempt=s.version,
                    start_ns=_ns(s.start_time),
                    end_ns=_ns(s.end_time),
                    run=str(run.id),
                    inputs=inputs,
                    outputs=outputs,
                    code_version=_code_version(s),
                    step_run=str(s.id),
                    zenml_status=_status(s.status),
                    original_step_run=_id(s.original_step_run_id),
                    model_version=_id(s.model_version_id),
                )
            )
            if s.name == "canary" and state == "success":
                canaries.append((s, run, str(date)))
    records += _models(client)
    records += _deployments(client, canaries)
    if runs:
        records.append(_declared(runs[-1], list(configured.values())))
    return records


def _models(client: Any) -> list[dict[str, Any]]:
    """Per model version whose register step logged the model's sha256: the version's own
    ``model`` and ``features`` artifacts (ZenML links every artifact of the run to it)."""
    out: list[dict[str, Any]] = []
    try:
        versions = client.list_model_versions(MODEL_NAME, size=PAGE, hydrate=True).items
    except KeyError:
        return out
    for mv in versions:
        meta = mv.run_metadata or {}
        links = client.list_model_version_artifact_links(model_version_id=mv.id, size=PAGE).items
        by_name: dict[str, list[Any]] = {}
        for link in links:
            av = link.artifact_version
            by_name.setdefault(av.artifact.name, []).append(av)
        model = [r for r in _refs("model", by_name.get("model", [])) if r.get("practiced")]
        training = _refs("features", by_name.get("features", []))
        if not model:
            continue
        out.append(
            trace.record(
                "model_lineage",
                model_sha256=model[0]["sha256"],
                model_uri=by_name["model"][0].uri,
                training=training,
                model_version=str(mv.id),
                model_version_number=mv.number,
                stage=_status(mv.stage) if mv.stage else None,
                registered=meta.get("model_sha256") is not None,
                practiced=["model_sha256", "registered"],  # from our log_metadata
                source=SOURCE,
            )
        )
    return out


def _deployments(client: Any, canaries: list[tuple[Any, Any, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_run: dict[str, Any] = {}  # pipeline run id -> the model version it ran under
    try:
        for mv in client.list_model_versions(MODEL_NAME, size=PAGE, hydrate=True).items:
            for run_id in mv.pipeline_run_ids.values():
                by_run[str(run_id)] = mv
    except KeyError:
        pass
    for s, run, date in canaries:
        values = [_value(av) for avs in s.outputs.values() for av in avs]
        record = next((v for v in values if isinstance(v, dict) and "uri" in v), None)
        try:
            deployed = json.loads(Path(record["uri"]).read_text()) if record else {}
        except (OSError, ValueError):
            deployed = {}
        if not deployed.get("deployed"):
            continue
        mv = by_run.get(str(run.id))
        sha = (mv.run_metadata or {}).get("model_sha256") if mv else None
        out.append(
            trace.record(
                "deployment",
                t_ns=_ns(s.end_time),
                slot="production",
                model_sha256=sha,
                model_version=str(mv.id) if mv else None,
                stage_now=_status(mv.stage) if mv and mv.stage else None,
                logical_date=date,
                run=str(run.id),
                # exists because our canary's deployment.json says so: practiced as a whole
                practiced=True,
                source=SOURCE,
            )
        )
    return out


def _declared(run: Any, steps: list[Any]) -> dict[str, Any]:
    """What the step runs' configurations declare, as ZenML stored them (a dynamic
    pipeline's snapshot has no step configurations: its steps are added as they run)."""
    retries: dict[str, int] = {}
    typed: list[dict[str, Any]] = []
    caching = False
    for st in steps:
        cfg = st.config
        if cfg.retry is not None:
            retries[st.name] = cfg.retry.max_retries
        caching = caching or cfg.enable_cache is not False
        for out_name, out in (cfg.outputs or {}).items():
            config = out.artifact_config
            kind = _status(config.artifact_type) if config and config.artifact_type else DATA
            entry = {"step": st.name, "name": out_name, "type": kind}
            if entry not in typed:
                typed.append(entry)
    return trace.declared(
        source=f"zenml step run configurations of run {run.id}",
        typed_artifacts=typed,
        deploy_condition="if deploy.load(): register, canary (dynamic pipeline)",
        retries=retries,
        caching=caching,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runners.zenml.native")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    records = collect()
    Path(args.out).write_text("".join(json.dumps(r, default=str) + "\n" for r in records))
    print(f"{len(records)} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
