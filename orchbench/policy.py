"""The one execution policy every runner applies (retries, retry delay, step timeout).

Runners translate it into their own idiom (Airflow ``retries``/``retry_delay``/
``execution_timeout``, Prefect ``retries``/``retry_delay_seconds``/``timeout_seconds``, the
hardened cron script's retry loop and ``timeout``). A scenario may override fields.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    retries: int = Field(2, ge=0, le=10, description="extra attempts after a failure")
    retry_delay_s: float = Field(1.0, ge=0, le=600, description="wait between attempts")
    timeout_s: float = Field(60.0, gt=0, le=3600, description="kill a step attempt after this")


DEFAULT_POLICY = Policy()
