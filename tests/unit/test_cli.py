"""CLI bad input: one clear line on stderr, non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def orchbench(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchbench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_unknown_runner_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = orchbench("run", str(REPO / "scenarios/clean.yaml"), "--runner", "nope", "--out", str(out))
    assert r.returncode != 0
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown runner 'nope'" in lines[0] and "cron" in lines[0]
    assert not out.exists()


def test_malformed_scenario_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: orchbench.scenario/1\nname: bad\nclaim: long enough claim\ndays: x\n")
    out = tmp_path / "results"
    for args in (("check", str(bad)), ("run", str(bad), "--runner", "cron", "--out", str(out))):
        r = orchbench(*args)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "days" in lines[0] and str(bad) in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("{kind: meteor, day: 1, at: ingest}", "faults.0.kind: unknown kind 'meteor'; allowed: "),
        (
            "{kind: transient_error, day: 1, at: train, params: {failures: 0}}",
            "faults.0.params.failures: Input should be greater than or equal to 1",
        ),
        (
            "{kind: late_data, day: 1, at: train}",
            "faults.0.at: late_data cannot enter at 'train'; allowed: ingest",
        ),
        (
            "{kind: missed_days, day: 2, at: ingest, params: {days: 2}}",
            "faults.0.params: 2 missed day(s) from day 2 leave no day of the 2 after the "
            "outage: the scheduler must be back for at least the last day",
        ),
    ],
)
def test_a_bad_fault_fails_check_and_run_cleanly(tmp_path: Path, fault: str, message: str) -> None:
    """The scenario model leaves fault kinds to the catalog; check and run still refuse."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"schema: orchbench.scenario/1\nname: bad\nclaim: long enough claim\ndays: 2\n"
        f"faults: [{fault}]\n"
    )
    out = tmp_path / "results"
    for args in (("check", str(bad)), ("run", str(bad), "--runner", "cron", "--out", str(out))):
        r = orchbench(*args)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"orchbench: error: {bad}: {message}")
    assert not out.exists()


def test_unknown_profile_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = orchbench(
        "run",
        str(REPO / "scenarios/clean.yaml"),
        "--runner",
        "cron",
        "--profile",
        "x",
        "--out",
        str(out),
    )
    assert r.returncode != 0 and "no profile 'x'" in r.stderr
    assert not out.exists()


def test_check_accepts_shipped_scenarios() -> None:
    r = orchbench("check", *map(str, sorted((REPO / "scenarios").glob("*.yaml"))))
    assert r.returncode == 0, r.stderr
    assert all(line.startswith("ok\t") for line in r.stdout.splitlines())


def test_list_outputs_rows() -> None:
    r = orchbench("list", "faults")
    assert r.returncode == 0
    kinds = {line.split("\t")[0] for line in r.stdout.splitlines()}
    assert {"schema_break", "transient_error"} <= kinds
    r = orchbench("list", "scenarios")
    assert {"clean", "schema_break", "transient_error"} <= {
        line.split("\t")[0] for line in r.stdout.splitlines()
    }


def test_export_writes_the_kfp_spec_and_refuses_a_runner_with_nothing_to_deploy(
    tmp_path: Path,
) -> None:
    r = orchbench("export", "kfp", str(tmp_path / "kfp"))
    assert r.returncode == 0, r.stderr
    (spec,) = [Path(p) for p in r.stdout.split()]
    assert spec.parent == tmp_path / "kfp" and "PIPELINE DEFINITION" in spec.read_text()
    r = orchbench("export", "cron", str(tmp_path / "cron"))
    assert r.returncode == 2 and "nothing to export" in r.stderr
    assert not (tmp_path / "cron").exists()


def test_bench_checks_every_pinned_runner_profile_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = orchbench("bench", "--runners", "kfp,airflow/nope", "--out", str(out))
    assert r.returncode == 2 and "no profile 'nope'" in r.stderr and "airflow" in r.stderr
    r = orchbench("bench", "--runners", "kfp", "--profiles", "default,bad", "--out", str(out))
    assert r.returncode == 2 and "no profile 'bad'" in r.stderr
    assert not out.exists()


def test_bench_takes_scenarios_from_a_directory_that_must_exist(tmp_path: Path) -> None:
    out = tmp_path / "results"
    r = orchbench(
        "bench", "--runners", "kfp", "--scenario-dir", str(tmp_path / "no"), "--out", str(out)
    )
    assert r.returncode == 2 and "no such scenario directory" in r.stderr
    (tmp_path / "scen").mkdir()
    r = orchbench(
        "bench", "--runners", "kfp", "--scenario-dir", str(tmp_path / "scen"), "--out", str(out)
    )
    assert (
        r.returncode == 2
        and "no scenario matches" in r.stderr
        and str(tmp_path / "scen") in r.stderr
    )
    assert not out.exists()


def test_scenario_files_globs_in_the_directory_given(tmp_path: Path) -> None:
    from orchbench.matrix import scenario_files

    for name in ("clean", "hang", "crash"):
        (tmp_path / f"{name}.yaml").write_text("")
    assert [p.name for p in scenario_files("c*", directory=tmp_path)] == [
        "clean.yaml",
        "crash.yaml",
    ]
    (tmp_path / "schema_break.yaml").write_text("")
    assert [p.name for p in scenario_files(quick=True, directory=tmp_path)] == ["schema_break.yaml"]


def test_quick_copies_end_at_the_last_fault_s_day_and_keep_their_names(tmp_path: Path) -> None:
    import yaml

    from orchbench.matrix import QUICK_SCENARIOS, quick_copies, scenario_files
    from orchbench.scenario import load_scenario

    files = scenario_files(quick=True)
    assert [f.stem for f in files] == sorted(QUICK_SCENARIOS)
    for f, copy in zip(files, quick_copies(files, tmp_path), strict=True):
        whole, cut = yaml.safe_load(f.read_text()), load_scenario(copy)
        assert copy.parent == tmp_path and cut.name == whole["name"]
        last = max(x["day"] for x in whole["faults"])
        assert cut.days == last < whole["days"]
        assert [x.day for x in cut.faults] == [x["day"] for x in whole["faults"]]


def test_a_quick_bench_runs_each_runner_s_default_unless_told_otherwise() -> None:
    from orchbench.cli import bench_pairs, build_parser

    def pairs(*argv: str) -> list[tuple[str, str]]:
        return bench_pairs(build_parser().parse_args(["bench", *argv]))

    assert ("cron-hardened", "pipeline") in pairs("--runners", "cron-hardened")
    assert pairs("--quick", "--runners", "cron-hardened") == [("cron-hardened", "default")]
    assert pairs("--quick", "--runners", "cron-hardened/pipeline") == [
        ("cron-hardened", "pipeline")
    ]
    assert all(p == "default" for _, p in pairs("--quick"))


def test_a_quick_bench_s_lanes_read_its_copies_not_the_scenario_directory() -> None:
    import argparse

    from orchbench.cli import _lane_args

    args = argparse.Namespace(
        repeat=1, out="results/quick", resume=False, scenarios=None, scenario_dir="elsewhere"
    )
    lane = _lane_args(args, Path("/tmp/copies"))
    assert lane[lane.index("--scenario-dir") + 1] == "/tmp/copies"
    assert "--quick" not in lane and lane[lane.index("--out") + 1] == "results/quick"


def test_a_quick_bench_publishes_its_cut_runs_apart_and_leaves_no_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    import yaml

    from orchbench import cli
    from tests.unit.fake_runner import DOUBLE, register

    register(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    args = cli.build_parser().parse_args(["bench", "--quick", "--runners", DOUBLE.name])
    assert cli.cmd_bench(args) == 0  # not main: no signal handlers or ownership in pytest
    runs = sorted((tmp_path / "results" / "quick").glob(f"*/{DOUBLE.name}/*/scenario.yaml"))
    assert [r.parts[-4] for r in runs] == ["schema_break", "transient_error"]
    assert all(yaml.safe_load(r.read_text())["days"] == 2 for r in runs)
    assert not (tmp_path / "results" / "runs").exists()
    assert list((tmp_path / "tmp").iterdir()) == []  # the copies are gone


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "no-such.yaml", "--runner", "cron"],
        ["bench", "--jobs", "0"],
        ["scale", "--backfill", "0"],
        ["footprint", "--idle-s", "0"],
    ],
    ids=["run", "bench", "scale", "footprint"],
)
def test_bad_input_to_an_owning_command_reaps_nothing(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reaping a killed harness's processes happens only once the input is checked."""
    import signal

    from orchbench import cli

    def reaped() -> None:
        raise AssertionError("took ownership before checking the input")

    monkeypatch.setattr(cli, "_take_ownership", reaped)
    old = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert e.value.code == 2
