"""The airflow runner's remote-target plumbing that needs no Airflow: URLs and the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from runners.airflow.adapter import AirflowRunner
from runners.airflow.api import split_url


def test_split_url_takes_the_credentials_out() -> None:
    assert split_url("http://user:p%40ss@127.0.0.1:8080/") == (
        "http://127.0.0.1:8080",
        ("user", "p@ss"),
    )
    assert split_url("https://airflow.example/prefix") == ("https://airflow.example/prefix", None)
    with pytest.raises(ValueError):
        split_url("127.0.0.1:8080")


def test_export_writes_the_dag_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHBENCH_AIRFLOW_URL", "http://u:p@127.0.0.1:1")
    runner = AirflowRunner()
    runner.check_environment()  # remote: no local venv needed
    assert "scheduler_crash" not in runner.runner_faults
    written = runner.export(tmp_path / "dags")
    assert sorted(p.name for p in written) == ["orchbench_overhead.py", "orchbench_retrain.py"]
    assert all(p.read_text() for p in written)
    assert (tmp_path / "dags" / "orchbench_deployments").is_dir()
