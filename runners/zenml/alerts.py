"""The ``on_failure`` hook's messages, read back from the world's alert sink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchbench.trace import sink_alerts
from orchbench.workflow.spec import STEP_NAMES

ALERT_PREFIX = "zenml-"  # task.ALERT_PREFIX (task.py imports zenml; this module must not)


def read_alerts(alerts_dir: Path | None) -> list[dict[str, Any]]:
    return sink_alerts(alerts_dir, f"{ALERT_PREFIX}*.json", "on_failure-hook", STEP_NAMES)
