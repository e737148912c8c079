"""The harness's own Docker daemon and the locally built step image (real dockerd)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from orchbench.containers import daemon as dd
from orchbench.containers.image import REPO, ensure_image, image_exists, manifest
from runners.kfp.docker_adapter import IMAGE_LOCK

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("docker"),  # dockerd's data root and leftovers are machine-wide
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the harness's dockerd needs root"),
]


def _docker(d: dd.DockerDaemon, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(dd.DOCKER_CLI), *args], env=d.env(), capture_output=True, text=True, **kw
    )  # type: ignore[call-overload]


def test_image_runs_the_workflow_and_stop_leaves_nothing(tmp_path):
    d = dd.DockerDaemon(log_path=tmp_path / "dockerd.log")
    d.start()
    try:
        tag = ensure_image(d, IMAGE_LOCK)
        assert tag.startswith(f"{REPO}:") and image_exists(d, tag)
        m = manifest(tag)
        assert m is not None and any(p.startswith("scikit-learn==") for p in m["python_packages"])
        r = _docker(
            d, "run", "--rm", "--network=none", tag, "python", "-c",
            "import orchbench.workflow.steps, kfp; print('ok', kfp.__version__)",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("ok 2.")
        # a container still running when the daemon stops must not outlive it
        r = _docker(d, "run", "-d", "--network=none", tag, "sleep", "600")
        assert r.returncode == 0, r.stderr
        assert _docker(d, "ps", "-q").stdout.strip()
    finally:
        d.stop()
    time.sleep(0.5)
    assert dd.leftovers() == []
    d.stop()  # twice is fine


def test_start_fails_clearly_without_dockerd(tmp_path, monkeypatch):
    monkeypatch.setattr(dd, "DOCKERD", tmp_path / "no-dockerd")
    with pytest.raises(dd.DockerUnavailable, match=r"not found: install Debian's docker\.io"):
        dd.DockerDaemon(data_root=tmp_path / "data").start()
