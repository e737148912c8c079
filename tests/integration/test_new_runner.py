"""A new system is one folder: a copy of the test double's folder under another name in
``runners/`` of a copy of this repository, with no other file edited, is built by
``make setup`` and runs through ``orchbench run``, ``bench``, ``scale`` and ``report``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

NAME = "newsys"  # the new runner: its folder's name
SMALL = """schema: orchbench.scenario/1
name: small_break
claim: a new runner is one folder
days: 2
data: {rows_per_day: 800, seed: 5}
policy: {retries: 0, retry_delay_s: 0, timeout_s: 30}
faults: [{kind: schema_break, day: 2, at: ingest, params: {drop: [hour]}}]
"""


def _copy_repo(dest: Path) -> None:
    """The working tree's files git knows or would add (tracked, new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (p.decode() for p in listed)):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _uv() -> str:
    """This checkout's uv (on PATH, or the pinned one ``make`` put in ``.tools``)."""
    uv = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("no uv: run `make setup`")
    return uv


def _harness_venv(repo: Path, uv: str) -> None:
    """The copy's ``.venv`` as ``make setup`` builds it, minus the bytecode compilation
    (a minute on 2 cores; imports compile what they use), stamped so ``make`` keeps it."""
    py = str(repo / ".venv" / "bin" / "python")
    subprocess.run([uv, "venv", "-q", "--python", "python3.11", str(repo / ".venv")], check=True)
    subprocess.run([uv, "pip", "sync", "-q", "--python", py, "requirements/harness.txt"],
                   cwd=repo, check=True)  # fmt: skip
    subprocess.run([uv, "pip", "install", "-q", "--python", py, "--no-deps", "-e", "."],
                   cwd=repo, check=True)  # fmt: skip
    (repo / ".venv" / ".synced").touch()


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    print(f"{time.monotonic() - t0:6.1f} s  {' '.join(cmd[:3])}")
    assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"
    return done.stdout


def _published(stdout: str, cwd: Path = Path("/")) -> Path:
    """The directory a command printed last (the double's steps print before it)."""
    path = cwd / stdout.strip().splitlines()[-1]
    assert path.is_dir(), stdout[-500:]
    return path


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_copied_runner_folder_is_a_whole_new_runner(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _copy_repo(repo)
    shutil.copytree(
        REPO / "tests" / "runner_double",
        repo / "runners" / NAME,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    uv = _uv()
    env = {**os.environ, "ORCHBENCH_PLAIN_PROGRESS": "1"}
    env["PATH"] = f"{Path(uv).parent}:{env['PATH']}"  # the copy's make finds this uv
    env.pop("VIRTUAL_ENV", None)
    _harness_venv(repo, uv)

    # make setup finds the new folder's lock and builds its environment (and no other)
    made = _run(["make", "setup", f"RUNNERS={NAME}"], repo, env)
    assert f"setup: ok (.venv .venvs/{NAME})" in made
    assert sorted(p.name for p in (repo / ".venvs").iterdir()) == [NAME]
    python = repo / ".venvs" / NAME / "bin" / "python"
    _run([str(python), "-c", "import yaml, orchbench.scale"], repo, env)
    orchbench = str(repo / ".venv" / "bin" / "orchbench")

    listed = _run([orchbench, "list", "runners"], repo, env).splitlines()
    row = next(line.split("\t") for line in listed if line.startswith(NAME + "\t"))
    assert row[1:3] == ["in-process (test double)", "default,boom,slow,interrupt,nostart"]

    results = repo / "results"
    scenario = tmp_path / "small_break.yaml"
    scenario.write_text(SMALL)
    run_dir = _published(_run([orchbench, "run", str(scenario), "--runner", NAME], repo, env))
    assert run_dir.parent == results / "runs" / "small_break" / NAME
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "completed" and run["metrics"]["final_state_correct"]
    envj = json.loads((run_dir / "env.json").read_text())
    assert envj["system_version"].startswith("orchbench ")
    assert envj["notes"] == [
        "The test double runs no orchestrator: its runs test the harness only."
    ]

    bench = [orchbench, "bench", "--runners", NAME, "--scenarios", "accuracy_regression"]
    bench_dir = _published(_run(bench, repo, env))
    assert bench_dir.parent == results / "runs" / "accuracy_regression" / NAME
    assert json.loads((bench_dir / "run.json").read_text())["status"] == "completed"

    scale_out = _run(
        [
            orchbench,
            "scale",
            "--runners",
            NAME,
            "--fanout",
            "1",
            "--backfill",
            "",
            "--concurrent",
            "",
        ],
        repo,
        env,
    )
    point = json.loads((_published(scale_out) / "point.json").read_text())
    assert point["engine"] == NAME and point["status"] == "completed", point.get("reason")
    assert point["system_version"] == envj["system_version"]

    report = repo / _published(_run([orchbench, "report"], repo, env), repo)
    text = (report / "report.md").read_text()
    assert NAME in text and envj["system_version"] in text
    assert "The test double runs no orchestrator" in text
