"""The step program's exit status: 65 for errors a retry cannot fix, 1 for the rest."""

from __future__ import annotations

import pytest

from orchbench import step, wrapper
from orchbench.workflow.steps import CanaryCheckFailed, ValidationFailed


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationFailed("schema check failed"), step.EX_DATAERR),
        (CanaryCheckFailed("rolled back"), step.EX_DATAERR),
        (ValueError("Input X contains NaN"), 1),
        (RuntimeError("transient"), 1),
    ],
)
def test_exit_status_names_what_a_retry_can_fix(monkeypatch, error, status) -> None:
    def raising(*args, **kwargs):
        raise error

    monkeypatch.setattr(wrapper, "run_step", raising)
    assert step.main(["validate", "--date", "2026-01-02"]) == status


def test_exit_status_zero_on_success(monkeypatch) -> None:
    monkeypatch.setattr(wrapper, "run_step", lambda *a, **k: None)
    assert step.main(["ingest", "--date", "2026-01-02"]) == 0
