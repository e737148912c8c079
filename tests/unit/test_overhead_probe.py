"""The probes' shared contract: shapes, ``probe_main``'s file, ``probe_entry``, the loader
and the report table (the probes themselves drive real systems; their tests are theirs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from orchbench.overhead import (
    LONG,
    SHAPES,
    SHORT,
    Shape,
    probe_entry,
    probe_main,
    probe_summary,
    shape_entry,
)
from orchbench.report.load import load_overhead
from orchbench.report.overhead import probes_table


class _Runner:
    def versions(self) -> dict[str, str]:
        return {"python": "3.11"}


def _runs(shape: Shape, totals: list[float]) -> list[dict[str, Any]]:
    out = []
    for total in totals:
        step = total / shape.tasks
        out.append(
            {
                "total_s": total,
                "queued_s": [i * step for i in range(shape.tasks)],
                "started_s": [i * step for i in range(shape.tasks)],
                "completed_s": [(i + 1) * step for i in range(shape.tasks)],
            }
        )
    return out


def _measure(calls: list[tuple[str, str, int, int]]):
    def measure(profile: str, shapes, runs: int, warmup: int) -> dict[str, dict[str, Any]]:
        out = {}
        for shape in shapes:
            calls.append((profile, shape.name, runs, warmup))
            totals = [float(shape.tasks + i) for i in range(runs)]
            out[shape.name] = {
                **probe_summary(_runs(shape, totals), shape.tasks),
                "raw": _runs(shape, totals),
            }
        return out

    return measure


def test_the_two_shapes_are_windmills() -> None:
    assert (SHORT.tasks, SHORT.fibo_n, SHORT.expected) == (40, 10, 55)
    assert (LONG.tasks, LONG.fibo_n, LONG.expected) == (10, 33, 3524578)


def test_probe_main_merges_profile_by_shape_and_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "sys.json"
    out.write_text(json.dumps({"old": {"probe_s_per_task": 0.5, "tasks": 40}}))
    calls: list[tuple[str, str, int, int]] = []
    argv = ["--profiles", "a", "--runs", "3", "--warmup", "0", "--out", str(out)]
    rc = probe_main("sys", ["a", "b"], _measure(calls), lambda p: _Runner(), out, argv)
    assert rc == 0
    assert calls == [("a", SHORT.name, 3, 0), ("a", LONG.name, 3, 0)]
    data = json.loads(out.read_text())
    assert set(data) == {"old", "a"}
    assert set(data["a"]) == set(SHAPES)
    assert data["a"][LONG.name]["tasks"] == 10 and data["a"][LONG.name]["runs"] == 3
    assert data["a"][SHORT.name]["machine"]["cores"] >= 1
    assert data["a"][SHORT.name]["versions"] == {"python": "3.11"}
    # a profile measured again on one shape keeps its other shape
    argv = ["--profiles", "a", "--shapes", LONG.name, "--runs", "2", "--out", str(out)]
    assert probe_main("sys", ["a"], _measure([]), lambda p: _Runner(), out, argv) == 0
    data = json.loads(out.read_text())
    assert data["a"][LONG.name]["runs"] == 2 and data["a"][SHORT.name]["runs"] == 3


def test_probe_main_refuses_each_bad_argument_once_before_measuring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, str, int, int]] = []
    out = tmp_path / "sys.json"
    argv = ["--profiles", "a,zz", "--shapes", "nope", "--runs", "0", "--out", str(out)]
    rc = probe_main("sys", ["a"], _measure(calls), lambda p: _Runner(), out, argv)
    assert rc == 2 and calls == [] and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert "'zz'" in err[0] and "'nope'" in err[1] and "--runs 0" in err[2]


def test_probe_entry_reads_both_layouts_without_raw(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps({"default": {"probe_s_per_task": 1.0, "raw": [1]}}))
    new.write_text(json.dumps({"default": {LONG.name: {"probe_s_per_task": 2.0, "raw": []}}}))
    assert probe_entry(old, "default") == {"probe_s_per_task": 1.0}
    assert probe_entry(old, "default", LONG.name) is None
    assert probe_entry(new, "default", LONG.name) == {"probe_s_per_task": 2.0}
    assert probe_entry(new, "default") is None
    assert probe_entry(new, "tuned") is None
    assert probe_entry(tmp_path / "missing.json", "default") is None


def test_loader_and_table_show_each_shape_with_its_spread(tmp_path: Path) -> None:
    calls: list[tuple[str, str, int, int]] = []
    out = tmp_path / "sys.json"
    argv = ["--runs", "5", "--out", str(out)]
    assert probe_main("sys", ["default"], _measure(calls), lambda p: _Runner(), out, argv) == 0
    (tmp_path / "older.json").write_text(
        json.dumps({"default": {"per_task_s": 0.1, "tasks": 40, "runs": 5}})
    )
    frame = load_overhead(tmp_path)
    assert sorted(zip(frame["system"], frame["shape"], strict=True)) == [
        ("older", SHORT.name),
        ("sys", LONG.name),
        ("sys", SHORT.name),
    ]
    table = probes_table(frame)
    assert list(table["shape"]) == [SHORT.name, SHORT.name, LONG.name]
    cv = dict(zip(zip(table["system"], table["shape"], strict=True), table["cv"], strict=True))
    assert cv[("older", SHORT.name)] == "–"
    assert cv[("sys", LONG.name)] != "–"


def _entry(method: str | None) -> dict[str, Any]:
    entry = {**probe_summary(_runs(SHORT, [4.0, 4.2]), SHORT.tasks), "profile_settings": {}}
    return entry if method is None else {**entry, "method": method}


def test_the_sections_method_lines_come_from_each_systems_results(tmp_path: Path) -> None:
    from orchbench.report.blocks import to_markdown
    from orchbench.report.overhead import METHOD_NOTES, method_table
    from orchbench.report.sections import overhead_section

    one = "queued = alpha's enqueue record, started = its start record"
    other = "queued = started (alpha's in-process mode records no hand-off)"
    (tmp_path / "alpha.json").write_text(
        json.dumps(
            {
                "default": {SHORT.name: _entry(one), LONG.name: _entry(one)},
                "fast": {SHORT.name: _entry(other)},
                "big": {SHORT.name: _entry(one)},
            }
        )
    )
    (tmp_path / "beta.json").write_text(json.dumps({"default": {SHORT.name: _entry(None)}}))
    frame = load_overhead(tmp_path)
    table = method_table(frame)
    assert table.to_dict("records") == [
        {"system": "alpha", "profiles": "default, big", "method": one},
        {"system": "alpha", "profiles": "fast", "method": other},
        {"system": "beta", "profiles": "default", "method": "(no method recorded)"},
    ]
    text = to_markdown(overhead_section(pd.DataFrame({"status": []}), frame))
    assert one in text and other in text and "(no method recorded)" in text
    assert METHOD_NOTES in text  # the general note on the differences from windmill's setup
    assert method_table(frame.iloc[0:0]).empty


def test_the_report_shows_the_probes_when_no_scenario_ran(tmp_path: Path) -> None:
    """``make bench-overhead`` then ``make report`` with no run in ``results/runs``: the
    overhead table is there (as the cost and growth sections are), not only "No runs"."""
    from orchbench.report import build_blocks
    from orchbench.report.blocks import to_markdown
    from orchbench.report.load import load_runs

    runs = load_runs(tmp_path / "runs")  # none
    probes = tmp_path / "overhead"
    probes.mkdir()
    (probes / "alpha.json").write_text(json.dumps({"default": {SHORT.name: _entry("m")}}))
    text = to_markdown(build_blocks(runs, tmp_path / "report", probes))
    assert "No runs found." in text
    assert "Orchestration overhead" in text and "alpha" in text
    empty = to_markdown(build_blocks(runs, tmp_path / "report", tmp_path / "none"))
    assert "No overhead probe in `results/overhead/`" in empty


def test_shape_entry_holds_the_figures_the_profile_and_what_the_probe_adds() -> None:
    runs = _runs(LONG, [10.0, 12.0, 11.0])
    entry = shape_entry(runs, LONG, "tuned", {"k": 1}, "how", measured_at="then", extra=2)
    assert entry["probe_s_per_task"] == probe_summary(runs, LONG.tasks)["probe_s_per_task"]
    assert (entry["profile"], entry["profile_settings"], entry["method"]) == (
        "tuned",
        {"k": 1},
        "how",
    )
    assert (entry["measured_at"], entry["extra"], entry["raw"]) == ("then", 2, runs)
    assert shape_entry(runs, LONG, "tuned", {}, "how")["measured_at"] != "then"


def test_unmeasured_profiles_are_recorded_refused_and_shown(tmp_path: Path, capsys) -> None:
    """A profile declared unmeasured is written with its reason, refused when asked for
    (one line, the reason, nothing measured), and listed by the report with the reason;
    a profile measured after being declared unmeasured loses the declaration."""
    from orchbench.report.blocks import to_markdown
    from orchbench.report.load import load_overhead_unmeasured
    from orchbench.report.sections import overhead_section

    out = tmp_path / "sys.json"
    why = {"same": "the same deployment as default"}
    calls: list[tuple[str, str, int, int]] = []
    argv = ["--out", str(out), "--profiles", "same", "--runs", "1"]
    assert (
        probe_main("sys", ["a"], _measure(calls), lambda p: _Runner(), out, argv, None, None, why)
        == 2
    )
    assert calls == [] and not out.exists()
    assert capsys.readouterr().err.strip() == f"error: profile 'same' is not probed: {why['same']}"

    argv = ["--out", str(out), "--runs", "1", "--warmup", "0"]
    assert (
        probe_main("sys", ["a"], _measure(calls), lambda p: _Runner(), out, argv, unmeasured=why)
        == 0
    )
    data = json.loads(out.read_text())
    assert data["same"] == {"unmeasured": why["same"]} and set(data["a"]) == set(SHAPES)
    frame = load_overhead(tmp_path)
    assert set(frame["profile"]) == {"a"}  # no figure row for the unmeasured profile
    skipped = load_overhead_unmeasured(tmp_path)
    assert skipped.to_dict("records") == [
        {"system": "sys", "profile": "same", "why not probed": why["same"]}
    ]
    text = to_markdown(overhead_section(pd.DataFrame({"status": []}), frame, skipped))
    assert why["same"] in text

    argv = ["--out", str(out), "--profiles", "same", "--runs", "1", "--warmup", "0"]
    assert probe_main("sys", ["a", "same"], _measure(calls), lambda p: _Runner(), out, argv) == 0
    assert "unmeasured" not in json.loads(out.read_text())["same"]
    with pytest.raises(ValueError, match="both probed and unmeasured"):
        probe_main("sys", ["same"], _measure(calls), lambda p: _Runner(), out, argv, unmeasured=why)


def test_every_runner_and_profile_is_probed_or_has_a_reason() -> None:
    """``make bench-overhead`` covers every system and profile: each runner's folder has a
    probe (``runners/<folder>/overhead.py``) whose ``PROBED`` and ``UNMEASURED`` split the
    runner's profiles between them, a reason for each profile left out."""
    import importlib

    from orchbench import plugins

    missing: list[str] = []
    for name, plugin in plugins.all_plugins().items():
        folder = plugins.runner_class(name).__module__.split(".")[1]
        module = f"{plugins.RUNNERS_PACKAGE}.{folder}.overhead"
        try:
            probe = importlib.import_module(module)
        except ModuleNotFoundError:
            missing.append(f"{name}: no {module}")
            continue
        probed, unmeasured = probe.PROBED[name], probe.UNMEASURED[name]
        assert not set(probed) & set(unmeasured), name
        assert all(reason.strip() for reason in unmeasured.values()), name
        assert set(probed) | set(unmeasured) <= set(plugin.profiles), name
        missing += [
            f"{name}/{p}: not probed, no reason given"
            for p in plugin.profiles
            if p not in probed and p not in unmeasured
        ]
    assert missing == []
