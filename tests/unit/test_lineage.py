"""Lineage completeness: journal facts the native trace alone can answer."""

from __future__ import annotations

from typing import Any

import pytest

from orchbench import trace as tr
from orchbench.journal import Attempt
from orchbench.metrics import analyse, compute_metrics, lineage_by_fact, match_trace
from orchbench.oracle import OracleResult
from tests.unit.journal_builder import Builder

D1, D2 = "2026-01-01", "2026-01-02"


def refs(items: list[Any], uri: bool = True, sha: bool = True) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "uri": r.uri if uri else None, "sha256": r.sha256 if sha else None}
        for r in items
    ]


def record(a: Attempt, **over: Any) -> dict[str, Any]:
    """What a system that records everything would report for attempt ``a``."""
    fields: dict[str, Any] = {
        "logical_date": a.logical_date,
        "step": a.step,
        "state": "success" if a.status == "success" else "failed",
        "source": "test",
        "attempt": a.attempt,
        "start_ns": a.start_ns,
        "end_ns": a.end_ns,
        "inputs": refs(a.inputs),
        "outputs": refs(a.outputs),
        "code_version": f"native-{a.code_version}",
    }
    return tr.task_attempt(**{**fields, **over})


def facts(b: Builder, trace: list[dict[str, Any]]) -> dict[str, float | None]:
    return lineage_by_fact(analyse(b.journal()), trace)


def full_trace(b: Builder, **over: Any) -> list[dict[str, Any]]:
    return [record(a, **over) for a in b.journal().attempts]


def deployments(b: Builder) -> list[dict[str, Any]]:
    """``deployment`` records for every canary that deployed."""
    return [
        tr.record("deployment", t_ns=a.end_ns, slot="prod", model_sha256=a.result["model_sha256"])
        for a in b.journal().attempts
        if a.result.get("deployed")
    ]


def test_a_system_that_records_everything_recovers_every_fact() -> None:
    b = Builder()
    b.day(D1)
    b.day(D2)
    assert facts(b, full_trace(b) + deployments(b)) == dict.fromkeys(
        ("run_step", "inputs", "outputs", "model_training", "deployment_model", "code_version"),
        1.0,
    )


def test_empty_trace_recovers_nothing() -> None:
    b = Builder()
    b.day(D1)
    by_fact = facts(b, [])
    assert set(by_fact.values()) == {0.0}
    m = compute_metrics(b.journal(), [], OracleResult(None, None), {})
    assert m["lineage_completeness"] == 0.0


def test_fact_kinds_without_facts_are_none_and_left_out_of_the_mean() -> None:
    b = Builder()
    b.step("ingest", D1, status="failed")
    trace = full_trace(b, code_version=None)
    by_fact = facts(b, trace)
    assert by_fact == {
        "run_step": 1.0,
        "inputs": 1.0,
        "outputs": None,
        "model_training": None,
        "deployment_model": None,
        "code_version": 0.0,
    }
    m = compute_metrics(b.journal(), trace, OracleResult(None, None), {})
    assert m["lineage_completeness"] == pytest.approx(2 / 3)


# --- matching trace records to attempts ---------------------------------------------------


def test_records_match_by_attempt_number_before_order() -> None:
    b = Builder()
    b.step("ingest", D1, status="failed")
    b.step("ingest", D1)
    second = b.journal().attempts[1]
    by_fact = facts(b, [record(second)])  # the system lost the first try
    assert by_fact["run_step"] == 0.5 and by_fact["outputs"] == 1.0


def test_records_without_numbers_match_in_time_order_skipping_steps_that_never_ran() -> None:
    b = Builder()
    b.step("ingest", D1)
    a = b.journal().attempts[0]
    never_ran = record(a, attempt=None, state="upstream_failed", outputs=[], start_ns=0)
    ran = record(a, attempt=None)
    assert match_trace([a], [never_ran, ran])[a.attempt_id] is ran


def test_leftover_attempts_pair_with_renumbered_records_in_time_order() -> None:
    b = Builder()
    for _ in range(3):
        b.step("train", D1, status="failed")
    a1, a2, a3 = b.journal().attempts
    rerun = record(a3, attempt=1)  # a new flow run restarts the system's numbering
    matched = match_trace([a1, a2, a3], [rerun, record(a2), record(a1)])
    assert [matched[a.attempt_id]["start_ns"] for a in (a1, a2, a3)] == [
        a1.start_ns,
        a2.start_ns,
        a3.start_ns,
    ]


def test_a_record_enclosing_the_attempt_matches_before_one_of_its_number() -> None:
    """A system's attempt no journaled one made (interrupted before the step's code began)
    does not take the journal's attempt 1 from the later run's record that encloses it."""
    b = Builder()
    b.step("train", D1)
    (a,) = b.journal().attempts
    cut = record(
        a, state="failed", start_ns=a.start_ns - 30 * 10**9, end_ns=a.start_ns - 29 * 10**9
    )
    later = record(a, start_ns=a.start_ns - 10**8, end_ns=a.end_ns + 10**8)
    assert match_trace([a], [cut, later])[a.attempt_id] is later
    m = compute_metrics(b.journal(), [cut, later], OracleResult(None, None), {})
    assert m["misreported_attempts"] == 0


def test_a_retry_record_never_takes_the_attempt_before_it() -> None:
    """A short failed attempt whose own record the system lost: the retry's record (also
    number 1 here, started after it ended) is not matched to it by times."""
    b = Builder()
    b.step("train", D1, status="failed", wall=0.05)
    b.step("train", D1)
    a1, a2 = b.journal().attempts
    retry = record(a2, attempt=2)
    assert match_trace([a1, a2], [retry]) == {a2.attempt_id: retry}


def test_passive_records_count_for_lineage() -> None:
    b = Builder()
    b.step("ingest", D1)
    assert facts(b, full_trace(b, passive=True))["run_step"] == 1.0


# --- inputs and outputs -------------------------------------------------------------------


def test_uri_only_inputs_count_for_per_date_uris_but_not_reused_ones() -> None:
    dated, current = Builder(), Builder(layout="current")
    for b in (dated, current):
        b.day(D1, upto="featurize")
        b.day(D2, upto="featurize")
    assert facts(dated, full_trace(dated, inputs=None))["inputs"] == 0.0
    uri_only = [record(a, inputs=refs(a.inputs, sha=False)) for a in dated.journal().attempts]
    assert facts(dated, uri_only)["inputs"] == 1.0
    uri_only = [record(a, inputs=refs(a.inputs, sha=False)) for a in current.journal().attempts]
    # landing and reference uris stay content-unique; current/raw, current/validated do not
    assert facts(current, uri_only)["inputs"] == 0.5


def test_a_uri_rewritten_with_other_content_is_not_content_unique() -> None:
    b = Builder()
    b.step("ingest", D1, tamper={"landing": "broken"})
    b.files["landing/2026-01-01.csv"] = "landing-2026-01-01"
    b.step("ingest", D1)
    b.step("validate", D1)  # its raw uri held two different contents in this run
    v = b.journal().attempts[-1]
    trace = [record(v, inputs=refs(v.inputs, sha=False))]
    assert facts(b, trace)["inputs"] == pytest.approx(1 / 4)  # reference only


def test_file_scheme_uris_match_plain_paths() -> None:
    b = Builder()
    b.step("ingest", D1)
    a = b.journal().attempts[0]
    landing = {"name": "x", "uri": f"file://{a.inputs[0].uri}", "sha256": None}
    assert facts(b, [record(a, inputs=[landing])])["inputs"] == 1.0


def test_outputs_are_recovered_only_by_hash() -> None:
    b = Builder()
    b.day(D1, upto="featurize")
    trace = [record(a, outputs=refs(a.outputs, sha=False)) for a in b.journal().attempts]
    assert facts(b, trace)["outputs"] == 0.0


# --- model training, deployment, code version ---------------------------------------------


def model_lineage(model_sha256: str | None, training: Any) -> dict[str, Any]:
    return tr.record("model_lineage", model_sha256=model_sha256, training=training)


def train_of(b: Builder, date: str) -> Attempt:
    """The date's latest train attempt."""
    return [a for a in b.journal().attempts if (a.step, a.logical_date) == ("train", date)][-1]


def test_model_lineage_record_naming_model_and_training_data() -> None:
    b = Builder()
    b.day(D1, upto="train")
    train = train_of(b, D1)
    model, features = train.outputs[0].sha256, train.inputs[0].sha256
    good = model_lineage(model, {"uri": None, "sha256": features})
    via_landing_uri = model_lineage(model, [{"uri": "landing/2026-01-01.csv"}])
    wrong_data = model_lineage(model, {"uri": None, "sha256": "other"})
    assert facts(b, [good])["model_training"] == 1.0
    assert facts(b, [via_landing_uri])["model_training"] == 1.0
    assert facts(b, [wrong_data])["model_training"] == 0.0


def test_model_named_by_a_reused_uri_is_not_recovered() -> None:
    b = Builder(layout="current")
    b.day(D1, upto="train")
    b.day(D2, upto="train")
    training = {"uri": "landing/2026-01-02.csv"}
    by_uri = tr.record("model_lineage", model_uri="current/model", training=training)
    assert facts(b, [by_uri])["model_training"] == 0.0
    by_sha = model_lineage(train_of(b, D2).outputs[0].sha256, training)
    assert facts(b, [by_sha])["model_training"] == 0.5  # names day 2's model, not day 1's


def test_stale_model_lineage_is_its_true_upstream_chain() -> None:
    b = Builder(layout="current")
    b.day(D1, upto="train")
    b.day(D2, upto="validate")
    b.step("featurize", D2, status="failed")
    b.step("train", D2)  # trained on day 1's features
    model = train_of(b, D2).outputs[0].sha256  # the same bytes as day 1's model
    claims_today = model_lineage(model, {"uri": "landing/2026-01-02.csv"})
    says_yesterday = model_lineage(model, {"uri": "landing/2026-01-01.csv"})
    assert facts(b, [claims_today])["model_training"] == 0.0
    assert facts(b, [says_yesterday])["model_training"] == 1.0


def test_model_training_from_hashes_along_the_recorded_chain() -> None:
    b = Builder()
    b.day(D1, upto="train")
    trace = full_trace(b)
    assert facts(b, trace)["model_training"] == 1.0
    validate = next(r for r in trace if r["step"] == "validate")
    validate["outputs"] = refs(b.journal().attempts[1].outputs, sha=False)
    assert facts(b, trace)["model_training"] == 0.0  # the chain is broken at validate


def test_model_trained_on_data_from_before_the_run_cannot_reach_its_landing() -> None:
    b = Builder()
    b.files["art/2026-01-01/features"] = "left-over-features"
    b.step("train", D1)
    assert facts(b, full_trace(b))["model_training"] == 0.0


def test_deployment_model_from_a_deployment_record_or_the_canary_record() -> None:
    b = Builder()
    b.day(D1)
    canary = b.journal().attempts[-1]
    assert facts(b, deployments(b))["deployment_model"] == 1.0
    model = {"name": "model", "uri": None, "sha256": canary.result["model_sha256"]}
    assert facts(b, [record(canary, inputs=[model])])["deployment_model"] == 1.0
    assert facts(b, full_trace(b))["deployment_model"] == 0.0


def test_no_deployment_means_no_deployment_facts() -> None:
    b = Builder()
    b.day(D1, deploy=False)
    assert facts(b, full_trace(b))["deployment_model"] is None


def test_code_version_needs_a_consistent_native_mapping() -> None:
    b = Builder()
    b.day(D1, upto="validate")
    assert facts(b, full_trace(b))["code_version"] == 1.0
    one_dag_version = full_trace(b, code_version="dag-v1")  # both steps map to it
    assert facts(b, one_dag_version)["code_version"] == 0.0
    b.step("ingest", D1, code_version="cv-ingest-2")
    assert facts(b, full_trace(b))["code_version"] == 1.0
    same_native = full_trace(b)
    same_native[-1]["code_version"] = same_native[0]["code_version"]  # v1 and v2 look alike
    assert facts(b, same_native)["code_version"] == pytest.approx(1 / 3)


def test_native_lineage_leaves_out_what_practiced_marks() -> None:
    """A system that recorded hashes only because our flow code put them in its metadata
    (``practiced``) gets them in lineage_practiced, not in lineage_native; what it recorded
    by itself (the run, the task, its code version) counts in both."""
    b = Builder()
    b.day(D1)
    trace = full_trace(b, practiced=["inputs", "outputs"]) + [
        {**d, "practiced": True} for d in deployments(b)
    ]
    m = compute_metrics(b.journal(), trace, OracleResult("c", "p"), {})
    native = m["lineage_native_by_fact"]
    assert m["lineage_practiced"] == m["lineage_completeness"] == 1.0
    assert native["run_step"] == native["code_version"] == 1.0
    assert native["inputs"] == native["outputs"] == native["model_training"] == 0.0
    assert native["deployment_model"] == 0.0
    assert m["lineage_native"] == pytest.approx(2 / 6)
    # the trace itself is left as it was
    assert all(r.get("inputs") for r in trace if r["kind"] == "task_attempt")


def test_the_run_figures_are_scored_on_the_lineage_export_read_back() -> None:
    """compute_metrics scores the run's OpenLineage events, not the trace: a system that
    recorded every attempt but gave none a time (nothing an event can carry) recovers the
    same facts from the trace and none from its export."""
    b = Builder()
    b.day(D1)
    timed = full_trace(b)
    untimed = full_trace(b, start_ns=None, end_ns=None)
    assert facts(b, untimed) == facts(b, timed)  # the trace alone would not tell them apart
    m = compute_metrics(b.journal(), timed, OracleResult("c", "p"), {})
    assert m["lineage_by_fact"] == facts(b, timed)
    m = compute_metrics(b.journal(), untimed, OracleResult("c", "p"), {})
    assert m["lineage_by_fact"]["run_step"] == 0.0
