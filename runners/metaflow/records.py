"""Turn the Client API's lines (``client.py``) into the common native trace.

Everything here is what Metaflow's Client API shows its users (``central_view``), so no
record is passive:

- ``task_attempt`` per attempt of a workflow step: the state from the attempt's
  ``attempt_ok`` metadata (``True``: success, ``False``: failed; none: ``crashed`` when
  Metaflow started a later attempt, which its runtime does only after a failed one: the
  process was killed before it could say; ``running`` for the last attempt of a run that
  never finished, ``unknown`` otherwise); a task ``resume`` cloned (``origin-task-id``)
  is ``cached``, with its ``origin_run``; times from the ``attempt`` and
  ``attempt_ok``/``attempt-done`` metadata; ``attempt`` is Metaflow's 0-based try
  number plus one. Inputs and outputs: the dated files' paths are Metaflow artifacts
  (``<name>_uri``, ``task.py``): an attempt's inputs are the ones its parent tasks handed
  it (also for an attempt killed before it saved anything), a finished task's outputs
  the ones it set; each is native, with Metaflow's artifact version (``artifact_sha``). Our
  manifest (``<step>_inputs``/``_outputs``) adds each file's sha256 (``practiced:
  ["sha256"]``) and the world's own files, which no artifact names (``practiced`` as a
  whole). ``artifacts`` maps each kept artifact to Metaflow's own content hash (its
  artifact version).
- ``skipped`` records for register and canary in a run whose switch took ``hold``.
- ``run_state`` per run: ``success`` when Metaflow says successful; ``unknown`` otherwise
  (Metaflow marks a run finished only when its end step ran: a failed run and a run whose
  runtime was killed both stay unfinished; ``finished`` and ``successful`` are kept).
- ``model_lineage`` for each successful train, ``deployment`` for each canary whose
  summary says it deployed (practiced: from the artifacts ``task.py`` keeps).
- ``declared``: the retries and timeouts of each step's ``@retry``/``@timeout`` and the
  switch, as Metaflow stored the flow for its runs (the ``_graph_info`` artifact, the
  ``graph`` lines), not as our policy meant them: a decorator the flow lost, or a value
  Metaflow changed, shows as a mismatch with the scenario's policy.
- ``alert``: the exit hook's messages in the alert sink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.spec import STEP_BY_NAME, STEPS

SOURCE = "metaflow-client"
STEP_NAMES = tuple(s.name for s in STEPS)
ALERT_PREFIX = "metaflow-"
GATED = ("register", "canary")
# how evaluate sets the switch's condition (the flow's code; Metaflow stores only the switch)
ROUTE = "route = 'deploy' if accuracy > min_accuracy and better_than_champion else 'hold'"


def _timeout_s(attributes: dict[str, Any]) -> float:
    """``@timeout(seconds, minutes, hours)``: Metaflow adds the three."""
    parts = (("seconds", 1), ("minutes", 60), ("hours", 3600))
    return float(sum(float(attributes.get(k) or 0) * f for k, f in parts))


def _policy_of(graph: dict[str, Any]) -> dict[str, Any]:
    """Per workflow step, the retries and timeout Metaflow stored for it, and the switch."""
    retries: dict[str, int] = {}
    timeouts: dict[str, float] = {}
    switch = None
    for name, node in (graph.get("steps") or {}).items():
        for deco in node.get("decorators") or []:
            attributes = deco.get("attributes") or {}
            if deco.get("name") == "retry" and name in STEP_NAMES:
                retries[name] = int(attributes.get("times") or 0)
            if deco.get("name") == "timeout" and name in STEP_NAMES:
                timeouts[name] = _timeout_s(attributes)
        if node.get("type") == "split-switch":
            cases = ", ".join(f"{k!r}: {v}" for k, v in (node.get("switch_cases") or {}).items())
            switch = f"{name}: {ROUTE}; self.next({{{cases}}}, condition={node.get('condition')!r})"
    return {"retries": retries, "timeouts": timeouts, "switch": switch}


def declared(graphs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``declared`` record from the flow as Metaflow stored it for its runs (``graph``
    lines). Runs that stored different settings are all named in ``source``; the record
    takes the first run's."""
    found = [(g["run"], _policy_of(g["graph"])) for g in graphs if g.get("graph")]
    if not found:
        return trace.declared(source=f"{SOURCE}: no run's _graph_info", caching=False)
    run, first = found[0]
    differ = sorted(r for r, p in found[1:] if p != first)
    source = f"{SOURCE}: _graph_info of run {run} (@retry, @timeout, the switch)"
    if differ:
        source += f"; runs {', '.join(differ)} stored other settings"
    return trace.declared(
        source=source,
        deploy_condition=first["switch"],
        retries=first["retries"],
        caching=False,
        timeouts=first["timeouts"],
    )


def _meta(line: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [m for m in line.get("metadata") or [] if m["name"] == name]
    return max(found, key=lambda m: m["t_ns"] or 0) if found else None


def _uri_refs(arts: dict[str, Any], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The files among ``names`` whose paths Metaflow holds as ``<name>_uri`` artifacts."""
    return [
        {
            "name": n,
            "uri": str(arts[f"{n}_uri"]["data"]),
            "sha256": None,
            "artifact_sha": arts[f"{n}_uri"].get("sha"),
        }
        for n in names
        if (arts.get(f"{n}_uri") or {}).get("data") is not None
    ]


def _refs(line: dict[str, Any], side: str) -> list[dict[str, Any]]:
    """The files a step read (``side`` "inputs") or wrote ("outputs").

    Native: the dated files' paths as Metaflow artifacts, those the parent tasks handed
    the attempt (inputs) or the task set (outputs). Practiced: our task code's manifest
    (``<step>_inputs``/``_outputs``, a sha256 per file): its hash joins the native ref of
    the same file (``practiced: ["sha256"]``), and a file no artifact names (the world's
    own: landing, reference, holdout, champion, serving) is practiced as a whole, as
    kfp's and cron's listed files are."""
    step = line["step"]
    spec = STEP_BY_NAME[step]
    if side == "inputs":
        native = _uri_refs(line.get("handed") or {}, spec.inputs)
    else:
        native = _uri_refs(line.get("artifacts") or {}, spec.outputs)
    by_name = {r["name"]: r for r in native}
    manifest = ((line.get("artifacts") or {}).get(f"{step}_{side}") or {}).get("data") or []
    extra = []
    for r in manifest:
        ref = by_name.get(r["name"])
        if ref is not None and ref["uri"] == str(r["uri"]):
            ref.update(sha256=r.get("sha256"), practiced=["sha256"])
        else:
            extra.append({**r, "practiced": True})
    return native + extra


def _state(line: dict[str, Any], last: bool, run_finished: bool) -> str:
    ok = _meta(line, "attempt_ok")
    if ok is not None:
        return "success" if str(ok["value"]) == "True" else "failed"
    if not last:  # the runtime started another attempt, which it does only after a failure
        return "crashed"  # inferred from that later attempt (``inferred`` on the record)
    return "running" if not run_finished else "unknown"


def _attempt(line: dict[str, Any], last: bool, run: dict[str, Any]) -> list[dict[str, Any]]:
    step = line["step"]
    arts = line.get("artifacts") or {}
    origin_task = _meta(line, "origin-task-id")
    origin_run = _meta(line, "origin-run-id")
    cloned = origin_task is not None and str(origin_run and origin_run["value"]) != "None"
    state = "cached" if cloned else _state(line, last, bool(run.get("finished")))
    start = _meta(line, "attempt")
    end = _meta(line, "attempt_ok") or _meta(line, "attempt-done")
    code = (arts.get(f"{step}_code_version") or {}).get("data")
    extra: dict[str, Any] = {
        "task": line["pathspec"],
        "metaflow_attempt": line["attempt"],
        "artifacts": {k: v.get("sha") for k, v in arts.items()},
        "practiced": ["code_version"],
    }
    if state == "crashed":
        extra["inferred"] = "no attempt_ok; Metaflow ran a later attempt of the task"
    if cloned:
        extra["origin_run"] = origin_run["value"] if origin_run else None
        extra["origin_task"] = origin_task["value"]
    git = _meta(line, "git-info")
    if git is not None:
        extra["git_info"] = git["value"]
    rec = trace.task_attempt(
        logical_date=line.get("logical_date") or "None",
        step=step,
        state=state,
        source=SOURCE,
        attempt=line["attempt"] + 1,
        start_ns=start["t_ns"] if start else line.get("created_ns"),
        end_ns=end["t_ns"] if end and state != "running" else None,
        run=run["pathspec"],
        inputs=_refs(line, "inputs"),
        outputs=_refs(line, "outputs") if state in ("success", "cached") else [],
        code_version=code,
        **extra,
    )
    out = [rec]
    summary = (arts.get(f"{step}_summary") or {}).get("data") or {}
    if step == "train" and state == "success":
        model = next((o for o in rec["outputs"] if o["name"] == "model"), None)
        training = next((i for i in rec["inputs"] if i["name"] == "features"), None)
        if model is not None and training is not None:
            out.append(
                trace.record(
                    "model_lineage",
                    model_uri=model["uri"],
                    model_sha256=model["sha256"],
                    training=training,
                    run=run["pathspec"],
                    task=line["pathspec"],
                    source=SOURCE,
                    practiced=True,  # built from our task code's lists (_refs)
                )
            )
    if step == "canary" and state == "success" and summary.get("deployed") is True:
        out.append(
            trace.record(
                "deployment",
                t_ns=rec["end_ns"],
                slot="production",
                model_sha256=summary.get("model_sha256"),
                run=run["pathspec"],
                logical_date=rec["logical_date"],
                source=SOURCE,
                practiced=True,
            )
        )
    return out


def convert(lines: list[dict[str, Any]], alerts: Path | None) -> list[dict[str, Any]]:
    """The native trace of the Client API's ``lines`` plus the exit hook's alerts."""
    runs = {ln["run"]: ln for ln in lines if ln["line"] == "run"}
    attempts = [ln for ln in lines if ln["line"] == "attempt"]
    last: dict[tuple[str, str], int] = {}
    for a in attempts:
        key = (a["run"], a["pathspec"])
        last[key] = max(last.get(key, -1), a["attempt"])
    out: list[dict[str, Any]] = []
    for a in sorted(attempts, key=lambda a: (a.get("created_ns") or 0, a["attempt"])):
        run = runs.get(a["run"])
        if run is None:
            continue
        if a["step"] in STEP_NAMES:
            out += _attempt(a, a["attempt"] == last[(a["run"], a["pathspec"])], run)
        elif a["step"] == "hold":
            for step in GATED:
                out.append(
                    trace.task_attempt(
                        logical_date=a.get("logical_date") or "None",
                        step=step,
                        state="skipped",
                        source=SOURCE,
                        start_ns=a.get("created_ns"),
                        end_ns=a.get("finished_ns"),
                        run=run["pathspec"],
                        branch="hold",
                    )
                )
    for run in sorted(runs.values(), key=lambda r: r.get("created_ns") or 0):
        out.append(
            trace.record(
                "run_state",
                run=run["pathspec"],
                logical_date=run.get("logical_date"),
                state="success" if run.get("successful") else "unknown",
                t_ns=run.get("finished_ns") or run.get("created_ns"),
                finished=run.get("finished"),
                successful=run.get("successful"),
                tags=run.get("tags"),
                source=SOURCE,
            )
        )
    graphs = [ln for ln in lines if ln["line"] == "graph"]
    graphs.sort(key=lambda g: (runs.get(g["run"]) or {}).get("created_ns") or 0)
    out.append(declared(graphs))
    return out + trace.sink_alerts(alerts, f"{ALERT_PREFIX}*.json", "exit-hook", STEP_NAMES)
