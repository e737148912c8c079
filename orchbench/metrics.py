"""Every metric of run.json, computed here and only here.

Truth comes from the journal (what really ran); what a user of the system could see or
look up comes from the native trace alone. ``analyse`` classifies each journaled attempt
(``classify_attempts`` gives that classification as run.json's ``attempts``),
``compute_metrics`` returns the ``metrics`` block of run.json (what to re-run after the fix
is ``orchbench.contracts.recovery_plan``, from ``analyse``'s verdicts). Its keys:

- ``faults_activated``: journaled fault activations; 0 when no fault took effect (e.g. an
  ``env_mismatch`` the step's own image satisfied), so alerts and visibility do not apply.
- ``alerted``, ``alert_s``, ``alert_production_s``: whether a message was pushed to a
  human, and how many seconds after the first fault activation, on the real and on the
  production clock (``orchbench.signals``). No fault: False, None, None.
- ``visible``, ``visible_s``, ``visible_production_s``: the same for the first failure the
  system's own central view showed (a retried try included; a log file nobody is pointed
  to is passive and never counts).
- ``misreported_attempts``, ``misreported``: journaled attempts whose state in the
  system's own records contradicts the journal, and the evidence of each (both records
  side by side; ``orchbench.signals.misreported``).
- ``wasted_cpu_s``: CPU of attempts that failed, were killed, are tainted (which includes
  stale) or redundant; each attempt counted once.
- ``stale_executions``, ``tainted_executions``, ``redundant_executions``,
  ``bad_input_executions``: attempt counts (see ``AttemptInfo``).
- ``attempts_before_fix``: attempts, started before the operator's fix (``fix_applied``;
  all without a fix), of the step and date whose attempt was the first to fail at or
  after the first fault activation: 1 when the system did not retry an error a retry
  cannot fix. None without a fault or without a failed attempt.
- ``failed_attempts``: attempts that failed or were killed; ``killed_attempts``: the killed
  ones (start without end). A killed attempt's CPU is the one its last heartbeat recorded
  (the wrapper writes one about every second; 0 for one killed before its first beat):
  a lower bound, see ``cpu_of``.
- ``recovered``: ``final_state_correct`` and every step of every logical date (of the
  journal and the scenario) has a successful, untainted attempt (gated steps excepted
  where evaluate said not to deploy: ``Analysis.required_steps``).
- ``human_actions``: operator interventions, one per decision (``Journal.human_actions``:
  "after the fix, re-run these dates from these steps" is one, however many commands it
  takes); ``operator_commands``: the commands typed (``operator_action`` records).
- ``harness_help``: help the system got from us (``Journal.assists``: a timeout kill, a
  memory limit our adapter passed, a scheduler restart);
  ``harness_assists``: the same per kind (``orchbench.journal.ASSISTS``).
- ``rerun_cpu_s``, ``rerun_wall_s``: see ``rerun`` (measured: they move with machine
  load); ``rerun_wall_production_s``: the rerun's wall on the production clock;
  ``rerun_cost_ratio``: see ``rerun_cost_ratio`` (priced: it does not).
- ``stale_cache_hits``: results the system served from its cache (trace ``cached``
  records) after an input of theirs, or of a step upstream, changed content: e.g. the
  upstream re-delivered the landing file under the same path (``orchbench.cache_hits``).
- ``bad_model_deployed``: a tainted (or stale) ``register`` attempt registered a model, or a
  tainted ``canary`` attempt deployed one.
- ``final_state_correct``: the final champion and production model hashes equal the oracle's.
- ``lineage_by_fact``, ``lineage_completeness``: see ``lineage_by_fact``; completeness is
  the mean of the per-fact fractions over the fact kinds that have at least one fact
  (each kind weighs the same however many facts it has), None if there are no facts.
  Scored on the run's OpenLineage export read back (``exported``: every system through one
  reader; a record the export cannot place, one with no time, does not count):
  ``lineage_practiced`` is the same figure. ``lineage_native`` and
  ``lineage_native_by_fact`` score the export of the trace without the records and fields
  ``practiced`` marks (``orchbench.trace.native_only``): what the system records with
  no lineage code of ours.
- ``total_wall_s``: harness ``run_started`` to ``run_finished`` (fallback: first attempt
  start to last attempt end); ``total_cpu_s``: CPU of all attempts; ``steps_executed``:
  number of attempts.
- ``outside_steps_s_per_attempt``: (wall of the days phase, ``run_started`` to
  ``days_finished``, minus the summed wall of the attempts started in it) / number of
  those attempts; None if the phase is unknown or empty (``orchbench.overhead``, beside
  the other two definitions of overhead). For cron it includes the schedule's idle slack
  between crontab offsets; it can be negative when attempts overlap.
- ``memory_limit_enforced``: None when the pipeline the system runs declares no memory
  limit (the trace's ``declared`` resources); else whether every journaled attempt of a
  limited step ran under a cgroup memory limit no larger than the declared one (the
  attempt's ``memory_limit_bytes``, journaled inside containers). See ``memory_limits``.
- ``oom_kills``: journaled attempts whose container the system reports OOM-killed (trace
  ``container`` records with ``oom_killed``, matched on the attempt's ``container_id``).
- ``missed_dates``, ``backfilled_dates``, ``skipped_dates``, ``backfill_order``,
  ``backfill_in_order``, ``catchup_s``, ``catchup_production_s``, ``duplicate_dates``,
  ``late_completed``, ``late_extra_s``, ``late_extra_production_s``, ``in_flight``,
  ``in_flight_evidence``: what the system's scheduler did with missed dates, a late
  partition and the task in flight when it was killed (``orchbench.scheduling``).
- ``notes``: plain-language caveats about this run's numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchbench import lineage_events
from orchbench.cache_hits import stale_cache_hits
from orchbench.containers.limits import memory_bytes
from orchbench.journal import ArtifactRef, Attempt, Journal
from orchbench.overhead import outside_steps_s_per_attempt
from orchbench.records import ClassifiedAttempt
from orchbench.scheduling import backfill, in_flight, lateness
from orchbench.signals import misreported, production_s, signals
from orchbench.workflow.prices import price
from orchbench.workflow.spec import STEP_BY_NAME, STEP_NAMES, downstream_from, kind_of

if TYPE_CHECKING:
    from orchbench.oracle import OracleResult
    from orchbench.scenario import Scenario

FACTS = ("run_step", "inputs", "outputs", "model_training", "deployment_model", "code_version")
# Trace states of attempts that never ran the step (so never reached our wrapper).
NOT_RUN_STATES = frozenset({"upstream_failed", "skipped", "cached"})
# Steps behind the deploy gate: they need not run when evaluate said not to deploy.
GATED_STEPS = ("register", "canary")
# a system record's times rounded (start) or cut (end) to the second still enclose the
# attempt it records
START_SLACK_NS = 500_000_000
END_SLACK_NS = 1_000_000_000

Version = tuple[str, str | None]  # (uri, sha256)


@dataclass
class AttemptInfo:
    """One attempt and its classification.

    - ``producers[i]`` made ``inputs[i]``: the latest successful attempt that ended before
      this one started and whose outputs hold the same uri and sha256 (None: source data or
      a file from before the run). An output equal to one of the producer's own inputs
      (same uri and sha256, e.g. an unchanged champion pointer) was passed through, not
      produced.
    - ``stale``: it read a ``dated`` artifact (non-null sha256) produced for another date or
      not produced in this run. ``source`` and ``state`` inputs are never stale.
    - ``tainted``: stale; or a fault that made artifacts wrong activated during it; or an
      input version is one a fault made wrong; or an input's producer is tainted.
    - ``bad_input``: tainted through what it read (stale, a version a fault made wrong, a
      tainted producer's output), not only because a fault activated during it: a step
      that consumed a torn or wrong artifact.
    - ``redundant``: successful, and the same step, date and input hashes as an earlier
      successful untainted attempt.
    """

    attempt: Attempt
    producers: list[Attempt | None]
    stale: bool
    tainted: bool
    redundant: bool = False
    bad_input: bool = False

    @property
    def failed(self) -> bool:
        """Failed, or killed (a start without an end)."""
        return self.attempt.status != "success"

    @property
    def wasted(self) -> bool:
        """Counted in wasted_cpu_s (stale attempts are tainted too)."""
        return self.failed or self.tainted or self.redundant

    @property
    def good(self) -> bool:
        """A successful attempt whose result can be trusted."""
        return not (self.failed or self.tainted)


@dataclass
class Analysis:
    """Every attempt of a journal, classified."""

    infos: dict[str, AttemptInfo]  # by attempt_id, in start order

    def by_date_step(self) -> dict[tuple[str, str], list[AttemptInfo]]:
        out: dict[tuple[str, str], list[AttemptInfo]] = defaultdict(list)
        for i in self.infos.values():
            out[(i.attempt.logical_date, i.attempt.step)].append(i)
        return out

    def required_steps(self, date: str) -> tuple[str, ...]:
        """The steps a complete execution of ``date`` needs.

        All of them, except that ``register`` and ``canary`` may be left out natively
        (an Airflow short-circuit, a Prefect ``if``, KFP's ``dsl.If``) when the latest good
        ``evaluate`` attempt of the date said not to deploy: skipping them is the gate
        working, not a missing execution.
        """
        evals = [i for i in self.by_date_step().get((date, "evaluate"), []) if i.good]
        if evals and evals[-1].attempt.result.get("deploy") is False:
            return tuple(s for s in STEP_NAMES if s not in GATED_STEPS)
        return STEP_NAMES


def analyse(journal: Journal) -> Analysis:
    """Classify every attempt of the journal (see ``AttemptInfo``), in start order."""
    faulty = {(r["uri"], r["sha256"]) for f in journal.faults for r in f.get("affected") or []}
    fault_attempts = {f.get("attempt_id") for f in journal.faults if f.get("affected")}
    made: dict[Version, list[Attempt]] = defaultdict(list)
    for a in journal.attempts:
        if a.status == "success":
            read = {(i.uri, i.sha256) for i in a.inputs}
            for o in a.outputs:
                if o.sha256 is not None and (o.uri, o.sha256) not in read:
                    made[(o.uri, o.sha256)].append(a)

    infos: dict[str, AttemptInfo] = {}
    clean_runs: set[tuple[Any, ...]] = set()
    for a in journal.attempts:
        producers = [_producer(made, a, i) for i in a.inputs]
        stale = any(
            kind_of(i.name) == "dated"
            and i.sha256 is not None
            and (p is None or p.logical_date != a.logical_date)
            for i, p in zip(a.inputs, producers, strict=True)
        )
        bad_input = (
            stale
            or any((i.uri, i.sha256) in faulty for i in a.inputs)
            or any(p is not None and infos[p.attempt_id].tainted for p in producers)
        )
        tainted = bad_input or a.attempt_id in fault_attempts
        info = infos[a.attempt_id] = AttemptInfo(a, producers, stale, tainted)
        info.bad_input = bad_input
        if a.status == "success":
            key = (a.step, a.logical_date, tuple(sorted((i.name, i.sha256) for i in a.inputs)))
            info.redundant = key in clean_runs
            if not tainted:
                clean_runs.add(key)
    return Analysis(infos)


def classify_attempts(journal: Journal) -> list[ClassifiedAttempt]:
    """``analyse``'s classification of every journaled attempt, in start order, as run.json
    records it (``attempts``) so that readers never re-analyse."""
    return [
        ClassifiedAttempt(
            attempt_id=i.attempt.attempt_id,
            logical_date=i.attempt.logical_date,
            step=i.attempt.step,
            attempt=i.attempt.attempt,
            status=i.attempt.status,
            failed=i.failed,
            stale=i.stale,
            tainted=i.tainted,
            redundant=i.redundant,
            wasted=i.wasted,
        )
        for i in analyse(journal).infos.values()
    ]


def cpu_of(a: Attempt) -> float:
    """CPU seconds of an attempt: its end record's, else (killed) its last heartbeat's."""
    if a.cpu_s is not None:
        return a.cpu_s
    return a.heartbeat_cpu_s or 0.0


def _producer(made: dict[Version, list[Attempt]], a: Attempt, ref: ArtifactRef) -> Attempt | None:
    done = [p for p in made.get((ref.uri, ref.sha256), ()) if (p.end_ns or 0) < a.start_ns]
    return max(done, key=lambda p: p.end_ns or 0, default=None)


def attempts_before_fix(journal: Journal) -> int | None:
    """Attempts before the fix of the (date, step) that failed first after the first
    activation (see the module docstring)."""
    if not journal.faults:
        return None
    act = min(int(f["t_ns"]) for f in journal.faults)
    fix = journal.harness_time("fix_applied")
    before = [a for a in journal.attempts if fix is None or a.start_ns < fix]
    failed = [
        a for a in before if a.status in ("failed", "killed") and (a.end_ns or a.start_ns) >= act
    ]
    if not failed:
        return None
    first = min(failed, key=lambda a: a.start_ns)
    return sum(a.logical_date == first.logical_date and a.step == first.step for a in before)


def rerun_window(journal: Journal) -> list[Attempt]:
    """The attempts started from ``fix_applied`` to ``recovery_finished`` (to the journal's
    end if recovery never finished); none without a fix."""
    fix = journal.harness_time("fix_applied")
    if fix is None:
        return []
    end = journal.harness_time("recovery_finished")
    return [a for a in journal.attempts if a.start_ns >= fix and (end is None or a.start_ns <= end)]


def rerun(journal: Journal) -> tuple[float, float]:
    """(rerun_cpu_s, rerun_wall_s): the measured CPU of the attempts of ``rerun_window``,
    and the wall from the fix to ``recovery_finished`` (else to the last of those
    attempts' end), 0 when no attempt ran."""
    fix = journal.harness_time("fix_applied")
    ran = rerun_window(journal)
    if fix is None or not ran:
        return 0.0, 0.0
    end = journal.harness_time("recovery_finished")
    stop = end if end is not None else max(a.end_ns or a.start_ns for a in ran)
    return sum(cpu_of(a) for a in ran), (stop - fix) / 1e9


def journaled_plan(journal: Journal) -> dict[str, str]:
    """The minimal recovery plan journaled with ``recovery_started`` (date -> step)."""
    started = next((h for h in journal.harness if h.get("event") == "recovery_started"), {})
    plan = started.get("plan") or {}
    return dict(plan.get("restart_from", plan))  # the RecoveryPlan's dict, or the plan itself


def rerun_cost_ratio(journal: Journal, analysis: Analysis | None = None) -> float | None:
    """What the recovery re-executed, priced, over what it had to.

    Each attempt of ``rerun_window`` costs its step's price
    (``orchbench.workflow.prices``: fixed CPU seconds the oracle measured), the minimal
    set likewise: for each date of the journaled plan, its restart step and everything
    downstream that the date needs (``Analysis.required_steps``: register and canary
    are left out where the final evaluate closed the deploy gate, so a system that skips
    them natively is not scored below 1 for it). The ratio is the first sum over the
    second; it depends only on which (date, step) pairs ran, never on how loaded the
    machine was. 1.0 is minimal, below 1 a cache served part of it; None without a plan.
    """
    plan = journaled_plan(journal)
    an = analysis or analyse(journal)
    required = {date: an.required_steps(date) for date in plan}
    minimal = sum(
        price(s)
        for date, first in plan.items()
        for s in downstream_from(first)
        if s in required[date]
    )
    if minimal <= 0:
        return None
    return sum(price(a.step) for a in rerun_window(journal)) / minimal


def match_trace(
    attempts: Iterable[Attempt], trace: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """attempt_id -> the trace ``task_attempt`` that records it (passive ones included).

    Per (logical_date, step), ignoring records of attempts that never ran (upstream
    failed, skipped, cached): first a record whose times contain the attempt's (start no
    later, end no earlier, give or take ``START_SLACK_NS`` and ``END_SLACK_NS`` for a
    record kept to the second, and never starting after the attempt ended; the closest
    start if several), then a record whose ``attempt`` equals the
    journal's attempt number, then the remaining attempts and records paired in time
    order. Times first: a system's attempt that no journaled one matches (interrupted
    before the step's code began) shares the number of the attempt a later run made.
    """
    records: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in trace:
        if r.get("kind") == "task_attempt" and r.get("state") not in NOT_RUN_STATES:
            records[(r.get("logical_date"), r.get("step"))].append(r)
    groups: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for a in attempts:
        groups[(a.logical_date, a.step)].append(a)
    matched: dict[str, dict[str, Any]] = {}
    for key, group in groups.items():
        pool = sorted(
            records.get(key, []), key=lambda r: (r.get("start_ns") is None, r.get("start_ns") or 0)
        )
        timed = []
        for a in group:
            r = _containing(pool, a)
            if r is None:
                timed.append(a)
            else:
                matched[a.attempt_id] = r
                pool.remove(r)
        left = []
        for a in timed:
            r = next((r for r in pool if r.get("attempt") == a.attempt), None)
            if r is None:
                left.append(a)
            else:
                matched[a.attempt_id] = r
                pool.remove(r)
        matched.update({a.attempt_id: r for a, r in zip(left, pool, strict=False)})
    return matched


def _containing(pool: list[dict[str, Any]], a: Attempt) -> dict[str, Any] | None:
    """The record of ``pool`` whose start and end enclose the finished attempt's."""
    if a.end_ns is None:
        return None
    around = [
        r
        for r in pool
        if r.get("start_ns") is not None
        and r.get("end_ns") is not None
        and r["start_ns"] <= min(a.start_ns + START_SLACK_NS, a.end_ns)
        and r["end_ns"] + END_SLACK_NS >= a.end_ns
    ]
    return min(around, key=lambda r: abs(r["start_ns"] - a.start_ns), default=None)


def lineage_by_fact(analysis: Analysis, trace: list[dict[str, Any]]) -> dict[str, float | None]:
    """Per fact kind, the fraction of the journal's facts the trace alone can answer.

    A fact about an attempt is answered through its matched trace record (``match_trace``).
    An artifact is named by its sha256, or by its uri when that uri is content-unique (one
    distinct sha256 ever journaled there). Facts:

    - ``run_step``: each attempt has a matched record.
    - ``inputs``: each input with a sha256 is named among the record's inputs.
    - ``outputs``: each output (with a sha256) of a successful attempt is among the
      record's outputs by sha256.
    - ``model_training``: each successful train's model is tied to its training data: a
      ``model_lineage`` record names the model and one artifact of its true upstream chain
      (features, validated, raw, landing, followed through producers), or the matched
      records of train and its upstream attempts carry each link's input and output sha256
      back to the landing partition.
    - ``deployment_model``: each canary that deployed has a ``deployment`` record, or a
      matched record input/output, with the deployed model's sha256.
    - ``code_version``: each attempt's record has a code_version, and that native value
      never stands for two journal code versions in this run.

    None for a kind with no facts.
    """
    infos = list(analysis.infos.values())
    matched = match_trace((i.attempt for i in infos), trace)
    seen: dict[str, set[str]] = defaultdict(set)
    for i in infos:
        for ref in (*i.attempt.inputs, *i.attempt.outputs):
            if ref.sha256 is not None:
                seen[ref.uri].add(ref.sha256)
    unique = {uri for uri, shas in seen.items() if len(shas) == 1}

    def names(refs: Iterable[dict[str, Any]], ref: ArtifactRef, by_uri: bool = True) -> bool:
        return any(
            r.get("sha256") == ref.sha256
            or (by_uri and ref.uri in unique and _norm_uri(r.get("uri")) == ref.uri)
            for r in refs
        )

    def recorded(info: AttemptInfo, side: str) -> list[dict[str, Any]]:
        return (matched.get(info.attempt.attempt_id) or {}).get(side) or []

    versions: dict[str, set[str | None]] = defaultdict(set)
    for i in infos:
        native = (matched.get(i.attempt.attempt_id) or {}).get("code_version")
        if native is not None:
            versions[native].add(i.attempt.code_version)

    lineage = [r for r in trace if r.get("kind") == "model_lineage"]
    deployed = {r.get("model_sha256") for r in trace if r.get("kind") == "deployment"}
    facts: dict[str, list[bool]] = {k: [] for k in FACTS}
    for i in infos:
        a = i.attempt
        ins, outs = recorded(i, "inputs"), recorded(i, "outputs")
        facts["run_step"].append(a.attempt_id in matched)
        facts["inputs"] += [names(ins, r) for r in a.inputs if r.sha256 is not None]
        if a.code_version is not None:
            native = (matched.get(a.attempt_id) or {}).get("code_version")
            facts["code_version"].append(native is not None and len(versions[native]) == 1)
        if a.status != "success":
            continue
        facts["outputs"] += [names(outs, o, by_uri=False) for o in a.outputs if o.sha256]
        model = next((o for o in a.outputs if o.name == "model" and o.sha256), None)
        if a.step == "train" and model is not None:
            links, complete = _chain(analysis, i, model)
            by_records = complete and all(
                names(recorded(li, "inputs"), src, False)
                and names(recorded(li, "outputs"), dst, False)
                for li, src, dst in links
            )
            by_lineage_record = any(
                names([{"sha256": r.get("model_sha256"), "uri": r.get("model_uri")}], model)
                and any(names(_as_list(r.get("training")), src) for _, src, _ in links)
                for r in lineage
            )
            facts["model_training"].append(by_records or by_lineage_record)
        if a.step == "canary" and a.result.get("deployed") is True:
            sha = a.result.get("model_sha256")
            in_record = any(r.get("sha256") == sha for r in (*ins, *outs))
            facts["deployment_model"].append(sha is not None and (sha in deployed or in_record))
    return {k: (sum(v) / len(v) if v else None) for k, v in facts.items()}


def exported(
    trace: list[dict[str, Any]], journal: Journal, native: bool = False
) -> list[dict[str, Any]]:
    """The lineage records of ``trace`` as its OpenLineage export carries them
    (``lineage_events.export``, then ``read``), cut to the native view with ``native``.
    Records with no time go at the run's end (``run_finished``, else the last attempt's),
    as the export puts them.
    """
    ends = [a.end_ns for a in journal.attempts if a.end_ns is not None]
    end = journal.harness_time("run_finished") or max(ends, default=0)
    made = lineage_events.export(trace, "system", "run", end, native=native)
    return lineage_events.read(made.events)


def completeness(by_fact: dict[str, float | None]) -> float | None:
    """The mean of the per-fact fractions over the kinds with facts (None: no facts)."""
    known = [v for v in by_fact.values() if v is not None]
    return sum(known) / len(known) if known else None


def _chain(
    analysis: Analysis, info: AttemptInfo, out: ArtifactRef
) -> tuple[list[tuple[AttemptInfo, ArtifactRef, ArtifactRef]], bool]:
    """The (attempt, data input, output) links from a model back towards its landing
    partition, following producers; and whether the chain reaches ``ingest``."""
    links = []
    while True:
        want = STEP_BY_NAME[info.attempt.step].inputs[0]
        k = next((k for k, r in enumerate(info.attempt.inputs) if r.name == want), None)
        if k is None:
            return links, False
        src = info.attempt.inputs[k]
        links.append((info, src, out))
        producer = info.producers[k]
        if producer is None:
            return links, info.attempt.step == "ingest"
        info, out = analysis.infos[producer.attempt_id], src


def _as_list(v: Any) -> list[dict[str, Any]]:
    return v if isinstance(v, list) else [v] if isinstance(v, dict) else []


def _norm_uri(uri: Any) -> Any:
    return uri.removeprefix("file://") if isinstance(uri, str) else uri


def compute_metrics(
    journal: Journal,
    trace: list[dict[str, Any]],
    oracle: OracleResult,
    final: dict[str, str | None],
    scenario: Scenario | None = None,
) -> dict[str, Any]:
    """The ``metrics`` block of run.json (keys documented in the module docstring)."""
    an = analyse(journal)
    infos = list(an.infos.values())
    attempts = journal.attempts
    notes: list[str] = []
    killed = sum(a.status == "killed" for a in attempts)
    if killed:
        beats = sum(a.status == "killed" and a.heartbeat_cpu_s is not None for a in attempts)
        notes.append(
            f"{killed} killed attempt(s): CPU up to the last heartbeat ({beats} had one), "
            "else 0; wall unknown"
        )
    if not journal.faults:
        notes.append("no fault activated: alerts and visibility do not apply")

    told = signals(journal, trace)
    matched = match_trace(attempts, trace)
    wrong = misreported(attempts, matched)
    flight, flight_evidence = in_flight(journal, matched, trace)
    rerun_cpu, rerun_wall = rerun(journal)
    fix = journal.harness_time("fix_applied")
    rerun_prod = production_s(journal, fix, fix + int(rerun_wall * 1e9)) if fix else 0.0
    final_ok = (final.get("champion_sha256"), final.get("production_sha256")) == (
        oracle.champion_sha256,
        oracle.production_sha256,
    )
    dates = {a.logical_date for a in attempts}
    if scenario is not None:
        dates |= {d.isoformat() for d in scenario.logical_dates()}
    good = {(i.attempt.logical_date, i.attempt.step) for i in infos if i.good}
    by_fact = lineage_by_fact(an, exported(trace, journal))
    practiced = completeness(by_fact)
    native_by_fact = lineage_by_fact(an, exported(trace, journal, native=True))
    assists: dict[str, int] = defaultdict(int)
    for h in journal.assists:
        assists[str(h.get("assist"))] += 1

    return {
        "faults_activated": len(journal.faults),
        "alerted": told.alerted,
        "alert_s": told.alert_s,
        "alert_production_s": told.alert_production_s,
        "visible": told.visible,
        "visible_s": told.visible_s,
        "visible_production_s": told.visible_production_s,
        "misreported_attempts": len(wrong),
        "misreported": wrong,
        "wasted_cpu_s": sum(cpu_of(i.attempt) for i in infos if i.wasted),
        "stale_executions": sum(i.stale for i in infos),
        "tainted_executions": sum(i.tainted for i in infos),
        "redundant_executions": sum(i.redundant for i in infos),
        "bad_input_executions": sum(i.bad_input for i in infos),
        "attempts_before_fix": attempts_before_fix(journal),
        "failed_attempts": sum(i.failed for i in infos),
        "killed_attempts": killed,
        "recovered": final_ok and all((d, s) in good for d in dates for s in an.required_steps(d)),
        "human_actions": journal.human_actions,
        "operator_commands": len(journal.operator_actions),
        "harness_help": sum(assists.values()),
        "harness_assists": dict(sorted(assists.items())),
        "rerun_cpu_s": rerun_cpu,
        "rerun_wall_s": rerun_wall,
        "rerun_wall_production_s": rerun_prod,
        "rerun_cost_ratio": rerun_cost_ratio(journal, an),
        "stale_cache_hits": stale_cache_hits(journal, trace),
        "bad_model_deployed": any(
            i.tainted
            and (
                (i.attempt.step == "register" and i.attempt.result.get("registered") is True)
                or (i.attempt.step == "canary" and i.attempt.result.get("deployed") is True)
            )
            for i in infos
        ),
        "final_state_correct": final_ok,
        "lineage_completeness": practiced,
        "lineage_by_fact": by_fact,
        "lineage_practiced": practiced,
        "lineage_native": completeness(native_by_fact),
        "lineage_native_by_fact": native_by_fact,
        "total_wall_s": _total_wall(journal),
        "total_cpu_s": sum(cpu_of(a) for a in attempts),
        "steps_executed": len(attempts),
        "outside_steps_s_per_attempt": outside_steps_s_per_attempt(journal),
        "memory_limit_enforced": memory_limits(journal, trace),
        "oom_kills": oom_kills(journal, trace),
        **backfill(journal, an),
        **lateness(journal, an),
        "in_flight": flight,
        "in_flight_evidence": flight_evidence,
        "notes": notes,
    }


def declared_memory_limits(trace: list[dict[str, Any]]) -> dict[str, int]:
    """``{step: bytes}`` of the memory limits the trace's ``declared`` record names."""
    out: dict[str, int] = {}
    for r in trace:
        if r.get("kind") != "declared":
            continue
        for step, res in (r.get("resources") or {}).items():
            limit = memory_bytes((res or {}).get("memory_limit"))
            if limit:
                out[step] = limit
    return out


def memory_limits(journal: Journal, trace: list[dict[str, Any]]) -> bool | None:
    """Whether every attempt of a step with a declared memory limit ran under it."""
    declared = declared_memory_limits(trace)
    if not declared:
        return None
    ran = [a for a in journal.attempts if a.step in declared]
    return bool(ran) and all(
        isinstance(a.native.get("memory_limit_bytes"), int)
        and a.native["memory_limit_bytes"] <= declared[a.step]
        for a in ran
    )


def oom_kills(journal: Journal, trace: list[dict[str, Any]]) -> int:
    """Journaled attempts whose container the system's own records say was OOM-killed."""
    killed = {
        r.get("container_id") for r in trace if r.get("kind") == "container" and r.get("oom_killed")
    }
    return sum(1 for a in journal.attempts if a.native.get("container_id") in killed - {None})


def _total_wall(journal: Journal) -> float:
    start, end = journal.harness_time("run_started"), journal.harness_time("run_finished")
    if start is not None and end is not None:
        return (end - start) / 1e9
    times = [t for a in journal.attempts for t in (a.start_ns, a.end_ns) if t is not None]
    return (max(times) - min(times)) / 1e9 if times else 0.0
