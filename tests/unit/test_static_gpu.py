"""The GPU row reads "yes" only for a request the system enforces where it ran."""

from __future__ import annotations

from typing import Any

from orchbench.report.capability import DECLARED_NOT_ENFORCED, NO, YES, static_gpu
from orchbench.trace import declared

GPU = {"accelerator_type": "nvidia.com/gpu", "accelerator_limit": "1"}


def _train(**res: Any) -> dict[str, Any]:
    return declared(source="spec.yaml", resources={"train": res})


def test_a_request_the_system_ignores_is_declared_not_enforced() -> None:
    verdict, text = static_gpu(_train(**GPU, memory_limit="512M", enforced=[]))
    assert verdict == DECLARED_NOT_ENFORCED
    assert "nvidia.com/gpu" in text and "ignores" in text


def test_an_enforced_request_reads_yes() -> None:
    verdict, _ = static_gpu(_train(**GPU, enforced=["accelerator_limit", "accelerator_type"]))
    assert verdict == YES


def test_half_enforced_or_unsaid_is_not_yes() -> None:
    assert static_gpu(_train(**GPU, enforced=["accelerator_type"]))[0] == DECLARED_NOT_ENFORCED
    verdict, text = static_gpu(_train(**GPU))  # the runner does not say
    assert verdict == DECLARED_NOT_ENFORCED and "not recorded" in text


def test_no_request_reads_no_whatever_is_enforced() -> None:
    assert static_gpu(_train(memory_limit="512M", enforced=["memory_limit"]))[0] == NO
    assert static_gpu(declared(source="spec.yaml"))[0] == NO
