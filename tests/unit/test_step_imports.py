"""What a step process imports: pandas only for the steps that read tables with it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orchbench.workflow.spec import STEP_NAMES
from orchbench.workflow.steps import HEAVY_IMPORTS

PROBE = """
import sys
import fault_injection.hooks, orchbench.step, orchbench.wrapper
from orchbench.workflow.steps import preload
preload(sys.argv[1])
print(",".join(m for m in ("pandas", "numpy", "sklearn") if m in sys.modules))
"""


@pytest.mark.parametrize("step", STEP_NAMES)
def test_a_step_process_imports_what_its_step_declares(step: str) -> None:
    """The step program's imports plus ``preload(step)``: pandas exactly when the step
    declares it (``HEAVY_IMPORTS``), so the import counts before the step's timing."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, step], capture_output=True, text=True, check=True
    )
    loaded = set(filter(None, out.stdout.strip().split(",")))
    assert ("pandas" in loaded) == ("pandas" in HEAVY_IMPORTS.get(step, ()))
