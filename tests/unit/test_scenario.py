"""Scenario files: shipped ones load, bad ones give one error per problem naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fault_injection.scenario_faults import json_schema, load_checked, parse_checked
from orchbench.scenario import ScenarioError, load_scenario, parse_scenario
from tests.conftest import REPO

HEAD = "schema: orchbench.scenario/1\nname: x\nclaim: a claim long enough\n"


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    s = load_checked(path)
    assert s.name == path.stem
    assert len(s.logical_dates()) == s.days


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("dayz: 3\n", "dayz: unknown key"),
        ("days: 0\n", "days:"),
        ("data: {rows_per_day: 10}\n", "data.rows_per_day"),
        ("data: {seed: 1, color: red}\n", "data.color: unknown key; allowed: rows_per_day, seed"),
        ("faults: [{kind: nope, day: 1, at: ingest}]\n", "faults.0.kind: unknown kind 'nope'"),
        ("faults: [{kind: transient_error, day: 9, at: train}]\n", "faults.0.day"),
        ("faults: [{kind: transient_error, day: 1, at: deploy}]\n", "faults.0.at"),
        ("faults: [{kind: schema_break, day: 1, at: ingest}]\n", "faults.0.params"),
        (
            "faults: [{kind: schema_break, day: 1, at: canary, params: {drop: [x]}}]\n",
            "faults.0.at: schema_break cannot enter at 'canary'",
        ),
        (
            "faults: [{kind: transient_error, day: 1, at: train, params: {failures: 0}}]\n",
            "faults.0.params.failures",
        ),
        ("recovery: {action: magic}\n", "recovery.action"),
        ("policy: {retries: -1}\n", "policy.retries"),
    ],
)
def test_bad_scenarios_name_the_field(body: str, field: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse_checked(HEAD + body, "bad.yaml")
    msg = str(e.value)
    assert msg.startswith("bad.yaml: ")
    assert field in msg
    assert "\n" not in msg


@pytest.mark.parametrize("where", ["model", "faults"])
def test_every_problem_gets_its_own_error(where: str) -> None:
    """Three problems, three lines (the model's checks, then the faults' checks, which
    need a scenario the model accepted)."""
    body = {
        "model": "days: 0\ndata: {color: red}\npolicy: {retries: -1}\n",
        "faults": "faults: [{kind: nope, day: 1, at: ingest},"
        " {kind: schema_break, day: 1, at: canary, params: {drop: [x]}},"
        " {kind: transient_error, day: 1, at: train, params: {failures: 0}}]\n",
    }[where]
    with pytest.raises(ScenarioError) as e:
        parse_checked(HEAD + body, "bad.yaml")
    assert len(e.value.problems) == 3, e.value.problems
    assert str(e.value).splitlines() == list(e.value.problems)
    assert all(p.startswith("bad.yaml: ") for p in e.value.problems)
    fields = {
        "model": ["days", "data.color", "policy.retries"],
        "faults": ["faults.0", "faults.1", "faults.2"],
    }
    for problem, field in zip(e.value.problems, fields[where], strict=True):
        assert f"bad.yaml: {field}" in problem


def test_wrong_schema_and_bad_yaml() -> None:
    with pytest.raises(ScenarioError, match="schema: expected"):
        parse_scenario("schema: other\n", "s.yaml")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_scenario("a: [1,\n", "s.yaml")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("/nonexistent/x.yaml")


def test_exported_json_schema_is_current() -> None:
    on_disk = json.loads((REPO / "scenarios" / "schema.json").read_text())
    assert on_disk == json.loads(json.dumps(json_schema(), sort_keys=True)), (
        "scenarios/schema.json is stale: run `make schema`"
    )


def test_scenario_never_states_outcomes() -> None:
    for p in (REPO / "scenarios").glob("*.yaml"):
        text = p.read_text()
        for word in ("expected", "detected", "alerted", "stale_executions", "final_state"):
            assert word not in text, f"{p.name} states an outcome ({word})"
