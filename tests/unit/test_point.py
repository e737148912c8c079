"""``point.json`` as a versioned model (``orchbench.point``): files written under the
previous version (``fixtures/scale_v1``, by ``orchbench scale`` before this model) load
through the migration, other versions and invalid files are refused with a message that
names the version or the field, and the report shows a migrated point without a fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchbench.point import (
    POINT_JSON,
    SCHEMA,
    SCHEMA_V1,
    SCHEMA_V2,
    PointFileError,
    load_point,
    load_points,
    parse_point,
)
from orchbench.report.blocks import Para, Table
from orchbench.report.growth import growth_section

V1 = Path(__file__).parent / "fixtures" / "scale_v1"
V2 = Path(__file__).parent / "fixtures" / "scale_v2"


def test_a_v1_point_loads_through_its_migration() -> None:
    raw = json.loads((V1 / "kfp" / "fanout-10" / POINT_JSON).read_text())
    assert raw["schema"] == SCHEMA_V1 and "growth" not in raw
    p = load_point(V1 / "kfp" / "fanout-10" / POINT_JSON)
    assert p.schema_ == SCHEMA and p.growth is None  # v1 recorded no fit
    assert (p.engine, p.shape, p.n, p.status) == ("kfp", "fanout", 10, "completed")
    assert p.wall_s == raw["wall_s"] and p.samples[0].wall_s == raw["samples"][0]["wall_s"]
    assert p.dir == str(V1 / "kfp" / "fanout-10")
    # written back, it is a v3 file with every v1 field unchanged (v1 recorded neither a
    # fit nor the plugin's system_version, the report falls back to its legacy key scan;
    # v1 and v2 engines ran their default profile only)
    out = p.to_json()
    assert out["schema"] == SCHEMA and "dir" not in out and out["system_version"] is None
    assert out["profile"] == "default" and p.series == "kfp"
    added = ("schema", "growth", "system_version", "profile")
    assert {k: v for k, v in out.items() if k not in added} == {
        k: v for k, v in raw.items() if k != "schema"
    }
    assert parse_point(out) == p.model_copy(update={"dir": None})


def test_a_v2_point_loads_as_the_default_profile() -> None:
    """Points ``orchbench scale`` wrote under ``/2`` (``fixtures/scale_v2``: two ZenML
    points of 2026-12-06) load as the engine's default profile, every field unchanged."""
    points, refused = load_points(V2)
    assert refused == [] and [p.n for p in points] == [1, 5]
    raw = json.loads((V2 / "zenml" / "fanout-5" / POINT_JSON).read_text())
    assert raw["schema"] == SCHEMA_V2 and "profile" not in raw
    p = points[1]
    assert p.schema_ == SCHEMA and p.profile == "default" and p.series == "zenml"
    out = p.to_json()
    assert {k: v for k, v in out.items() if k not in ("schema", "profile")} == {
        k: v for k, v in raw.items() if k != "schema"
    }


@pytest.mark.parametrize("version", ["orchbench.scale/0", "orchbench.scale/4", None])
def test_another_version_is_refused_naming_it(tmp_path: Path, version: str | None) -> None:
    raw = json.loads((V1 / "kfp" / "fanout-1" / POINT_JSON).read_text())
    raw["schema"] = version
    d = tmp_path / "kfp" / "fanout-1"
    d.mkdir(parents=True)
    (d / POINT_JSON).write_text(json.dumps(raw))
    with pytest.raises(PointFileError, match=rf"schema {version!r} is not one") as e:
        load_point(d / POINT_JSON)
    assert SCHEMA in str(e.value) and str(d / POINT_JSON) in str(e.value)
    points, refused = load_points(tmp_path)
    assert points == [] and refused == [str(e.value)]


def test_an_invalid_field_is_refused_naming_it() -> None:
    raw = json.loads((V1 / "kfp" / "fanout-1" / POINT_JSON).read_text())
    with pytest.raises(PointFileError, match=r"orchbench.scale/1\): shape: "):
        parse_point({**raw, "shape": "sideways"})
    with pytest.raises(PointFileError, match=r"\): surprise: "):
        parse_point({**raw, "surprise": 1})
    with pytest.raises(PointFileError, match="not a JSON object"):
        parse_point([raw])


def test_the_report_shows_v1_points_and_says_no_fit_was_recorded(tmp_path: Path) -> None:
    points, refused = load_points(V1)
    assert [p.n for p in points] == [1, 10] and refused == []
    (tmp_path / "kfp" / "fanout-2").mkdir(parents=True)
    (tmp_path / "kfp" / "fanout-2" / POINT_JSON).write_text("{")
    blocks = growth_section(points, load_points(tmp_path)[1])
    words = [b.text for b in blocks if isinstance(b, Para)]
    assert any("Point files not shown" in w and "fanout-2" in w for w in words)
    assert any("no fit recorded" in w and SCHEMA_V1 in w for w in words)
    table = next(b for b in blocks if isinstance(b, Table))
    assert [r[1] for r in table.rows] == ["1", "10"]
