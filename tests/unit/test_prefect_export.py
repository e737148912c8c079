"""``PrefectRunner.export``: the deployment spec and worker guide for a remote server."""

from __future__ import annotations

from pathlib import Path

import yaml

from runners.prefect.adapter import DEPLOYMENT, ENTRYPOINT, POOL, PrefectRunner

REPO = Path(__file__).resolve().parents[2]


def test_export_writes_a_deployment_on_the_process_pool_and_how_to_run_workers(
    tmp_path: Path,
) -> None:
    spec_path, guide = PrefectRunner("pool", repo_root=REPO).export(tmp_path / "out")
    spec = yaml.safe_load(spec_path.read_text())
    (dep,) = spec["deployments"]
    assert (dep["name"], dep["entrypoint"], dep["work_pool"]["name"]) == (
        DEPLOYMENT,
        ENTRYPOINT,
        POOL,
    )
    (pull,) = spec["pull"]
    assert pull["prefect.deployments.steps.set_working_directory"]["directory"] == str(REPO)
    text = guide.read_text()
    assert f"worker start --pool {POOL} --type process --limit 1" in text
    assert "at the same path" in text and str(spec_path.resolve()) in text
