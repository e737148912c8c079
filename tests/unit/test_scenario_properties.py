"""Property tests (hypothesis): generated valid scenario files load; generated invalid ones
(one defect each) give exactly one clear error line naming the file and the field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fault_injection import catalog
from fault_injection.kinds.partial_write import dated_outputs
from fault_injection.scenario_faults import parse_checked
from fault_injection.tables import columns_at
from orchbench.claims import CLAIMS
from orchbench.scenario import ScenarioError
from orchbench.workflow.spec import STEP_NAMES

PATH = "user/scenario.yaml"
# derandomize: the same examples on every run, so CI never meets a new one first
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
NUMERIC_RAW = ("amount", "n_items", "account_age_days", "hour", "discount")


def _at(kind: str) -> st.SearchStrategy[str]:
    return st.sampled_from(catalog.KINDS[kind].allowed_at or STEP_NAMES)


@st.composite
def fault(draw: st.DrawFn, days: int) -> dict[str, Any]:
    """One valid fault for a scenario of ``days`` days."""
    kinds = sorted(catalog.KINDS)
    if days == 1:  # a missed day needs a day after the outage
        kinds.remove("missed_days")
    kind = draw(st.sampled_from(kinds))
    day = draw(st.integers(1, days - 1 if kind == "missed_days" else days))
    at = draw(_at(kind))
    opt = st.none() | st.integers(1, 20)
    params: dict[str, Any]
    if kind == "schema_break":
        params = draw(
            st.sampled_from(
                [
                    {"rename": {"amount": "amount_usd"}},
                    {"retype": {"amount": "str"}},
                    {"drop": ["discount"]},
                    {"rename": {"hour": "hr"}, "drop": ["n_items"]},
                ]
            )
        )
    elif kind == "transient_error":
        params = {"failures": draw(st.integers(1, 20))}
    elif kind == "hang":
        params = {"mode": draw(st.sampled_from(["sleep", "block"])), "attempts": draw(opt)}
    elif kind == "crash":
        params = {"attempts": draw(opt), "memory_mb": draw(st.integers(0, 1024))}
    elif kind == "late_data":
        params = {"delay_s": draw(st.floats(0, 600))}
    elif kind == "silent_corruption":
        numeric = [c for c in columns_at(at) if c in NUMERIC_RAW or c not in ("label",)]
        numeric = [c for c in numeric if c not in ("country", "event_id")]
        params = draw(
            st.sampled_from(["flip", "shift", "both"]).map(
                lambda m: {
                    **({"flip_labels": 0.25} if m != "shift" else {}),
                    **({"shift": {"column": numeric[0], "by": 1.5}} if m != "flip" else {}),
                }
            )
        )
    elif kind == "accuracy_regression":
        params = {
            "method": draw(st.sampled_from(["perturb", "invert"])),
            "scale": draw(st.floats(0.01, 10)),
            "seed": draw(st.integers(0, 99)),
        }
    elif kind == "partial_write":
        params = {
            "artifact": draw(st.none() | st.sampled_from(dated_outputs(at))),
            "keep_fraction": draw(st.floats(0.01, 0.99)),
        }
    elif kind == "missed_days":
        # le=30; the scheduler is back for at least the last day
        params = {"days": draw(st.integers(1, min(30, days - day)))}
    elif kind == "scheduler_crash":
        params = {"restart_after_s": draw(st.floats(0, 120))}
    else:  # a kind added to the catalog without a strategy here: no params
        params = {}
    return {"kind": kind, "day": day, "at": at, "params": params}


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    days = draw(st.integers(1, 60))
    doc: dict[str, Any] = {
        "schema": "orchbench.scenario/1",
        "name": draw(st.from_regex(r"\A[a-z0-9][a-z0-9_\-]{0,20}\Z")),
        "claim": draw(
            st.text(
                st.characters(codec="ascii", categories=["L", "Zs"]), min_size=10, max_size=80
            ).filter(lambda s: len(s.strip()) >= 10)
        ),
        "days": days,
    }
    if draw(st.booleans()):
        doc["capabilities"] = draw(st.lists(st.sampled_from(sorted(CLAIMS)), unique=True))
    if draw(st.booleans()):
        doc["start_date"] = draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1))).isoformat()
    if draw(st.booleans()):
        doc["data"] = {
            "rows_per_day": draw(st.integers(500, 2_000_000)),
            "seed": draw(st.integers(0, 2**31)),
        }
    if draw(st.booleans()):
        doc["gate"] = {"min_accuracy": draw(st.floats(0.01, 0.99))}
    if draw(st.booleans()):
        doc["policy"] = {
            "retries": draw(st.integers(0, 10)),
            "retry_delay_s": draw(st.floats(0, 600)),
            "timeout_s": draw(st.floats(0.1, 3600)),
        }
    doc["faults"] = draw(st.lists(fault(days), max_size=4))
    if draw(st.booleans()):
        doc["recovery"] = {"operator_delay_s": draw(st.floats(0, 3600)), "action": "native"}
    return doc


@SETTINGS
@given(scenario())
def test_valid_scenarios_load_and_round_trip(doc: dict[str, Any]) -> None:
    sc = parse_checked(yaml.safe_dump(doc, sort_keys=False), PATH)
    assert sc.days == doc["days"] and len(sc.faults) == len(doc["faults"])
    again = parse_checked(sc.to_yaml(), PATH)
    assert again == sc


def _defects(doc: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(description, mutator, field the error must name) for one-defect variants."""
    out: list[tuple[str, Any, str]] = [
        ("unknown top key", lambda d: d.update(colour="red"), "colour"),
        ("days zero", lambda d: d.update(days=0), "days"),
        ("days not a number", lambda d: d.update(days="many"), "days"),
        ("bad name", lambda d: d.update(name="Bad Name!"), "name"),
        ("short claim", lambda d: d.update(claim="short"), "claim"),
        ("bad capability", lambda d: d.update(capabilities=["teleport"]), "capabilities.0"),
        ("rows too small", lambda d: d.update(data={"rows_per_day": 1}), "data.rows_per_day"),
        ("policy typo", lambda d: d.update(policy={"retrys": 1}), "policy.retrys"),
        ("bad action", lambda d: d.update(recovery={"action": "magic"}), "recovery.action"),
    ]
    if doc["faults"]:
        n = len(doc["faults"]) - 1

        def last(**kw: Any) -> Any:
            return lambda d: d["faults"][-1].update(**kw)

        def param(**kw: Any) -> Any:
            return lambda d: d["faults"][-1]["params"].update(**kw)

        out += [
            ("unknown kind", last(kind="meteor"), f"faults.{n}.kind"),
            ("day after the end", last(day=doc["days"] + 1), f"faults.{n}.day"),
            ("unknown step", last(at="deploy"), f"faults.{n}.at"),
            ("unknown param", param(bogus=1), f"faults.{n}.params"),
            ("unknown fault key", last(when="noon"), f"faults.{n}.when"),
        ]
        kind = doc["faults"][-1]["kind"]
        allowed = catalog.KINDS[kind].allowed_at
        wrong = [s for s in STEP_NAMES if allowed and s not in allowed]
        if wrong:
            out.append(("step not allowed for the kind", last(at=wrong[0]), f"faults.{n}.at"))
    return out


@SETTINGS
@given(scenario(), st.data())
def test_one_defect_gives_one_clear_error(doc: dict[str, Any], data: st.DataObject) -> None:
    what, mutate, field = data.draw(st.sampled_from(_defects(doc)), label="defect")
    mutate(doc)
    try:
        parse_checked(yaml.safe_dump(doc, sort_keys=False), PATH)
    except ScenarioError as e:
        msg = str(e)
        assert len(e.problems) == 1, (what, e.problems)
    else:
        raise AssertionError(f"{what}: accepted")
    assert "\n" not in msg, (what, msg)
    assert msg.startswith(f"{PATH}: "), (what, msg)
    assert field in msg, (what, field, msg)


@SETTINGS
@given(st.text(max_size=200) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    try:
        parse_checked(text, PATH)
    except ScenarioError as e:
        assert e.problems and all(p.startswith(PATH) and "\n" not in p for p in e.problems)


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "scenarios" / "schema.json"


@SETTINGS
@given(scenario())
def test_the_exported_json_schema_accepts_what_the_loader_accepts(doc: dict[str, Any]) -> None:
    """A user writing from scenarios/schema.json alone gets the same kinds, steps, params."""
    jsonschema.validate(yaml.safe_load(yaml.safe_dump(doc)), json.loads(SCHEMA_FILE.read_text()))


@SETTINGS
@given(scenario().filter(lambda d: bool(d["faults"])))
def test_the_exported_json_schema_rejects_unknown_params(doc: dict[str, Any]) -> None:
    doc["faults"][-1]["params"]["bogus"] = 1
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert not validator.is_valid(doc)
