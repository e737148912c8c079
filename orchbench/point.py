"""``point.json``: one cost-growth point as ``orchbench scale`` publishes it (a typed,
versioned result file; ``orchbench/scale.py`` says how points are measured).

``<out>/<series>/<shape>-<n>/point.json`` (``series``: the engine, or ``<engine>.<profile>``
for a profile other than ``default``) holds the point's identity, the engine's
versions and configured parallelism, every sample's figures (``samples``), their medians
when the point completed, and ``growth``: the log-log fit of its engine and shape over the
completed points published when it was measured, itself included (``orchbench.growth``).
The newest point of an engine, profile and shape therefore carries the fit of the whole
set (``latest_growth``).

Versions: ``orchbench.scale/3`` (this one) added ``profile``; ``/2`` added ``growth``.
``orchbench.scale/2`` loads through ``migrate_v2`` (measured on the engine's ``default``
profile, the only one it had) and ``/1`` through ``migrate_v1`` (no fit recorded:
``growth`` is None); any other version is refused with a ``PointFileError`` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchbench.records import SchemaError

SCHEMA = "orchbench.scale/3"
SCHEMA_V2 = "orchbench.scale/2"
SCHEMA_V1 = "orchbench.scale/1"
DEFAULT_PROFILE = "default"
POINT_JSON = "point.json"
ShapeKind = Literal["fanout", "backfill", "concurrent"]
SHAPES: tuple[ShapeKind, ...] = ("fanout", "backfill", "concurrent")
# What the growth classes mean: slope < CONSTANT_BELOW "roughly constant",
# < LINEAR_BELOW "linear", else "worse than linear".
CONSTANT_BELOW = 0.5
LINEAR_BELOW = 1.5

Status = Literal["completed", "timeout", "failed"]
GrowthClass = Literal["roughly constant", "linear", "worse than linear", "not enough points"]


class PointFileError(SchemaError):
    """A ``point.json`` that cannot be read: unreadable, invalid, or of another version
    (a ``SchemaError``, as an unreadable run.json or env.json is)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(_Model):
    name: str
    sleep_s: float


class Sample(_Model):
    """The figures of one measured sample (``orchbench.growth.compute_sample``)."""

    wall_s: float
    sum_task_s: float
    parallelism: int
    ideal_s: float
    overhead_s_per_task: float
    observed_parallelism: int
    task_records: int
    records: str  # the sample's journal, relative to the point directory
    notes: list[str] = []


class Growth(_Model):
    """The fitted growth of one quantity against N."""

    slope: float | None  # None: fewer than two usable points
    cls: GrowthClass
    ns: tuple[int, ...]  # the N the fit used


class PointGrowth(_Model):
    """The fit of one engine and shape over its completed points (``over``: their N)."""

    wall: Growth
    overhead: Growth  # total overhead, wall - ideal
    per_task_slope: float | None  # slope of overhead per task: overhead's slope - 1
    over: tuple[int, ...]


class Point(_Model):
    """One published ``point.json`` (``orchbench.scale/3``)."""

    schema_: str = Field(SCHEMA, alias="schema")
    engine: str
    profile: str = DEFAULT_PROFILE  # the runner profile the engine ran as
    system: str
    shape: ShapeKind
    n: int
    tasks: int
    runs: int
    task: Task
    status: Status
    reason: str | None
    measured_at: str
    versions: dict[str, str | None]
    system_version: str | None = None  # the plugin's version key among ``versions``
    machine: dict[str, Any]
    engine_parallelism: int
    parallelism_source: str
    settings: dict[str, Any]
    repeat: int
    records: list[str]
    samples: list[Sample]
    # medians over the samples (min/max of wall time); only on a completed point
    wall_s: float | None = None
    sum_task_s: float | None = None
    ideal_s: float | None = None
    overhead_s_per_task: float | None = None
    min_wall_s: float | None = None
    max_wall_s: float | None = None
    parallelism: int | None = None
    observed_parallelism: int | None = None
    growth: PointGrowth | None = None
    dir: str | None = None  # where it was loaded from (not written)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def series(self) -> str:
        """The engine and profile, as ``orchbench scale --runners`` names them."""
        return series_label(self.engine, self.profile)

    def to_json(self) -> dict[str, Any]:
        """The file's content (``schema`` first, ``dir`` left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"dir"})


def series_label(engine: str, profile: str) -> str:
    """``engine`` for the default profile, else ``engine/profile`` (as ``orchbench bench
    --runners`` names a runner's profile)."""
    return engine if profile == DEFAULT_PROFILE else f"{engine}/{profile}"


def series_dir(engine: str, profile: str) -> str:
    """The directory of an engine and profile's points under the output root: the
    engine's name for the default profile (where ``/2`` points are), else
    ``<engine>.<profile>`` (runner and profile names hold no dot)."""
    return engine if profile == DEFAULT_PROFILE else f"{engine}.{profile}"


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """An ``orchbench.scale/1`` point as ``/2``: the same fields, no fit recorded."""
    return {**data, "schema": SCHEMA_V2, "growth": None}


def migrate_v2(data: dict[str, Any]) -> dict[str, Any]:
    """An ``orchbench.scale/2`` point as ``/3``: measured on the default profile (``/2``
    engines had no other)."""
    return {**data, "schema": SCHEMA, "profile": DEFAULT_PROFILE}


def parse_point(data: Any, where: str = "point.json") -> Point:
    """A point from a file's JSON content, migrated to this version; PointFileError names
    ``where`` and the version when it cannot be read."""
    if not isinstance(data, dict):
        raise PointFileError(f"{where}: not a JSON object")
    version = data.get("schema")
    if version == SCHEMA_V1:
        data = migrate_v2(migrate_v1(data))
    elif version == SCHEMA_V2:
        data = migrate_v2(data)
    elif version != SCHEMA:
        raise PointFileError(
            f"{where}: schema {version!r} is not one this orchbench reads "
            f"({SCHEMA}, or {SCHEMA_V2} and {SCHEMA_V1} through their migrations)"
        )
    try:
        return Point.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(map(str, first["loc"]))
        raise PointFileError(f"{where} ({version}): {loc}: {first['msg']}") from None


def load_point(path: Path | str) -> Point:
    """One ``point.json`` (any readable version), with ``dir`` set."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PointFileError(f"{path}: {e}") from None
    return parse_point(data, str(path)).model_copy(update={"dir": str(path.parent)})


def point_files(root: Path | str) -> list[Path]:
    """Published ``<series>/<shape>-<n>/point.json`` files under ``root`` (temporary
    directories, whose names start with a dot, are not published)."""
    return [
        p
        for p in sorted(Path(root).glob(f"*/*/{POINT_JSON}"))
        if not p.parent.name.startswith(".") and not p.parent.parent.name.startswith(".")
    ]


def load_points(root: Path | str) -> tuple[list[Point], list[str]]:
    """Every published point under ``root``, and one message per file refused."""
    points, refused = [], []
    for p in point_files(root):
        try:
            points.append(load_point(p))
        except PointFileError as e:
            refused.append(str(e))
    return points, refused


def latest_growth(points: Iterable[Point]) -> PointGrowth | None:
    """The fit the most recently measured of ``points`` recorded (None if none did)."""
    fitted = [p for p in points if p.growth is not None]
    return max(fitted, key=lambda p: p.measured_at).growth if fitted else None
