"""Scenario files (``schema: orchbench.scenario/1``): typed model, loading and checking.

A scenario says what to run and what to break, never what should happen: outcomes are
computed from what ran. A fault's ``kind``, ``at`` and ``params`` are data here; the fault
catalog checks them (``fault_injection.scenario_faults.load_checked``, which is what the
CLI and the harness load scenarios with).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchbench.claims import ClaimId
from orchbench.policy import Policy
from orchbench.workflow.spec import STEP_NAMES

SCHEMA_ID = "orchbench.scenario/1"
StepName = Literal["ingest", "validate", "featurize", "train", "evaluate", "register", "canary"]
assert set(StepName.__args__) == set(STEP_NAMES)  # type: ignore[attr-defined]


class ScenarioError(ValueError):
    """A scenario file that cannot be used: one line per problem (``problems``), each naming
    the file, the field and what is allowed."""

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rows_per_day: int = Field(20000, ge=500, le=2_000_000, description="rows per daily partition")
    seed: int = Field(7, ge=0, description="seed of the synthetic data generator")


class GateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_accuracy: float | None = Field(
        None, gt=0, lt=1, description="absolute floor: register only if accuracy is above it"
    )


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(description="a fault kind from the catalog (`orchbench list faults`)")
    day: int = Field(ge=1, description="1-based index of the logical date it hits")
    at: StepName = Field(description="the step where it enters")
    params: dict[str, Any] = Field(default_factory=dict, description="kind-specific parameters")


class CodeChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: int = Field(ge=2, description="1-based index of the first logical date run with it")
    step: Literal["train"] = Field(
        description="the step whose module in the team's code repository changes"
    )
    revision: int = Field(
        ge=2, description="the revision committed (orchbench.workflow.repo.REVISIONS)"
    )


class RecoverySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operator_delay_s: float = Field(0, ge=0, le=3600, description="detection/end to the fix")
    action: Literal["native", "rerun_date"] = Field(
        "native",
        description="native: each system's own re-run mechanism, from the broken step; "
        "rerun_date: the operator re-runs each broken date whole and trusts the system's "
        "cache to know what changed (caching left as configured, nothing refreshed)",
    )


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["orchbench.scenario/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")
    claim: str = Field(min_length=10, description="the seed article's claim this tests")
    capabilities: list[ClaimId] = Field(
        default_factory=list,
        description="capability ids this scenario exercises (orchbench.claims); the report's "
        "capability table is computed from the runs of the scenarios tagged with each",
    )
    days: int = Field(3, ge=1, le=60, description="logical dates run, one per simulated day")
    start_date: dt.date = Field(dt.date(2026, 1, 1), description="first logical date")
    data: DataSpec = Field(default_factory=DataSpec)
    gate: GateSpec = Field(default_factory=GateSpec)
    policy: Policy = Field(default_factory=Policy)
    faults: list[FaultSpec] = Field(default_factory=list)
    code_changes: list[CodeChange] = Field(
        default_factory=list,
        description="deploys of new step code: before the day fires, the revision is "
        "committed to the world's code repository and each runner deploys it its own way; "
        "not a fault (nothing is fixed after it), the oracle runs the same change",
    )
    recovery: RecoverySpec = Field(default_factory=RecoverySpec)

    @model_validator(mode="after")
    def _check_fault_days(self) -> Scenario:
        for i, f in enumerate(self.faults):
            if f.day > self.days:
                raise ValueError(f"faults.{i}.day: {f.day} is after the last day ({self.days})")
        from orchbench.workflow.repo import REVISIONS

        for i, c in enumerate(self.code_changes):
            if c.day > self.days:
                raise ValueError(
                    f"code_changes.{i}.day: {c.day} is after the last day ({self.days})"
                )
            if c.revision not in REVISIONS.get(c.step, {}):
                known = ", ".join(map(str, sorted(REVISIONS.get(c.step, {}))))
                raise ValueError(
                    f"code_changes.{i}.revision: {c.step} has no revision {c.revision}; "
                    f"known: {known}"
                )
        return self

    def logical_dates(self) -> list[dt.date]:
        return [self.start_date + dt.timedelta(days=i) for i in range(self.days)]

    def date_of_day(self, day: int) -> dt.date:
        return self.start_date + dt.timedelta(days=day - 1)

    def code_changes_on(self, day: int) -> list[CodeChange]:
        """The code changes deployed before the ``day``-th date fires."""
        return [c for c in self.code_changes if c.day == day]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", by_alias=True), sort_keys=False)


def _format_errors(path: Path | str, e: ValidationError) -> list[str]:
    """One ``FILE: FIELD: problem`` line per problem pydantic found."""
    return [_format_one(path, err) for err in e.errors()]


def _format_one(path: Path | str, err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        parent = err["loc"][:-1]
        allowed = _allowed_keys(parent)
        if allowed:
            msg += f"; allowed: {', '.join(allowed)}"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {err.get('input')!r})"
    elif msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
        # our own validator messages already carry the field path
        return f"{path}: {msg}"
    return f"{path}: {loc}: {msg}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        model = inner[0] if inner and isinstance(inner[0], type) else ann
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def parse_scenario(text: str, path: Path | str = "<string>") -> Scenario:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # one line
        raise ScenarioError(f"{path}:{where} not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with schema: {SCHEMA_ID}")
    if data.get("schema") != SCHEMA_ID:
        raise ScenarioError(f"{path}: schema: expected {SCHEMA_ID!r}, got {data.get('schema')!r}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(*_format_errors(path, e)) from None


def load_scenario(path: Path | str) -> Scenario:
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: no such scenario file")
    return parse_scenario(p.read_text(), p)


def shortened(data: dict[str, Any], days: int) -> dict[str, Any]:
    """A scenario file's mapping cut to its first ``days`` days (never lengthened), the
    faults of the later days dropped; the quick bench's, the notebooks' and the
    conformance suite's copies."""
    out = dict(data)
    out["days"] = min(days, int(data.get("days", Scenario.model_fields["days"].default)))
    out["faults"] = [dict(f) for f in data.get("faults") or [] if f["day"] <= out["days"]]
    return out
