"""Fault kinds that exist only in tests, registered where the conformance runs happen (a
bench lane calls its scenarios' ``setup`` before it runs; ``scenarios.py``)."""

from __future__ import annotations


def pause() -> None:
    """``test_scheduler_pause`` (``tests/unit/test_dayloop.py``): a scheduler-level kind
    no runner knows, handled by the base runner's day loop alone."""
    from fault_injection import catalog
    from tests.unit.test_dayloop import PAUSE, PauseKind

    catalog.KINDS[PAUSE] = PauseKind()
