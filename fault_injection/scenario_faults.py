"""A scenario's faults checked against the catalog, and the JSON Schema that spells it out.

The scenario model (``orchbench.scenario``) keeps each fault's ``kind``, ``at`` and
``params`` as data and knows no fault code; what a kind accepts is checked here. Whatever
loads a scenario to run it (``orchbench check``, ``run``, ``bench``, ``list``) loads it with
``load_checked`` (text: ``parse_checked``), which gives the same ``ScenarioError``, one
``FILE: faults.N.FIELD: problem`` line per problem, as the model's own checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fault_injection import catalog
from orchbench import scenario as sc


def fault_problems(scenario: sc.Scenario) -> list[str]:
    """Every problem with the scenario's faults that only their kinds can see, one per
    line, as ``faults.N.FIELD: what is wrong`` (a fault's later checks need its earlier
    ones to pass, so each fault gives at most its first)."""
    return [p for i, f in enumerate(scenario.faults) if (p := _fault_problem(scenario, i, f))]


def _fault_problem(scenario: sc.Scenario, i: int, f: sc.FaultSpec) -> str | None:
    kind = catalog.get(f.kind)
    if kind is None:
        allowed = ", ".join(sorted(catalog.KINDS))
        return f"faults.{i}.kind: unknown kind {f.kind!r}; allowed: {allowed}"
    try:
        params = kind.Params.model_validate(f.params)
    except ValidationError as e:
        return "; ".join(
            f"faults.{i}.params{''.join(f'.{p}' for p in err['loc'])}: "
            + err["msg"].removeprefix("Value error, ")
            for err in e.errors()
        )
    if kind.allowed_at and f.at not in kind.allowed_at:
        return (
            f"faults.{i}.at: {f.kind} cannot enter at {f.at!r}; "
            f"allowed: {', '.join(kind.allowed_at)}"
        )
    problem = kind.check(f.at, f.day, scenario.days, params)
    return f"faults.{i}.params: {problem}" if problem else None


def checked(scenario: sc.Scenario, path: Path | str) -> sc.Scenario:
    """``scenario`` if its faults are fine, else ``ScenarioError`` naming ``path``, one line
    per problem."""
    if problems := fault_problems(scenario):
        raise sc.ScenarioError(*(f"{path}: {p}" for p in problems))
    return scenario


def parse_checked(text: str, path: Path | str = "<string>") -> sc.Scenario:
    """``orchbench.scenario.parse_scenario``, then the faults checked against the catalog."""
    return checked(sc.parse_scenario(text, path), path)


def load_checked(path: Path | str) -> sc.Scenario:
    """``orchbench.scenario.load_scenario``, then the faults checked against the catalog."""
    return checked(sc.load_scenario(path), path)


def json_schema() -> dict[str, Any]:
    """The scenario model's JSON Schema, with each fault kind's ``at`` and ``params``
    spelled out (``if kind == K then ...``), so a scenario can be written from it alone."""
    schema = sc.Scenario.model_json_schema(by_alias=True)
    schema["$id"] = "https://orchbench.invalid/scenario-1.json"
    schema["title"] = sc.SCHEMA_ID
    defs = schema.setdefault("$defs", {})
    fault = defs["FaultSpec"]
    fault["properties"]["kind"]["enum"] = list(catalog.KINDS)
    rules = []
    for name, kind in catalog.KINDS.items():
        params = kind.Params.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(params.pop("$defs", {}))
        title = f"{kind.Params.__name__}"
        params["description"] = f"{name}: {kind.enters}; fixed by {kind.fixed_by}"
        defs[title] = params
        then: dict[str, Any] = {"properties": {"params": {"$ref": f"#/$defs/{title}"}}}
        if kind.allowed_at:
            then["properties"]["at"] = {"enum": list(kind.allowed_at)}
        rules.append({"if": {"properties": {"kind": {"const": name}}}, "then": then})
    fault["allOf"] = rules
    return schema


def write_json_schema(path: Path) -> None:
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
