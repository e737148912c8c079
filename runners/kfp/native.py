"""Read a KFP (local runner) run back into the common native trace.

Only what a KFP local-runner user has: the console output of each submission (``kfp.local``
reports task starts, ends, retries, cache hits and skipped conditions there, and nowhere
else), the run directory under ``pipeline_root`` (one ``daily-retraining-<timestamp>/``
per submission, one folder per executed task with its output artifacts and
``executor_output.json``: artifact URIs and metadata), the cache entries
(``pipeline_root/.kfp_cache/<key>.json``: the outputs a cache hit reuses), and the
compiled pipeline spec (the DAG: which task's output feeds which input; what is declared).

- ``task_attempt``: one per ``Executing task`` (``success``/``failed``; a task killed by the
  harness's timeout is ``failed`` with ``killed_by``; one still open when the driver died is
  ``running``: the console's last word on it, whatever became of its process), one
  ``cached`` per cache hit, ``upstream_failed`` per task skipped because an upstream
  failed, ``skipped`` per task inside a ``dsl.If`` whose condition was false.
  ``attempt`` counts executions of the task within its submission (KFP's retry count).
  ``run`` is the submission's run directory name. Inputs: per the spec, the producer's
  output artifact in the same submission (executed, or the cache entry a hit reused), plus
  the external files the step listed in its output metadata (``reads``). Outputs: the
  artifacts of ``executor_output.json`` with their metadata ``sha256``, plus ``writes``.
  ``code_version``: a hash of the component's image and command in the compiled spec
  (what KFP's cache key uses to tell code apart); it identifies the component, not the
  shared step library underneath.
- ``run_state`` per submission: ``success``/``failed`` from the driver's last line
  (``crashed`` when the driver died without one).
- ``model_lineage`` for each successful ``train`` (model and the features it read) and
  ``deployment`` for each ``canary`` whose artifact metadata says it deployed.
- ``declared``: read from the compiled spec (``declared_from_spec``); each step's
  resources say which of them kfp.local enforces (``enforced``: none, ``LOCAL_ENFORCES``).
- ``practiced`` (``orchbench.trace``): what exists only because ``task.py`` hashed files
  into KFP metadata. A KFP artifact ref is ``practiced: ["sha256"]`` (URI KFP's, hash
  ours); a ``reads``/``writes`` file is a ``practiced: true`` ref; ``model_lineage`` marks
  ``model_sha256``; ``deployment`` (from the step summary in metadata) is practiced whole.
  Run ids, task names, URIs, the spec's wiring and ``code_version`` stay native.

kfp.local has no UI, no API and no notifications: everything above is read from its console
output and files on disk that nobody is pointed to, so every such record is ``passive``
(it shows what KFP recorded, never that someone was told). The only push to a human is
the pipeline's own exit handler (``pipeline.alert_on_failure``): each message it delivered
to the alert sink (``world/alerts/kfp-*.json``) becomes an ``alert`` record
(``read_alerts``). Cluster mode (``collect_cluster``) reads the KFP API's run states, not
a console, and leaves them non-passive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchbench import trace
from orchbench.workflow.spec import STEP_NAMES

SOURCE = "kfp-local"
ALERT_PREFIX = "kfp-"  # the exit handler's files in the alert sink (task.ALERT_PREFIX)
RUN_PREFIX = "daily-retraining-"
STARTED = "orchbench-kfp: submitting"
ENDED = "orchbench-kfp: pipeline run"
HARNESS_KILL = "orchbench-harness: timeout killed task"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FULL_TS = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})[.,](\d{3}) - (.*)$")
_TIME_TS = re.compile(r"^(\d{2}:\d{2}:\d{2})\.(\d{3}) - (.*)$")
_EXEC = re.compile(r"^INFO - Executing task '([^']+)'")
_DONE = re.compile(r"^(?:INFO|ERROR) - Task '([^']+)' finished with status (\w+)")
_HIT = re.compile(r"^INFO - Task (\S+) cache hit \(key=([0-9a-f]+)\)")
_UPSTREAM = re.compile(r"^INFO - Skipping task (\S+): upstream task\(s\) \[(.*)\] failed")
_COND = re.compile(r"^INFO - Skipping conditional task (\S+) \(condition evaluated to False\)")
_RUNNING = re.compile(r"^INFO - Running pipeline")
# KFP's executor logs from inside the task's process (kfp/dsl/executor_main.py,
# ``[KFP Executor %(asctime)s %(levelname)s]``); kfp.local prints them indented
_EXECUTOR = re.compile(
    r"^\s*\[KFP Executor (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) \w+\]: (.*)$"
)


# --- the compiled spec ---------------------------------------------------------------------


@dataclass
class Spec:
    """What the reader needs from the compiled pipeline spec."""

    groups: dict[str, list[str]]  # condition task -> the step tasks inside it (transitively)
    feeds: dict[str, dict[str, tuple[str, str]]]  # task -> input -> (producer, output key)
    code: dict[str, str]  # task -> hash of its executor's image and command

    @classmethod
    def load(cls, path: Path | str) -> Spec:
        return cls.of(yaml.safe_load(Path(path).read_text()))

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Spec:
        comps = doc.get("components", {})
        executors = doc.get("deploymentSpec", {}).get("executors", {})
        groups: dict[str, list[str]] = {}
        feeds: dict[str, dict[str, tuple[str, str]]] = {}
        code: dict[str, str] = {}

        def walk(dag: dict[str, Any], outer: dict[str, tuple[str, str]]) -> list[str]:
            leaves: list[str] = []
            for name, task in (dag.get("tasks") or {}).items():
                comp = comps.get(task.get("componentRef", {}).get("name"), {})
                ins: dict[str, tuple[str, str]] = {}
                for key, spec in (task.get("inputs", {}).get("artifacts") or {}).items():
                    if "taskOutputArtifact" in spec:
                        t = spec["taskOutputArtifact"]
                        ins[key] = (t["producerTask"], t["outputArtifactKey"])
                    elif "componentInputArtifact" in spec:
                        ref = outer.get(spec["componentInputArtifact"])
                        if ref is not None:
                            ins[key] = ref
                if "dag" in comp:
                    groups[name] = walk(comp["dag"], ins)
                    leaves += groups[name]
                else:
                    feeds[name] = ins
                    leaves.append(name)
                    container = executors.get(comp.get("executorLabel"), {}).get("container", {})
                    blob = json.dumps(
                        [container.get("image"), container.get("command"), container.get("args")]
                    )
                    code[name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
            return leaves

        walk(doc.get("root", {}).get("dag", {}), {})
        return cls(groups, feeds, code)


# What kfp.local (2.17.3) does with a task's resources: nothing. ``orchestrator/
# task_executor.py`` (``_warn_local_only_noops``) warns that cpu/memory limits and requests
# and the accelerator "have no effect in the current local runner and will be ignored";
# SubprocessRunner starts a plain process, and ``docker_task_handler.py`` passes Docker only
# the DockerRunner's own ``container_run_args``, the step's environment and the mounts.
LOCAL_ENFORCES: tuple[str, ...] = ()
LOCAL_ENFORCES_NOTE = (
    "kfp.local ignores every resource field of the spec (kfp/local/orchestrator/"
    "task_executor.py _warn_local_only_noops; docker_task_handler.py passes Docker only the "
    "DockerRunner's own arguments)"
)


def declared_from_spec(
    path: Path | str, enforces: tuple[str, ...] | None = LOCAL_ENFORCES
) -> dict[str, Any]:
    """The ``declared`` record: what the compiled IR YAML itself says. Each step's
    resources get ``enforced``: the declared keys among ``enforces`` (what the system
    enforces where it ran; None: not said, no ``enforced``)."""
    doc = yaml.safe_load(Path(path).read_text())
    comps = doc.get("components", {})
    executors = doc.get("deploymentSpec", {}).get("executors", {})
    typed: list[dict[str, Any]] = []
    retries: dict[str, int] = {}
    cache: dict[str, bool] = {}
    conditions: list[str] = []
    resources: dict[str, dict[str, Any]] = {}

    def walk(dag: dict[str, Any]) -> None:
        for name, task in (dag.get("tasks") or {}).items():
            comp = comps.get(task.get("componentRef", {}).get("name"), {})
            cond = (task.get("triggerPolicy") or {}).get("condition")
            if cond:
                conditions.append(f"{name}: {' '.join(str(cond).split())}")
            if "dag" in comp:
                walk(comp["dag"])
                continue
            if name not in STEP_NAMES:  # the exit handler's alert task is not a step
                continue
            for side in ("inputDefinitions", "outputDefinitions"):
                for art, d in ((comp.get(side) or {}).get("artifacts") or {}).items():
                    kind = "input" if side == "inputDefinitions" else "output"
                    title = (d.get("artifactType") or {}).get("schemaTitle")
                    typed.append({"step": name, "name": art, "type": title, "direction": kind})
            retries[name] = int((task.get("retryPolicy") or {}).get("maxRetryCount", 0))
            cache[name] = bool((task.get("cachingOptions") or {}).get("enableCache", False))
            container = executors.get(comp.get("executorLabel"), {}).get("container", {})
            res = container.get("resources") or {}
            if res:
                acc = res.get("accelerator") or {}
                resources[name] = {
                    "cpu": res.get("resourceCpuRequest") or res.get("cpuRequest"),
                    "memory": res.get("resourceMemoryRequest") or res.get("memoryRequest"),
                    "memory_limit": res.get("resourceMemoryLimit")
                    or (f"{res['memoryLimit']}G" if res.get("memoryLimit") else None),
                    "accelerator_type": acc.get("resourceType") or acc.get("type"),
                    "accelerator_limit": acc.get("resourceCount") or acc.get("count"),
                }
                if enforces is not None:
                    held = resources[name]
                    resources[name]["enforced"] = [k for k in enforces if held.get(k)]

    walk(doc.get("root", {}).get("dag", {}))
    rec = trace.declared(
        source=str(path),
        typed_artifacts=typed,
        deploy_condition=" && ".join(conditions) or None,
        retries=retries,
        caching=any(cache.values()),
        timeouts={},
        resources=resources,
    )
    rec["caching_by_step"] = cache
    if enforces == LOCAL_ENFORCES:
        rec["enforced_note"] = LOCAL_ENFORCES_NOTE
    rec["timeouts_note"] = (
        "KFP v2 pipeline specs have no task timeout field; the orchbench adapter enforces "
        "the policy's timeout_s on the local runner"
    )
    return rec


# --- one submission's console output -------------------------------------------------------


@dataclass
class Event:
    t_ns: int
    kind: str  # exec, done, hit, upstream, cond, kill, running, started, ended, executor
    task: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Submission:
    """One pipeline submission as its console output shows it."""

    log: Path
    arguments: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    state: str = "crashed"  # success | failed | crashed (the driver died without a word)
    message: str | None = None
    last_ns: int | None = None

    @property
    def logical_date(self) -> str | None:
        value = self.arguments.get("logical_date")
        return str(value) if value is not None else None


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1e9)


def parse_log(path: Path | str) -> Submission:
    """Parse the driver's console output (``kfp.local``'s log lines and the driver's own)."""
    sub = Submission(Path(path))
    day: dt.date | None = None
    prev: dt.datetime | None = None
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return sub
    for raw in text.splitlines():
        line = _ANSI.sub("", raw).rstrip()
        m = _EXECUTOR.match(line)
        if m:  # the task process's own line (its clock); not the driver's last word
            when = dt.datetime.strptime(f"{m[1]}.{m[2]}", "%Y-%m-%d %H:%M:%S.%f")
            sub.events.append(Event(_ns(when), "executor", _executing(sub), {"message": m[3]}))
            continue
        m = _FULL_TS.match(line)
        if m:
            when = dt.datetime.strptime(f"{m[1]}.{m[2]}", "%Y-%m-%d %H:%M:%S.%f")
            day, body = when.date(), m[3]
        else:
            m = _TIME_TS.match(line)
            if not m or day is None:
                continue
            t = dt.datetime.strptime(f"{m[1]}.{m[2]}", "%H:%M:%S.%f").time()
            when = dt.datetime.combine(day, t)
            if prev is not None and when < prev - dt.timedelta(hours=12):
                when += dt.timedelta(days=1)  # past midnight
                day = when.date()
            body = m[3]
        prev = when
        t_ns = _ns(when)
        sub.last_ns = t_ns
        add_event(sub, t_ns, body)
    return sub


def _executing(sub: Submission) -> str | None:
    """The task kfp.local is executing at the end of what was parsed, if any."""
    for e in reversed(sub.events):
        if e.kind in ("exec", "done"):
            return e.task if e.kind == "exec" else None
    return None


def add_event(sub: Submission, t_ns: int, body: str) -> None:
    """Record what one log message (without its timestamp) says, if anything."""
    if body.startswith(STARTED):
        rest = body[len(STARTED) :].strip()
        with contextlib.suppress(ValueError):
            sub.arguments = json.loads(rest[: rest.rindex("}") + 1])
        sub.events.append(Event(t_ns, "started"))
    elif body.startswith(ENDED):
        rest = body[len(ENDED) :].strip()
        sub.state = "success" if rest.startswith("SUCCESS") else "failed"
        sub.message = rest
        sub.events.append(Event(t_ns, "ended"))
    elif body.startswith(HARNESS_KILL):
        task = body[len(HARNESS_KILL) :].split()[0].strip("'")
        sub.events.append(Event(t_ns, "kill", task, {"message": body}))
    elif m := _EXEC.match(body):
        sub.events.append(Event(t_ns, "exec", m[1]))
    elif m := _DONE.match(body):
        sub.events.append(Event(t_ns, "done", m[1], {"status": m[2]}))
    elif m := _HIT.match(body):
        sub.events.append(Event(t_ns, "hit", m[1], {"key": m[2]}))
    elif m := _UPSTREAM.match(body):
        sub.events.append(Event(t_ns, "upstream", m[1], {"failed": m[2]}))
    elif m := _COND.match(body):
        sub.events.append(Event(t_ns, "cond", m[1]))
    elif _RUNNING.match(body):
        sub.events.append(Event(t_ns, "running"))


def message(line: str) -> str:
    """A log line's message without its timestamp and colours."""
    line = _ANSI.sub("", line).rstrip()
    for pattern in (_FULL_TS, _TIME_TS):
        m = pattern.match(line)
        if m:
            return m[3]
    return line


# --- the run directory ---------------------------------------------------------------------


def run_dir_of(sub: Submission, root: Path, taken: set[Path]) -> Path | None:
    """The run directory KFP created for this submission: the one whose timestamp (local
    time, in its name) is closest to the ``Running pipeline`` line, within 5 s."""
    running = next((e.t_ns for e in sub.events if e.kind == "running"), None)
    if running is None:
        return None
    best: tuple[float, Path] | None = None
    for d in root.glob(f"{RUN_PREFIX}*"):
        if d in taken or not d.is_dir():
            continue
        try:
            stamp = dt.datetime.strptime(d.name[len(RUN_PREFIX) :], "%Y-%m-%d-%H-%M-%S-%f")
        except ValueError:
            continue
        gap = abs(_ns(stamp) - running) / 1e9
        if gap <= 5 and (best is None or gap < best[0]):
            best = (gap, d)
    return best[1] if best else None


def _refs_of(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """Artifact refs from an executor output's (or a cache entry's) artifacts."""
    refs = []
    for key, value in outputs.items():
        arts = value.get("artifacts") if isinstance(value, dict) and "artifacts" in value else None
        for a in arts if arts is not None else [value]:
            if isinstance(a, dict) and "uri" in a:
                meta = a.get("metadata") or {}
                ref = {"name": key, "uri": a["uri"], "sha256": meta.get("sha256"), "meta": meta}
                refs.append(ref)
    return refs


def executor_output(run_dir: Path | None, task: str) -> dict[str, Any] | None:
    if run_dir is None:
        return None
    try:
        return json.loads((run_dir / task / "executor_output.json").read_text())
    except (OSError, ValueError):
        return None


def cache_entry(root: Path, key_prefix: str) -> dict[str, Any] | None:
    for p in sorted((root / ".kfp_cache").glob(f"{key_prefix}*.json")):
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return None
    return None


# --- conversion ----------------------------------------------------------------------------


def convert(
    subs: list[Submission], root: Path, spec: Spec, declared: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The trace records of the submissions, in order (see the module docstring)."""
    records: list[dict[str, Any]] = []
    taken: set[Path] = set()
    for sub in subs:
        run_dir = run_dir_of(sub, root, taken)
        if run_dir is not None:
            taken.add(run_dir)
        run = run_dir.name if run_dir is not None else f"unstarted:{sub.log.name}"
        records += _submission(sub, run, run_dir, root, spec)
    if declared is not None:
        records.append(declared)
    return records


def _submission(
    sub: Submission, run: str, run_dir: Path | None, root: Path, spec: Spec
) -> list[dict[str, Any]]:
    date = sub.logical_date or "None"
    out: list[dict[str, Any]] = []
    produced: dict[str, list[dict[str, Any]]] = {}  # task -> output refs in this submission
    open_: dict[str, dict[str, Any]] = {}
    count: dict[str, int] = {}
    attempts: list[dict[str, Any]] = []

    def leaves(task: str) -> list[str]:
        return spec.groups.get(task, [task])

    for e in sub.events:
        if e.kind == "exec" and e.task:
            count[e.task] = count.get(e.task, 0) + 1
            a = {"task": e.task, "start": e.t_ns, "end": None, "state": "running"}
            a["attempt"] = count[e.task]
            open_[e.task] = a
            attempts.append(a)
        elif e.kind == "kill" and e.task in open_:
            open_[e.task]["killed_by"] = "harness-timeout"
            open_[e.task]["message"] = e.detail.get("message")
        elif e.kind == "done" and e.task in open_:
            a = open_.pop(e.task)
            ok = e.detail.get("status") == "SUCCESS"
            a.update(end=e.t_ns, state="success" if ok else "failed")
        elif e.kind == "hit" and e.task:
            entry = cache_entry(root, e.detail["key"]) or {}
            produced[e.task] = _refs_of(entry)
            attempts.append(
                {
                    "task": e.task,
                    "start": e.t_ns,
                    "end": e.t_ns,
                    "state": "cached",
                    "cache_key": e.detail["key"],
                }
            )
        elif e.kind in ("upstream", "cond") and e.task:
            state = "upstream_failed" if e.kind == "upstream" else "skipped"
            for t in leaves(e.task):
                attempts.append(
                    {
                        "task": t,
                        "start": e.t_ns,
                        "end": e.t_ns,
                        "state": state,
                        "group": e.task if t != e.task else None,
                    }
                )
    for a in open_.values():  # the console's last word on it: executing
        a.update(state="running", end=None)

    for a in attempts:
        task = a["task"]
        if a["state"] == "success":
            eo = executor_output(run_dir, task) or {}
            produced[task] = _refs_of(eo.get("artifacts") or {})
    for a in attempts:
        task = a["task"]
        if task not in STEP_NAMES:
            continue
        mine = produced.get(task, []) if a["state"] in ("success", "cached") else []
        last_success = a["state"] == "success" and a is _last(attempts, task, "success")
        outputs = [_ref(r) for r in mine] if last_success or a["state"] == "cached" else []
        inputs = []
        for name, (producer, key) in spec.feeds.get(task, {}).items():
            ref = next((r for r in produced.get(producer, []) if r["name"] == key), None)
            if ref is not None:
                inputs.append({**_ref(ref), "name": name})
        if outputs:
            meta = mine[0]["meta"]
            inputs += [_plain(r) for r in meta.get("reads") or []]
            outputs += [_plain(r) for r in meta.get("writes") or []]
        extra = {k: a[k] for k in ("killed_by", "message", "cache_key", "group") if a.get(k)}
        out.append(
            trace.task_attempt(
                logical_date=date,
                step=task,
                state=a["state"],
                source=SOURCE,
                attempt=a.get("attempt"),
                start_ns=a["start"],
                end_ns=a["end"],
                run=run,
                inputs=inputs,
                outputs=outputs,
                code_version=spec.code.get(task),
                passive=True,
                **extra,
            )
        )
        if task == "train" and a["state"] == "success" and outputs:
            model = next((o for o in outputs if o["name"] == "model"), None)
            training = next((i for i in inputs if i["name"] == "features"), None)
            if model is not None and training is not None:
                out.append(
                    trace.record(
                        "model_lineage",
                        model_uri=model["uri"],
                        model_sha256=model["sha256"],
                        training=training,
                        run=run,
                        source=SOURCE,
                        passive=True,
                        practiced=["model_sha256"],  # task.py's hash; the URIs are KFP's
                    )
                )
        if task == "canary" and a["state"] == "success" and mine:
            meta = mine[0]["meta"]
            if meta.get("deployed") is True and meta.get("model_sha256"):
                out.append(
                    trace.record(
                        "deployment",
                        t_ns=a["end"],
                        slot="production",
                        model_sha256=meta["model_sha256"],
                        run=run,
                        logical_date=date,
                        source=SOURCE,
                        passive=True,
                        practiced=True,  # only from the step summary task.py put in metadata
                    )
                )
    end = next((e.t_ns for e in sub.events if e.kind == "ended"), sub.last_ns)
    out.append(
        trace.record(
            "run_state",
            run=run,
            logical_date=sub.logical_date,
            state=sub.state,
            t_ns=end,
            message=sub.message,
            parameters=sub.arguments,
            log=str(sub.log),
            source=SOURCE,
            passive=True,
        )
    )
    return out


def _last(attempts: list[dict[str, Any]], task: str, state: str) -> dict[str, Any] | None:
    found = [a for a in attempts if a["task"] == task and a["state"] == state]
    return found[-1] if found else None


def _ref(r: dict[str, Any]) -> dict[str, Any]:
    """A KFP artifact: its URI is KFP's; its sha256 only task.py's metadata (practiced)."""
    ref = {"name": r["name"], "uri": r["uri"], "sha256": r.get("sha256")}
    return {**ref, "practiced": ["sha256"]} if ref["sha256"] is not None else ref


def _plain(r: dict[str, Any]) -> dict[str, Any]:
    """A file task.py listed in metadata (``reads``/``writes``): practiced as a whole."""
    ref = {"name": r.get("name"), "uri": r.get("uri"), "sha256": r.get("sha256")}
    return {**ref, "practiced": True}


def collect_cluster(logs: list[Path], spec_path: Path) -> list[dict[str, Any]]:
    """Cluster mode (``--kfp-host``): the runs' final states as the submitting driver saw
    them, and what the spec declares. Task-level records would come from the KFP API's run
    details; that path is not built (no cluster was reachable where this was written)."""
    records = []
    for p in logs:
        sub = parse_log(p)
        end = next((e.t_ns for e in sub.events if e.kind == "ended"), sub.last_ns)
        records.append(
            trace.record(
                "run_state",
                run=sub.message,
                logical_date=sub.logical_date,
                state=sub.state,
                t_ns=end,
                message=sub.message,
                parameters=sub.arguments,
                source="kfp-api",
            )
        )
    return [*records, declared_from_spec(spec_path, enforces=None)]  # a cluster: not measured


def read_alerts(alerts_dir: Path | None) -> list[dict[str, Any]]:
    """The messages the pipeline's exit handler delivered to the alert sink."""
    return trace.sink_alerts(alerts_dir, f"{ALERT_PREFIX}*.json", "exit-handler", STEP_NAMES)


def collect(
    logs: list[Path], pipeline_root: Path, spec_path: Path, alerts_dir: Path | None = None
) -> list[dict[str, Any]]:
    """The native trace of a run: its submissions' logs (in order), the run directory, the
    compiled spec and the exit handler's messages in the alert sink."""
    spec = Spec.load(spec_path)
    subs = [parse_log(p) for p in logs]
    records = convert(subs, Path(pipeline_root), spec, declared_from_spec(spec_path))
    return records + read_alerts(alerts_dir)
