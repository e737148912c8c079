"""The result files of a run directory as typed, versioned models: ``run.json`` and
``env.json`` (the native trace's records are in ``orchbench.trace``).

Each file names its version in ``schema``. ``read_run`` and ``read_env`` bring a file of an
older version up to the current one through ``MIGRATIONS`` (one step per version) and
refuse any other with a ``SchemaError`` that names the file and its version. Writers build
the model and ``write_record`` dumps it; field order is the file's key order.

Versions:

- ``orchbench.run/1``: identity, status, recovery plan, ``metrics``, oracle hashes.
- ``orchbench.run/2``: adds ``attempts`` (each journaled attempt's classification, see
  ``ClassifiedAttempt``) and names the days phase's overhead ``outside_steps_s_per_attempt``
  (``overhead_s_per_task`` in /1). A /1 file loads with ``attempts`` null (not recorded).
- ``orchbench.run/3``: adds ``metrics.harness_help``.
- ``orchbench.run/4``: ``detected``/``detection_s``/``alert_delivered`` become ``alerted``,
  ``alert_s``, ``visible``, ``visible_s`` (with ``*_production_s``); adds
  ``misreported_attempts`` (and its evidence, ``misreported``), ``attempts_before_fix``
  and ``rerun_wall_production_s``.
- ``orchbench.run/5``: ``human_actions`` counts operator interventions (decisions), the
  commands typed are ``operator_commands``; adds ``harness_assists`` (per kind),
  ``lineage_native``/``lineage_practiced`` (with ``lineage_native_by_fact``) and
  ``rerun_cost_ratio`` (priced re-execution), which replaces the measured ``rerun_ratio``,
  ``bad_input_executions`` and ``stale_cache_hits`` (null in older files: not measured).
- ``orchbench.run/6``: adds what the system's scheduler did (``orchbench.scheduling``):
  ``missed_dates`` ... ``duplicate_dates``, ``late_completed``, ``late_extra_s``,
  ``late_extra_production_s``, ``in_flight``, ``in_flight_evidence`` (null in older
  files: not measured).
- ``orchbench.env/1``: ``env.json`` without a ``schema`` key.
- ``orchbench.env/2``: adds ``schema`` and the optional ``system_version`` and ``notes``.
- ``orchbench.env/3``: adds the optional ``central_view`` (where the system shows a failure)
  and ``clock`` (schedule interval, clock speed, which waits are compressed).
- ``orchbench.env/4``: adds the optional ``card`` (the profile's configuration card,
  ``orchbench.card``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

RUN = "orchbench.run"
ENV = "orchbench.env"
RUN_VERSION = 6
ENV_VERSION = 4
RUN_SCHEMA = f"{RUN}/{RUN_VERSION}"
ENV_SCHEMA = f"{ENV}/{ENV_VERSION}"

STATUSES = ("completed", "timeout", "harness_error", "not_applicable")
Number = int | float  # int first: a count or an integral sum stays an int, as it was written
Status = Literal["completed", "timeout", "harness_error", "not_applicable"]


class SchemaError(ValueError):
    """A result file this orchbench cannot read (its version, or its content)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClassifiedAttempt(_Model):
    """One journaled attempt as ``orchbench.metrics.analyse`` classified it."""

    attempt_id: str
    logical_date: str
    step: str
    attempt: int
    status: str
    failed: bool
    stale: bool
    tainted: bool
    redundant: bool
    wasted: bool


class RunMetrics(_Model):
    """The ``metrics`` block (each key is defined in ``orchbench.metrics``)."""

    faults_activated: int | None = None
    alerted: bool | None = None
    alert_s: Number | None = None
    alert_production_s: Number | None = None
    visible: bool | None = None
    visible_s: Number | None = None
    visible_production_s: Number | None = None
    misreported_attempts: int | None = None
    misreported: list[dict[str, Any]] | None = None
    wasted_cpu_s: Number | None = None
    stale_executions: int | None = None
    tainted_executions: int | None = None
    redundant_executions: int | None = None
    bad_input_executions: int | None = None
    attempts_before_fix: int | None = None
    failed_attempts: int | None = None
    killed_attempts: int | None = None
    recovered: bool | None = None
    human_actions: int | None = None
    operator_commands: int | None = None
    harness_help: int | None = None
    harness_assists: dict[str, int] | None = None
    rerun_cpu_s: Number | None = None
    rerun_wall_s: Number | None = None
    rerun_wall_production_s: Number | None = None
    rerun_cost_ratio: Number | None = None
    stale_cache_hits: int | None = None
    bad_model_deployed: bool | None = None
    final_state_correct: bool | None = None
    lineage_completeness: Number | None = None
    lineage_by_fact: dict[str, Number | None] | None = None
    lineage_practiced: Number | None = None
    lineage_native: Number | None = None
    lineage_native_by_fact: dict[str, Number | None] | None = None
    total_wall_s: Number | None = None
    total_cpu_s: Number | None = None
    steps_executed: int | None = None
    outside_steps_s_per_attempt: Number | None = None
    memory_limit_enforced: bool | None = None
    oom_kills: int | None = None
    missed_dates: list[str] | None = None
    backfilled_dates: list[str] | None = None
    skipped_dates: list[str] | None = None
    backfill_order: list[str] | None = None
    backfill_in_order: bool | None = None
    catchup_s: Number | None = None
    catchup_production_s: Number | None = None
    duplicate_dates: list[str] | None = None
    late_completed: bool | None = None
    late_extra_s: Number | None = None
    late_extra_production_s: Number | None = None
    in_flight: str | None = None
    in_flight_evidence: dict[str, Any] | None = None
    notes: list[str] | None = None


class OracleHashes(_Model):
    champion_sha256: str | None
    production_sha256: str | None


class RunRecord(_Model):
    """``run.json``."""

    schema_id: str = Field(RUN_SCHEMA, alias="schema")
    scenario: str
    runner: str
    system: str | None = None
    profile: str | None = None
    run_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status: Status
    reason: str | None = None
    recovery_plan: dict[str, str] | None = None
    metrics: RunMetrics | None = None
    oracle: OracleHashes | None = None
    attempts: list[ClassifiedAttempt] | None = None


class EnvRecord(_Model):
    """``env.json``: what a result depends on (see ``orchbench.rundir.env_info``)."""

    schema_id: str = Field(ENV_SCHEMA, alias="schema")
    bench_jobs: int | None = None
    python: str | None = None
    machine: dict[str, Any] | None = None
    orchbench: dict[str, str | None] | None = None
    harness_packages: dict[str, str | None] | None = None
    runner: str | None = None
    system: str | None = None
    profile: str | None = None
    versions: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    system_version: str | None = None
    notes: list[str] | None = None
    central_view: str | None = None
    clock: dict[str, Any] | None = None
    card: dict[str, str] | None = None


Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _run_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    metrics = data.get("metrics")
    if isinstance(metrics, dict):  # rename in place: the key keeps its position
        data["metrics"] = {
            ("outside_steps_s_per_attempt" if k == "overhead_s_per_task" else k): v
            for k, v in metrics.items()
        }
    return {**data, "schema": f"{RUN}/2", "attempts": None}


def _run_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """run/3 added ``metrics.harness_help``; an older file did not count it (left unset)."""
    return {**data, "schema": f"{RUN}/3"}


def _run_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    """run/4 split ``detected`` (any failure signal) into ``alerted`` (a message pushed to
    a human) and ``visible`` (the system's central view showed it), with production-clock
    times, and added ``misreported_attempts`` and ``attempts_before_fix``. An older file's
    ``alert_delivered`` is its ``alerted``; what it did not record is left unset (its
    ``detection_s`` timed whichever signal came first, so it is neither time)."""
    metrics = data.get("metrics")
    if isinstance(metrics, dict):  # the renamed key keeps its place
        data["metrics"] = {
            ("alerted" if k == "alert_delivered" else k): v
            for k, v in metrics.items()
            if k not in ("detected", "detection_s")
        }
    return {**data, "schema": f"{RUN}/4"}


def _run_4_to_5(data: dict[str, Any]) -> dict[str, Any]:
    """run/5 counts interventions, not commands: an older file's ``human_actions`` counted
    the commands typed, so it becomes ``operator_commands`` and the interventions are left
    unset. Its ``rerun_ratio`` divided measured CPU by the oracle's, a different figure
    from ``rerun_cost_ratio``: dropped, not renamed. Its ``lineage_completeness`` scored
    the whole trace, which is ``lineage_practiced``; native lineage was not recorded."""
    metrics = data.get("metrics")
    if isinstance(metrics, dict):
        out: dict[str, Any] = {}
        for k, v in metrics.items():
            if k == "human_actions":
                out["operator_commands"] = v
            elif k != "rerun_ratio":
                out[k] = v
            if k == "lineage_completeness":
                out["lineage_practiced"] = v
        data["metrics"] = out
    return {**data, "schema": f"{RUN}/5"}


def _run_5_to_6(data: dict[str, Any]) -> dict[str, Any]:
    """run/6 added the scheduler's figures (``orchbench.scheduling``); an older file's days
    were fired by the harness, so they are left unset: not measured."""
    return {**data, "schema": f"{RUN}/6"}


def _env_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    return {"schema": f"{ENV}/2", **data}


def _env_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """env/3 added ``central_view`` and ``clock``; an older file did not record them."""
    return {**data, "schema": f"{ENV}/3"}


def _env_3_to_4(data: dict[str, Any]) -> dict[str, Any]:
    """env/4 added ``card``; an older file did not record one."""
    return {**data, "schema": f"{ENV}/4"}


# (format, version) -> the step that turns a file of that version into the next version.
MIGRATIONS: dict[tuple[str, int], Migration] = {
    (RUN, 1): _run_1_to_2,
    (RUN, 2): _run_2_to_3,
    (RUN, 3): _run_3_to_4,
    (RUN, 4): _run_4_to_5,
    (RUN, 5): _run_5_to_6,
    (ENV, 1): _env_1_to_2,
    (ENV, 2): _env_2_to_3,
    (ENV, 3): _env_3_to_4,
}
CURRENT = {RUN: RUN_VERSION, ENV: ENV_VERSION}
# The version of a file with no ``schema`` key (env.json had none before /2).
UNMARKED = {ENV: 1}


def readable(fmt: str) -> list[int]:
    """The versions of ``fmt`` this orchbench reads: those with a migration, and the current."""
    return sorted({v for f, v in MIGRATIONS if f == fmt} | {CURRENT[fmt]})


def unsupported(path: Path | str, found: Any, fmt: str, versions: list[int]) -> SchemaError:
    """``<path>: schema <found> is not supported (this orchbench reads <fmt>/1, /2)``."""
    listed = ", ".join(f"{fmt}/{v}" if i == 0 else f"/{v}" for i, v in enumerate(versions))
    return SchemaError(f"{path}: schema {found} is not supported (this orchbench reads {listed})")


def version_of(path: Path | str, data: dict[str, Any], fmt: str, versions: list[int]) -> int:
    """The version a file's ``schema`` names, or SchemaError if not one of ``versions``."""
    found = data.get("schema")
    if found is None and fmt in UNMARKED:
        return UNMARKED[fmt]
    name, _, number = str(found).rpartition("/")
    if name == fmt and number.isdigit() and int(number) in versions:
        return int(number)
    raise unsupported(path, found, fmt, versions)


def migrate(path: Path | str, data: dict[str, Any], fmt: str) -> dict[str, Any]:
    """``data`` brought up to the current version of ``fmt`` (SchemaError if it cannot be)."""
    version = version_of(path, data, fmt, readable(fmt))
    while version < CURRENT[fmt]:
        data = MIGRATIONS[(fmt, version)](data)
        version += 1
    return data


def _read(path: Path | str, fmt: str) -> dict[str, Any]:
    """The file's JSON object (ValueError when it is not one) migrated to ``fmt``'s current
    version."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return migrate(path, data, fmt)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], path: Path | str, data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise SchemaError(f"{path}: {problems}") from None


def read_run(path: Path | str) -> RunRecord:
    """``run.json`` of any readable version as a current ``RunRecord``.

    Raises OSError/ValueError when the file cannot be read as JSON, SchemaError when its
    version is not readable or its content does not fit the model."""
    return _validated(RunRecord, path, _read(path, RUN))


def read_env(path: Path | str) -> EnvRecord:
    """``env.json`` of any readable version as a current ``EnvRecord`` (errors as
    ``read_run``)."""
    return _validated(EnvRecord, path, _read(path, ENV))


def as_dict(record: RunRecord | EnvRecord) -> dict[str, Any]:
    """The record as the file holds it: ``schema`` first, then the fields set, in field
    order."""
    fields = record.model_dump(exclude_unset=True, exclude={"schema_id"})
    return {"schema": record.schema_id, **fields}


def write_record(path: Path, record: RunRecord | EnvRecord) -> None:
    """Write a record atomically, laid out as ``orchbench.rundir.write_json`` does."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(as_dict(record), indent=2, default=str) + "\n")
    os.replace(tmp, path)
