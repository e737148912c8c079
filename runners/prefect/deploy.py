"""Register the daily flow as a deployment on a process work pool (the ``pool`` profile).

The way Prefect 3's docs deploy local code to a process pool: ``flow.from_source`` on the
checkout's directory, then ``.deploy(name, work_pool_name=...)``. The entrypoint is the
module path ``runners.prefect.flow.daily_retraining`` (the checkout is installed in the
flow's venv), so the flow module keeps its importable name in the worker's flow-run
process, as it does under ``python -m runners.prefect`` (persisted results name their
classes by module). The deployment's pull step sets the working directory to the
checkout, so a worker must see the checkout at the same path.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from prefect import Flow

ENTRYPOINT = "runners.prefect.flow.daily_retraining"
CHECKOUT = Path(__file__).resolve().parents[2]


def deploy(
    name: str,
    pool: str,
    source: Path = CHECKOUT,
    version: str | None = None,
    entrypoint: str = ENTRYPOINT,
    description: str = "orchbench daily retraining, one flow run per logical date",
) -> UUID:
    """Create or update deployment ``<flow>/<name>`` of the flow at ``entrypoint`` (the
    daily flow unless told) on ``pool``, with ``version`` (None: Prefect's default, the
    flow's version); its id."""
    flow = Flow.from_source(source=str(source), entrypoint=entrypoint)
    return flow.deploy(
        name=name,
        work_pool_name=pool,
        version=version,
        description=description,
        print_next_steps=False,
        ignore_warnings=True,  # the "use .serve for local development" hint
    )
