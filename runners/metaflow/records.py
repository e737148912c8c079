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
  number plus one. Inputs and outputs are the files the flow kept as artifacts
  (``task.py``): their URIs are Metaflow artifacts, their sha256 our hashing
  (``practiced``); ``artifacts`` maps each kept artifact to Metaflow's own content hash
  (its artifact version).
- ``skipped`` records for register and canary in a run whose switch took ``hold``.
- ``run_state`` per run: ``success`` when Metaflow says successful; ``unknown`` otherwise
  (Metaflow marks a run finished only when its end step ran: a failed run and a run whose
  runtime was killed both stay unfinished; ``finished`` and ``successful`` are kept).
- ``model_lineage`` for each successful train, ``deployment`` for each canary whose
  summary says it deployed (practiced: from the artifacts ``task.py`` keeps).
- ``declared``: the flow's decorators as the policy set them.
- ``alert``: the exit hook's messages in the alert sink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.spec import STEPS

SOURCE = "metaflow-client"
STEP_NAMES = tuple(s.name for s in STEPS)
ALERT_PREFIX = "metaflow-"
GATED = ("register", "canary")
DEPLOY_CONDITION = (
    "evaluate: route = 'deploy' if accuracy > min_accuracy and better_than_champion "
    "else 'hold'; self.next({'deploy': register, 'hold': hold}, condition='route')"
)


def _meta(line: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [m for m in line.get("metadata") or [] if m["name"] == name]
    return max(found, key=lambda m: m["t_ns"] or 0) if found else None


def _refs(line: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The files a step read or wrote, from the ``<step>_inputs``/``_outputs`` lists our
    task code keeps for lineage (a manifest per step): practiced as a whole, as kfp's and
    cron's listed files are; Metaflow itself passes no file reference between steps here."""
    art = (line.get("artifacts") or {}).get(key) or {}
    return [{**r, "practiced": True} for r in art.get("data") or []]


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
        inputs=_refs(line, f"{step}_inputs"),
        outputs=_refs(line, f"{step}_outputs") if state in ("success", "cached") else [],
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


def convert(lines: list[dict[str, Any]], alerts: Path | None, policy: Any) -> list[dict[str, Any]]:
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
    steps = [s for s in STEP_NAMES]
    out.append(
        trace.declared(
            source="daily_retraining_flow.py (@retry, @timeout from the scenario's policy)",
            deploy_condition=DEPLOY_CONDITION,
            retries={s: policy.retries for s in steps},
            caching=False,
            timeouts={s: float(int(policy.timeout_s)) for s in steps},
        )
    )
    return out + trace.sink_alerts(alerts, f"{ALERT_PREFIX}*.json", "exit-hook", STEP_NAMES)
