"""The harness's test double (``tests/runner_double/``), for unit tests that import it here.

``DOUBLE`` is its declaration; ``register`` makes ``--runner`` find it (pytest's
``monkeypatch`` undoes it)."""

from __future__ import annotations

import pytest

from orchbench import plugins
from tests.runner_double.adapter import InProcessRunner

DOUBLE = plugins.load_declarations("tests.runner_double.plugin")[0]


def register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(plugins.all_plugins(), DOUBLE.name, DOUBLE)


__all__ = ["DOUBLE", "InProcessRunner", "register"]
