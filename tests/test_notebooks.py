"""Every teaching notebook executes top to bottom without an error (nbclient, the .venv's
ipykernel). Runs a notebook makes for itself go to one temporary work directory shared by
the notebooks of this module, as under ``make notebooks`` (04 reuses 03's small runs); the
published results they read are the session's (``published_runs``: the conformance
suite's 2-day runs of every runner, ``tests/conformance``), so they re-run only what no
earlier test published."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchbench.report.notebooks import execute
from tests.conformance.bench import Bench

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def test_there_are_five_notebooks() -> None:
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


# What each notebook's executed outputs must show (issue 30: the metrics people read)
SHOWN = {
    "03": ("alerted", "alert_production_s", "visible", "lineage_native", "lineage_practiced"),
    "04": ("lineage_native", "lineage_practiced"),
    "05": ("alerted", "visible"),
}


@pytest.fixture(scope="module")
def nb_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nb") / "work"


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_error(
    notebook: Path,
    tmp_path: Path,
    nb_work: Path,
    published_runs: Path,
    conformance: Bench,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nbformat

    monkeypatch.setenv("ORCHBENCH_NB_WORK", str(nb_work))
    monkeypatch.setenv("ORCHBENCH_RESULTS", str(published_runs))
    out = execute(notebook, tmp_path / "out", timeout=300)
    nb = nbformat.read(out, as_version=4)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    shown = " ".join(
        str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    missing = [k for k in SHOWN.get(notebook.stem[:2], ()) if k not in shown]
    assert missing == [], f"{notebook.stem}'s outputs do not show {missing}"
