"""The one wrapper every runner puts around every step attempt.

``run_step`` journals the attempt (start once the step's heavy imports are loaded, before
anything else happens; end with CPU, status, outputs and hashes; an attempt cut while its
imports load, by a system's interrupt, is journaled as begun at entry and failed, with no
CPU), gives the fault catalog its chance to act (before: raise, hang, kill,
tamper with inputs; after: tamper with outputs), and calls the shared step function.
Runners pass the paths of dated artifacts; source and state artifacts default to the
world's paths. Exceptions propagate unchanged so each orchestrator sees a real failure.
While an attempt runs, a daemon thread replaces its heartbeat file (CPU so far) about every
second (``orchbench.journal.heartbeat_path``), so a killed attempt's CPU is not lost; the
file is removed when the attempt ends (measured cost: about 0.06 ms per attempt).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchbench.contracts import StepCall
from orchbench.hashing import sha256_path
from orchbench.journal import append_record, append_start, heartbeat_path
from orchbench.workflow.spec import ARTIFACTS, STEP_BY_NAME
from orchbench.world import ENV_JOURNAL, ENV_RUN_ID, ENV_RUNNER, World

_SOURCES: dict[str, str] = {}


def code_version(step: str, world: World | None = None) -> str:
    """Hash of the step function's source plus, for a step whose implementation lives in
    the world's code repository (``orchbench.workflow.repo``), that module's text as it is
    now: changes exactly when the step's code does, also between two attempts of one
    process (the module is re-read on every call; the function's source is fixed)."""
    from orchbench.workflow.repo import module_source

    if step not in _SOURCES:
        from orchbench.workflow.steps import STEP_FUNCS

        _SOURCES[step] = inspect.getsource(STEP_FUNCS[step])
    src = _SOURCES[step]
    module = module_source(world, step)
    if module is not None:
        src += "\n" + module
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def default_paths(world: World, logical_date: dt.date) -> dict[str, Path]:
    """Where source and state artifacts live (the same for every runner)."""
    return {
        "landing": world.landing_partition(logical_date),
        "holdout": world.holdout,
        "reference": world.reference_profile,
        "champion": world.champion,
        "serving": world.serving,
    }


def _refs(paths: Mapping[str, Path]) -> list[dict[str, Any]]:
    return [{"name": n, "uri": str(p), "sha256": sha256_path(p)} for n, p in paths.items()]


def resolve_call(
    step: str,
    logical_date: dt.date | str,
    inputs: Mapping[str, str | Path] | None = None,
    outputs: Mapping[str, str | Path] | None = None,
    *,
    world: World | None = None,
    journal: Path | str | None = None,
    run_id: str | None = None,
    runner: str | None = None,
    native: dict[str, Any] | None = None,
) -> StepCall:
    if step not in STEP_BY_NAME:
        raise ValueError(f"unknown step {step!r}")
    spec = STEP_BY_NAME[step]
    day = logical_date if isinstance(logical_date, dt.date) else dt.date.fromisoformat(logical_date)
    w = world or World.from_env()
    defaults = default_paths(w, day)
    given_in = {k: Path(v) for k, v in (inputs or {}).items()}
    given_out = {k: Path(v) for k, v in (outputs or {}).items()}
    ins, outs = {}, {}
    for name in spec.inputs:
        path = given_in.get(name) or defaults.get(name)
        if path is None:
            raise ValueError(f"{step}: input {name!r} ({ARTIFACTS[name].kind}) needs a path")
        ins[name] = path
    for name in spec.outputs:
        path = given_out.get(name) or defaults.get(name)
        if path is None:
            raise ValueError(f"{step}: output {name!r} ({ARTIFACTS[name].kind}) needs a path")
        outs[name] = path
    jpath = Path(journal or os.environ.get(ENV_JOURNAL) or "")
    if not str(jpath) or str(jpath) == ".":
        raise RuntimeError(f"{ENV_JOURNAL} is not set: the step does not know its journal")
    return StepCall(
        step=step,
        logical_date=day,
        inputs=ins,
        outputs=outs,
        config=w.config(),
        world=w,
        journal=jpath,
        run_id=run_id or os.environ.get(ENV_RUN_ID, "unknown"),
        runner=runner or os.environ.get(ENV_RUNNER, "unknown"),
        native=native or {},
    )


HEARTBEAT_S = 1.0  # an attempt shorter than this writes no heartbeat


def _heartbeat(
    journal: Path, attempt_id: str, cpu0: float
) -> tuple[threading.Event, threading.Thread]:
    """Start a daemon thread that replaces the attempt's heartbeat file (CPU so far, time)
    every ``HEARTBEAT_S`` until the returned event is set."""
    stop = threading.Event()
    path = heartbeat_path(journal, attempt_id)

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                path.parent.mkdir(exist_ok=True)
                tmp = path.with_suffix(".tmp")
                cpu = round(time.process_time() - cpu0, 6)
                tmp.write_text(json.dumps({"cpu_s": cpu, "t_ns": time.time_ns()}))
                os.replace(tmp, path)
            except OSError:
                return

    thread = threading.Thread(target=beat, name="orchbench-heartbeat", daemon=True)
    thread.start()
    return stop, thread


def _start_record(call: StepCall, start_ns: int) -> dict[str, Any]:
    return {
        "type": "attempt_start",
        "attempt_id": call.attempt_id,
        "run_id": call.run_id,
        "runner": call.runner,
        "logical_date": call.logical_date.isoformat(),
        "step": call.step,
        "pid": os.getpid(),
        "start_ns": start_ns,
        "code_version": code_version(call.step, call.world),
        "inputs": _refs(call.inputs),
        "native": call.native,
    }


def _end_record(
    call: StepCall, status: str, error: BaseException | None, cpu_s: float, result: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "attempt_end",
        "attempt_id": call.attempt_id,
        "run_id": call.run_id,
        "logical_date": call.logical_date.isoformat(),
        "step": call.step,
        "end_ns": time.time_ns(),
        "cpu_s": round(cpu_s, 6),
        "status": status,
        "error_type": None if error is None else type(error).__name__,
        "error": None if error is None else str(error)[:500],
        "outputs": _refs(call.outputs) if status == "success" else [],
        "result": result,
    }


def run_step(
    step: str,
    logical_date: dt.date | str,
    inputs: Mapping[str, str | Path] | None = None,
    outputs: Mapping[str, str | Path] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Run one attempt of ``step`` for ``logical_date`` under the journal. Returns its result."""
    from fault_injection import hooks
    from orchbench.workflow.steps import STEP_FUNCS, preload

    call = resolve_call(step, logical_date, inputs, outputs, **kw)
    func = STEP_FUNCS[step]
    call.attempt_id = uuid.uuid4().hex
    began = time.time_ns()
    try:
        preload(step)
    except BaseException as e:  # cut while importing (a system's interrupt): it began
        call.attempt = append_start(call.journal, _start_record(call, began))
        append_record(call.journal, _end_record(call, "failed", e, 0.0, {}))
        raise
    call.attempt = append_start(call.journal, _start_record(call, time.time_ns()))
    cpu0 = time.process_time()
    stop_beat, beat_thread = _heartbeat(call.journal, call.attempt_id, cpu0)
    status, error, result = "success", None, {}
    try:
        hooks.before_step(call)
        result = func(call) or {}
        hooks.after_step(call)
    except BaseException as e:
        status, error = "failed", e
        raise
    finally:
        stop_beat.set()
        cpu_s = time.process_time() - cpu0
        append_record(call.journal, _end_record(call, status, error, cpu_s, result))
        beat_thread.join(timeout=2 * HEARTBEAT_S)  # a beat being written finishes first
        heartbeat_path(call.journal, call.attempt_id).unlink(missing_ok=True)
    return result
