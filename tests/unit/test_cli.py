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
    assert [p.name for p in scenario_files(quick=True, directory=tmp_path)] == ["clean.yaml"]
