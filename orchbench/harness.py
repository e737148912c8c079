"""Run one scenario on one runner and record it: the sequence every measurement follows.

1. validate everything that can be wrong before anything is written (scenario, runner
   name, profile, the runner's environment);
2. create the run directory under a temporary name, the world (landing partitions,
   reference data, config) and arm the scenario's faults;
3. ``run_days``: the system runs every logical date its own way;
4. the operator: waits ``operator_delay_s``, flips every fault's switch (the fix), and
   asks the system to recover the dates the journal shows broken (``recovery_plan``);
5. ``collect`` the native trace, run (or load) the oracle, compute metrics and classify
   every journaled attempt, write ``run.json`` and ``env.json``, and publish the
   directory by renaming it.

A run that times out or hits a harness error is still published with its status and
reason (failures are data). Ctrl-C aborts the runner, removes the temporary directory
and re-raises: an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fault_injection import catalog
from fault_injection import hooks as fault_hooks
from fault_injection import state as fault_state
from fault_injection.scenario_faults import load_checked
from orchbench import journal as jr
from orchbench import metrics, ownership, records, rundir
from orchbench.contracts import RecoveryPlan, recovery_plan
from orchbench.oracle import OracleResult, final_state, run_oracle
from orchbench.plugins import runner_class
from orchbench.records import ClassifiedAttempt, SchemaError
from orchbench.runner import SERVICES_STARTING, NotApplicable, RunContext, Runner, RunTimeout
from orchbench.scenario import Scenario
from orchbench.trace import TRACE_NAME, write_trace
from orchbench.workflow.data import prepare_world
from orchbench.workflow.spec import STEP_NAMES

log = logging.getLogger("orchbench")
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "results" / "runs"


def default_timeout(scenario: Scenario) -> float:
    """Deadline for one run: generous per day and per possible attempt, bounded."""
    p = scenario.policy
    per_day = 60 + 7 * (p.retries + 1) * min(p.timeout_s, 30) + 7 * p.retries * p.retry_delay_s
    return min(3600.0, 120 + scenario.days * per_day + scenario.recovery.operator_delay_s)


def make_runner(name: str, profile: str) -> Runner:
    """Instantiate and check a runner; raises UnknownRunner, ValueError, EnvironmentMissing."""
    runner = runner_class(name)(profile=profile, repo_root=REPO_ROOT)
    runner.check_environment()
    return runner


def run_scenario(
    scenario_path: Path | str,
    runner_name: str,
    profile: str = "default",
    out_root: Path = DEFAULT_OUT,
    *,
    runner: Runner | None = None,
    timeout_s: float | None = None,
    keep_work: bool = False,
    on_phase: Callable[[str], None] | None = None,
    idle_s: float = 0.0,
) -> Path:
    """Run and record one scenario; returns the published run directory.

    Pass a ``runner`` already started by a matrix to reuse its services; otherwise one is
    made, started and stopped here. ``idle_s``: seconds the system sits idle once up, before
    the first date (``RunContext.idle_s``).
    """
    scenario_path = Path(scenario_path)
    out_root = Path(out_root).resolve()  # runners hand paths to other processes
    scenario = load_checked(scenario_path)
    own_runner = runner is None
    if runner is None:
        runner = make_runner(runner_name, profile)
    phase = on_phase or (lambda _: None)

    run_id = rundir.new_run_id()
    tmp = rundir.temp_run_dir(out_root, scenario.name, runner.name, run_id)
    tmp.mkdir(parents=True)
    ownership.mark(tmp)  # `--resume` elsewhere leaves it alone while we live
    (tmp / "logs").mkdir()
    (tmp / "scenario.yaml").write_text(scenario_path.read_text())
    handler = logging.FileHandler(tmp / "logs" / "harness.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    started_at = dt.datetime.now(dt.UTC).isoformat()
    timeout = timeout_s or default_timeout(scenario)
    try:
        ctx = RunContext(
            scenario=scenario,
            runner=runner.name,
            profile=runner.profile,
            run_id=run_id,
            run_dir=tmp,
            world=prepare_world(tmp / "work" / "world", scenario),
            deadline=time.monotonic() + timeout,
            repo_root=REPO_ROOT,
            scheduler_faults=catalog.scheduler_faults(scenario),
            requirements=catalog.requirements(scenario),
            scheduling=catalog.scheduling(scenario),
            idle_s=idle_s,
        )
        fault_state.arm(
            ctx.world,
            [
                {
                    "kind": f.kind,
                    "logical_date": scenario.date_of_day(f.day).isoformat(),
                    "at": f.at,
                    "params": f.params,
                    "step_hooks": catalog.KINDS[f.kind].step_hooks,
                }
                for f in scenario.faults
            ],
        )
        try:
            status, reason, plan, oracle = _execute(
                ctx, runner, own_runner, timeout, phase, out_root / ".oracle"
            )
        finally:
            jr.harness_event(ctx.journal, "run_finished")
        phase("collect")
        native = _collect(runner, ctx)
        trace_problem = _write_trace(tmp / TRACE_NAME, native)
        if trace_problem:  # a runner bug: the run's own failure, if any, comes first
            status, reason = (
                ("harness_error", trace_problem)
                if status == "completed"
                else (status, f"{reason}; {trace_problem}")
            )
        if own_runner:
            runner.stop()
        phase("metrics")
        result = None
        if oracle is not None and not trace_problem:
            try:
                result = metrics.compute_metrics(
                    jr.Journal.load(ctx.journal),
                    native,
                    oracle,
                    final_state(ctx.world.root),
                    scenario,
                )
            except Exception as e:
                log.error("metrics failed:\n%s", traceback.format_exc())
                status, reason = "harness_error", f"metrics: {type(e).__name__}: {e}"
        attempts = _classify(ctx.journal)
        _write_record(
            tmp,
            scenario,
            (runner, fired(runner, ctx)),
            run_id,
            started_at,
            (status, reason),
            plan,
            result,
            oracle,
            attempts,
        )
        if not keep_work:  # inside the try: a Ctrl-C here still removes the whole run
            shutil.rmtree(tmp / "work", ignore_errors=True)
    except BaseException:
        # Ctrl-C (or a failure to write the record itself): leave nothing behind.
        with rundir.cleanup_uncut():
            runner.abort()
            if own_runner:
                runner.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        log.removeHandler(handler)
        handler.close()
    return rundir.finalize(tmp)


def _execute(
    ctx: RunContext,
    runner: Runner,
    own_runner: bool,
    timeout: float,
    phase: Callable[[str], None],
    oracle_cache: Path,
) -> tuple[str, str | None, dict[str, str], OracleResult | None]:
    """Oracle, days, fix, recovery. Returns (status, reason, recovery plan, oracle).

    Timeouts, not-applicable scenarios and harness errors become a status; Ctrl-C
    propagates after the runner is aborted.
    """
    scenario = ctx.scenario
    plan: dict[str, str] = {}
    oracle = None
    try:
        phase("oracle")
        oracle = run_oracle(scenario, cache_dir=oracle_cache)
        not_supported = catalog.check_supported(runner, scenario)
        if not_supported:
            raise NotApplicable(not_supported)
        if own_runner:
            phase("starting")
            jr.harness_event(ctx.journal, SERVICES_STARTING)
            runner.start(ctx.work)
        # The run's time budget covers the system's work, not the oracle or start-up: a
        # cold oracle cache (seconds of in-process training) must not eat a run's timeout.
        ctx.deadline = time.monotonic() + timeout
        jr.harness_event(ctx.journal, "run_started", timeout_s=timeout)
        phase("days")
        runner.run_days(ctx)
        jr.harness_event(ctx.journal, "days_finished")
        journal = jr.Journal.load(ctx.journal)
        dates = [d.isoformat() for d in scenario.logical_dates()]
        plan = recovery_plan(journal, metrics.analyse(journal), dates).restart_from
        if scenario.faults:
            phase("fix")
            time.sleep(scenario.recovery.operator_delay_s)
            fixed = fault_hooks.fix_all(ctx.world)
            jr.harness_event(ctx.journal, "fix_applied", faults=fixed)
            jr.harness_event(ctx.journal, "recovery_started", plan=plan)
            if plan:
                phase("recovery")
                chosen = runner.operator_plan(ctx, operator_start(scenario, plan))
                ctx.intervention(decision(chosen))
                runner.recover(ctx, chosen)
            jr.harness_event(ctx.journal, "recovery_finished")
        return "completed", None, plan, oracle
    except RunTimeout as e:
        runner.abort()
        return "timeout", str(e) or f"run exceeded {timeout:.0f} s", plan, oracle
    except NotApplicable as e:
        runner.abort()
        return "not_applicable", str(e), plan, oracle
    except KeyboardInterrupt:
        with rundir.cleanup_uncut():
            runner.abort()
        raise
    except Exception as e:
        log.error("run failed:\n%s", traceback.format_exc())
        runner.abort()
        return "harness_error", f"{type(e).__name__}: {e}", plan, oracle


def operator_start(scenario: Scenario, plan: dict[str, str]) -> RecoveryPlan:
    """Where the operator restarts each broken date: the plan's step, or the first step
    when the scenario's recovery re-runs whole dates on the system's cache
    (``recovery.action: rerun_date``; an adapter that caches then leaves its cache on)."""
    if scenario.recovery.action == "rerun_date":
        return RecoveryPlan({d: STEP_NAMES[0] for d in plan})
    return RecoveryPlan(dict(plan))


def decision(plan: RecoveryPlan) -> str:
    """The operator's one decision after the fix, in words: which dates to re-run, from
    which step (dates restarting from the same step named together)."""
    by_step: dict[str, list[str]] = {}
    for date, step in sorted(plan.restart_from.items()):
        by_step.setdefault(step, []).append(date)
    parts = [f"{', '.join(dates)} from {step}" for step, dates in by_step.items()]
    return "after the fix, re-run " + "; ".join(parts)


def record_unrun(scenario_path: Path | str, runner: Runner, out_root: Path, reason: str) -> Path:
    """Publish a run that could not start (e.g. its runner's services failed to start)."""
    scenario_path = Path(scenario_path)
    scenario = load_checked(scenario_path)
    run_id = rundir.new_run_id()
    tmp = rundir.temp_run_dir(Path(out_root).resolve(), scenario.name, runner.name, run_id)
    (tmp / "logs").mkdir(parents=True)
    ownership.mark(tmp)
    (tmp / "scenario.yaml").write_text(scenario_path.read_text())
    now = dt.datetime.now(dt.UTC).isoformat()
    _write_record(
        tmp, scenario, (runner, {}), run_id, now, ("harness_error", reason), {}, None, None, None
    )
    return rundir.finalize(tmp)


def fired(runner: Runner, ctx: RunContext) -> dict[str, Any]:
    """Who fired the run's dates, for env.json's ``clock``."""
    return {
        "scheduling": ctx.scheduling,
        "fired_by": runner.fired_by(ctx),
        "day_s": ctx.clock.day_s if ctx.clock else None,
    }


def _write_record(
    tmp: Path,
    scenario: Scenario,
    ran: tuple[Runner, dict[str, Any]],
    run_id: str,
    started_at: str,
    outcome: tuple[str, str | None],
    plan: dict[str, str],
    metrics_block: dict[str, Any] | None,
    oracle: OracleResult | None,
    attempts: list[ClassifiedAttempt] | None,
) -> None:
    """Write ``env.json`` and ``run.json`` (models in ``orchbench.records``) into a run
    directory; ``ran`` is the runner and who fired the dates (``fired``), ``outcome`` is
    (status, reason)."""
    status, reason = outcome
    runner, fired_how = ran
    env = records.EnvRecord.model_validate(rundir.env_info(REPO_ROOT, runner, fired_how))
    run = records.RunRecord(
        scenario=scenario.name,
        runner=runner.name,
        system=runner.system,
        profile=runner.profile,
        run_id=run_id,
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC).isoformat(),
        status=status,
        reason=reason,
        recovery_plan=plan,
        metrics=None if metrics_block is None else records.RunMetrics(**metrics_block),
        oracle=None
        if oracle is None
        else records.OracleHashes(
            champion_sha256=oracle.champion_sha256, production_sha256=oracle.production_sha256
        ),
        attempts=attempts,
    )
    records.write_record(tmp / "env.json", env)
    records.write_record(tmp / "run.json", run)


def _write_trace(path: Path, native: list[dict[str, Any]]) -> str | None:
    """Write the native trace; a record that does not fit ``orchbench.trace`` is a runner
    bug: the trace is written unchecked and the problem returned (else None)."""
    try:
        write_trace(path, native)
        return None
    except SchemaError as e:
        log.error("native trace: %s", e)
        write_trace(path, native, check_records=False)
        return f"native trace: {e}"


def _classify(journal: Path) -> list[ClassifiedAttempt] | None:
    """Every journaled attempt's classification for run.json; None if the journal cannot
    be read (the run's status says why)."""
    try:
        return metrics.classify_attempts(jr.Journal.load(journal))
    except Exception:
        log.error("classifying attempts failed:\n%s", traceback.format_exc())
        return None


def _collect(runner: Runner, ctx: RunContext) -> list[dict[str, Any]]:
    try:
        return runner.collect(ctx)
    except Exception:
        log.error("collect failed:\n%s", traceback.format_exc())
        return []
