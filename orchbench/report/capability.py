"""The capability table: the seed article's claims x runners, every cell computed from runs.

A dynamic claim's cell pools the runner's runs of every scenario tagged with the claim
(``capabilities: [...]`` in the scenario copy each run keeps) and applies the claim's
rule below to the metrics in ``run.json``. A cell that passes while its runs had help
from us of a kind that can make that rule pass (``ASSISTED_BY``: a kill at the timeout,
a scheduler restart, a memory limit our adapter passed) reads
``harness-assisted``, never ``yes``. No rule passes on the operator's recovery alone
(``tests/unit/test_rules_can_fail.py``); backfills counts only the runs whose dates the
system's own scheduler fired, and reads ``no scheduler of its own here`` for a system
another scheduler fired (cron for KFP local).

A static claim (``Claim.static``) reads the native trace's ``declared`` record (what the
pipeline the system runs declares); a runner whose runs carry none shows ``not
recorded``. Runs that were not applicable show so, with their reason; a runner without
runs for the claim shows ``not run``. Nothing is typed by hand: change a run and the cell
changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from orchbench.aggregate import spread
from orchbench.claims import CLAIMS
from orchbench.report.load import ASSIST_PREFIX, load_declared
from orchbench.report.tables import completed, duration, three

YES, NO, PARTIAL, INFO = "yes", "no", "partial", "info"
NA, NOT_RUN, NOT_RECORDED = "not applicable", "not run", "not recorded"
ASSISTED, NOT_MEASURED = "harness-assisted", "not measured"
# a system without a scheduler of its own: another one (cron) fired its dates
NO_SCHEDULER = "no scheduler of its own here"
PASSING = (YES, PARTIAL)
# a static request the system holds but does not enforce where it ran (kfp.local's GPU)
DECLARED_NOT_ENFORCED = "declared, not enforced here"


@dataclass
class Cell:
    # yes | no | partial | info | harness-assisted | not measured | no scheduler of its
    # own here | declared, not enforced here | not applicable | not run | not recorded
    verdict: str
    text: str
    runs: list[str] = field(default_factory=list)  # run directories behind the cell
    # the measured figure a glance needs: "k/n" runs that pass the rule each on their own,
    # the rule's own text for an info claim, "" where the verdict says it all
    figure: str = ""


def _share(ok: pd.DataFrame, passed: pd.Series, what: str) -> tuple[str, str]:
    n, k = len(ok), int(passed.sum())
    verdict = YES if k == n else NO if k == 0 else PARTIAL
    return verdict, f"{k}/{n} runs {what}"


def _num(ok: pd.DataFrame, col: str, show: Callable[[float], str] = three) -> str:
    s = spread(pd.to_numeric(ok.get(col, pd.Series(dtype=float)), errors="coerce"))
    return "–" if s is None else show(s.median)


def _duration(ok: pd.DataFrame, col: str) -> str:
    s = spread(pd.to_numeric(ok.get(col, pd.Series(dtype=float)), errors="coerce"))
    return "–" if s is None else duration(s.median)


def _bool(ok: pd.DataFrame, col: str) -> pd.Series:
    return ok.get(col, pd.Series(False, index=ok.index)).fillna(False).astype(bool)


def _int(ok: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(ok.get(col, pd.Series(0, index=ok.index)), errors="coerce").fillna(0)


def rule_retries(ok: pd.DataFrame) -> tuple[str, str]:
    passed = _bool(ok, "recovered") & (_int(ok, "human_actions") == 0)
    return _share(ok, passed, "recovered with 0 interventions")


def rule_dependency(ok: pd.DataFrame) -> tuple[str, str]:
    v, t = _share(ok, _int(ok, "stale_executions") == 0, "with 0 stale executions")
    return v, f"{t}; median stale {_num(ok, 'stale_executions')}"


def rule_backfills(ok: pd.DataFrame) -> tuple[str, str]:
    """Only runs whose dates the system's own scheduler fired count (env.json's
    ``clock.fired_by`` is the system): a run passes when every missed date was produced
    with no intervention (``skipped_dates`` empty), in date order, none twice, and the
    final state is right; produced but out of order or twice reads partial. A system
    another scheduler fired (cron for KFP local) reads "no scheduler of its own here";
    runs the harness fired (results from before issue 25) read "not measured"."""
    fired = ok.get("fired_by", pd.Series("harness", index=ok.index)).fillna("harness")
    own = ok[(fired == ok["system"]) & (_int(ok, "missed_dates_n") > 0)]
    if own.empty:
        others = sorted(set(fired) - {"harness"})
        if others:
            return NO_SCHEDULER, f"{NO_SCHEDULER}: scheduled by {', '.join(others)}"
        return NOT_MEASURED, "not measured: the harness fired the dates"
    filled = _int(own, "skipped_dates_n") == 0
    verdict, text = _share(own, filled, "produced every missed date with no intervention")
    ordered = int(_bool(own, "backfill_in_order").sum())
    dup = int((_int(own, "duplicate_dates_n") > 0).sum())
    clean = _bool(own, "backfill_in_order") & (_int(own, "duplicate_dates_n") == 0)
    clean &= _bool(own, "final_state_correct")
    if verdict == YES and not (filled & clean).all():  # produced, but out of order or twice
        verdict = PARTIAL
    return verdict, (
        f"{text}; in date order {ordered}/{len(own)}; catch-up {_duration(own, 'catchup_s')} "
        f"({_duration(own, 'catchup_production_s')} production); runs with a date run "
        f"twice: {dup}; operator commands (median) {_num(own, 'operator_commands')}"
    )


def rule_caching(ok: pd.DataFrame) -> tuple[str, str]:
    return INFO, f"rerun cost ratio {_num(ok, 'rerun_cost_ratio')} (1 = minimal)"


def rule_observability(ok: pd.DataFrame) -> tuple[str, str]:
    v, t = _share(ok, _bool(ok, "alerted"), "alerted a human")
    return v, (
        f"{t}; alert after {_num(ok, 'alert_s')} s "
        f"({_duration(ok, 'alert_production_s')} on the production clock)"
    )


def rule_lineage(ok: pd.DataFrame) -> tuple[str, str]:
    return INFO, (
        f"native {_num(ok, 'lineage_native', '{:.2f}'.format)}, "
        f"practiced {_num(ok, 'lineage_practiced', '{:.2f}'.format)}"
    )


def rule_stop_on_schema_break(ok: pd.DataFrame) -> tuple[str, str]:
    passed = (
        _bool(ok, "alerted")
        & (_int(ok, "stale_executions") == 0)
        & ~_bool(ok, "bad_model_deployed")
    )
    return _share(ok, passed, "alerted, 0 stale, no bad model")


def rule_conditional_deploy(ok: pd.DataFrame) -> tuple[str, str]:
    return _share(ok, ~_bool(ok, "bad_model_deployed"), "kept the bad model out")


def rule_timeouts(ok: pd.DataFrame) -> tuple[str, str]:
    """The system itself got past the hang: recovered with no human action (an operator
    cleaning up after a hung cron job does not count)."""
    passed = (
        _bool(ok, "recovered") & _bool(ok, "final_state_correct") & (_int(ok, "human_actions") == 0)
    )
    v, t = _share(ok, passed, "recovered with 0 interventions")
    return v, f"{t}; killed attempts {_num(ok, 'killed_attempts')}"


def rule_atomic(ok: pd.DataFrame) -> tuple[str, str]:
    """No step consumed a torn, wrong or stale artifact (``bad_input_executions``) and
    the final state is correct: a recovery after downstream ran on the torn file does
    not count."""
    passed = _bool(ok, "final_state_correct") & (_int(ok, "bad_input_executions") == 0)
    return _share(ok, passed, "correct final state, no step read a bad input")


def rule_scheduler(ok: pd.DataFrame) -> tuple[str, str]:
    """The day completed after the scheduler came back, with no intervention."""
    passed = (
        _bool(ok, "recovered") & _bool(ok, "final_state_correct") & (_int(ok, "human_actions") == 0)
    )
    v, t = _share(ok, passed, "recovered with 0 interventions")
    return v, f"{t}; interventions {_num(ok, 'human_actions')}"


def rule_container(ok: pd.DataFrame) -> tuple[str, str]:
    """The step's own environment satisfied it: the fault never took effect (a shared
    environment fails the step; recovering after the revert does not count)."""
    isolated = (_int(ok, "faults_activated") == 0) & (_int(ok, "failed_attempts") == 0)
    passed = isolated & _bool(ok, "final_state_correct")
    return _share(ok, passed, "ran the step in its own environment (no failure)")


def rule_resource_limits(ok: pd.DataFrame) -> tuple[str, str]:
    """A declared memory limit held on every attempt (``memory_limit_enforced``)."""
    enforced = ok.get("memory_limit_enforced", pd.Series(None, index=ok.index))
    declared = enforced.notna()
    if not declared.any():
        return NO, f"0/{len(ok)} runs: no memory limit declared"
    v, t = _share(ok, enforced.fillna(False).astype(bool), "ran under the declared memory limit")
    return v, f"{t}; OOM kills by the kernel {int(_int(ok, 'oom_kills').sum())}"


def static_typed_artifacts(declared: dict[str, Any]) -> tuple[str, str]:
    typed = declared.get("typed_artifacts") or []
    if not typed:
        return NO, "no typed artifacts declared"
    types = sorted({str(t.get("type")) for t in typed})
    return YES, f"{len(typed)} typed artifacts ({', '.join(types)})"


def static_gpu(declared: dict[str, Any]) -> tuple[str, str]:
    """YES only when train's accelerator request is one the system enforces where it ran
    (every declared accelerator key in the step's ``enforced``); a request it holds but
    ignores, or whose enforcement the runner does not record, is only declared."""
    res = (declared.get("resources") or {}).get("train") or {}
    acc = {k: v for k, v in res.items() if k.startswith("accelerator") and v}
    if not acc:
        return NO, "no accelerator request on train"
    text = "train requests " + ", ".join(f"{k}={v}" for k, v in sorted(acc.items()))
    enforced = res.get("enforced")
    if enforced is not None and set(acc) <= set(enforced):
        return YES, f"{text}, enforced where it ran"
    why = "enforcement not recorded" if enforced is None else "the system ignores it here"
    return DECLARED_NOT_ENFORCED, f"{text}; {why}"


DynamicRule = Callable[[pd.DataFrame], tuple[str, str]]
StaticRule = Callable[[dict[str, Any]], tuple[str, str]]

RULES: dict[str, DynamicRule] = {
    "dependency_management": rule_dependency,
    "retries": rule_retries,
    "backfills": rule_backfills,
    "caching": rule_caching,
    "observability": rule_observability,
    "lineage": rule_lineage,
    "stop_on_schema_break": rule_stop_on_schema_break,
    "conditional_deploy": rule_conditional_deploy,
    "timeouts": rule_timeouts,
    "atomic_steps": rule_atomic,
    "scheduler_resilience": rule_scheduler,
    "container_isolation": rule_container,
    "resource_limits": rule_resource_limits,
}
# The harness assists (``orchbench.journal.ASSISTS``) that can make a claim's rule pass
# where the system alone would not: such a passing cell reads ``harness-assisted``.
ASSISTED_BY: dict[str, tuple[str, ...]] = {
    "retries": ("timeout_kill",),
    "timeouts": ("timeout_kill",),
    # an alert sent only once our kill ended a hung task, or our restart brought the
    # scheduler back, is not the system's alone
    "observability": ("timeout_kill", "scheduler_restarted"),
    "scheduler_resilience": ("scheduler_restarted",),
    "resource_limits": ("memory_limit",),
}
STATIC_RULES: dict[str, StaticRule] = {
    "typed_artifacts": static_typed_artifacts,
    "gpu_control": static_gpu,
}


def _latest_first(g: pd.DataFrame) -> list[str]:
    return list(g.sort_values("run_id", ascending=False)["run_dir"])


def dynamic_cell(claim: str, g: pd.DataFrame) -> Cell:
    """The cell of one dynamic claim for one runner from its tagged runs ``g``."""
    if g.empty:
        return Cell(NOT_RUN, "not run")
    ok = completed(g)
    na = g[g["status"] == "not_applicable"]
    other = g[~g["status"].isin(["completed", "not_applicable"])]
    if ok.empty:
        if not na.empty:
            reasons = "; ".join(sorted(set(na["reason"].fillna("").astype(str))))
            return Cell(NA, f"not applicable: {reasons}", _latest_first(na))
        statuses = ", ".join(sorted(set(other["status"])))
        return Cell(NO, f"no completed run ({statuses})", _latest_first(other))
    verdict, text = RULES[claim](ok)
    helped = assisted_passes(claim, ok)
    if verdict in PASSING and not helped.empty:
        help_text = assists_text(helped, ASSISTED_BY[claim])
        scen = ", ".join(sorted(set(helped["scenario"])))
        verdict, text = ASSISTED, f"{text}; passed with harness help: {help_text} ({scen})"
    figure = (
        text
        if verdict == INFO
        else ""
        if verdict not in (*PASSING, ASSISTED, NO)
        else (f"{sum(RULES[claim](ok.loc[[i]])[0] in PASSING for i in ok.index)}/{len(ok)}")
    )
    scen = sorted(set(ok["scenario"]))
    text += f" [{', '.join(scen)}]"
    if not other.empty:
        text += f"; also {len(other)} run(s) {', '.join(sorted(set(other['status'])))}"
    if not na.empty:
        text += f"; {len(na)} not applicable"
    return Cell(verdict, text, _latest_first(ok), figure)


def assisted_passes(claim: str, ok: pd.DataFrame) -> pd.DataFrame:
    """The runs that pass the claim's rule by themselves and had help of a kind that can
    make it pass (``ASSISTED_BY``); a helped run that failed the rule is not one."""
    kinds = ASSISTED_BY.get(claim, ())
    had = sum((_int(ok, f"{ASSIST_PREFIX}{k}") > 0 for k in kinds), pd.Series(False, ok.index))
    return ok.loc[[i for i in ok.index[had] if RULES[claim](ok.loc[[i]])[0] in PASSING]]


def assists_text(ok: pd.DataFrame, kinds: tuple[str, ...]) -> str:
    """``timeout_kill ×3, ...``: the assists of these kinds the runs had, or ``""``."""
    counts = {k: int(_int(ok, f"{ASSIST_PREFIX}{k}").sum()) for k in kinds}
    return ", ".join(f"{k} ×{n}" for k, n in counts.items() if n)


def static_cell(claim: str, g: pd.DataFrame) -> Cell:
    """The cell of one static claim for one runner: its latest run with a declared record."""
    if g.empty:
        return Cell(NOT_RUN, "not run")
    for run_dir in _latest_first(g):
        declared = load_declared(run_dir)
        if declared is not None:
            verdict, text = STATIC_RULES[claim](declared)
            return Cell(verdict, f"{text} (from {declared.get('source')})", [run_dir])
    return Cell(NOT_RECORDED, "not recorded (no declared record in the native trace)")


def columns(runs: pd.DataFrame) -> pd.Series:
    """Each run's column in the table: its runner on the ``default`` profile, else
    ``runner/profile`` (cron-hardened's ``pipeline``, Airflow's ``celery``): runs of two
    deployments are never pooled into one cell."""
    if runs.empty:
        return pd.Series(dtype=str)
    default = runs["profile"].fillna("default") == "default"
    return runs["runner"].where(default, runs["runner"] + "/" + runs["profile"].astype(str))


def capability_table(runs: pd.DataFrame) -> dict[str, dict[str, Cell]]:
    """``{claim_id: {column: Cell}}`` for every claim and every runner (and non-default
    profile, ``columns``) present in ``runs``."""
    col = columns(runs)
    runners = sorted(col.unique()) if not runs.empty else []
    table: dict[str, dict[str, Cell]] = {}
    for cid, claim in CLAIMS.items():
        row: dict[str, Cell] = {}
        for runner in runners:
            mine = runs[col == runner]
            if claim.static:
                row[runner] = static_cell(cid, mine)
            else:
                tagged = mine[mine["capabilities"].map(lambda caps, c=cid: c in (caps or ()))]
                row[runner] = dynamic_cell(cid, tagged)
        table[cid] = row
    return table
