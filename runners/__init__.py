"""Runner adapters, one folder per system. ``RUNNERS`` maps ``--runner`` names to classes.

Imports are lazy: listing runners never imports an orchestrator adapter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchbench.runner import Runner

RUNNERS: dict[str, str] = {
    "cron": "runners.cron.adapter:CronRunner",
    "cron-hardened": "runners.cron.adapter:HardenedCronRunner",
    "airflow": "runners.airflow.adapter:AirflowRunner",
    "prefect": "runners.prefect.adapter:PrefectRunner",
    "kfp": "runners.kfp.adapter:KfpRunner",
    "kfp-docker": "runners.kfp.docker_adapter:KfpDockerRunner",
}


class UnknownRunner(ValueError):
    """A runner name that is not in ``RUNNERS``."""


def runner_class(name: str) -> type[Runner]:
    if name not in RUNNERS:
        raise UnknownRunner(f"unknown runner {name!r}; available: {', '.join(RUNNERS)}")
    module, _, attr = RUNNERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
