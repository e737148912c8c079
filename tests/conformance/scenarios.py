"""The conformance scenarios: short copies of ``scenarios/<name>.yaml``, one line each.

Each entry names a scenario file and what the copy changes: every copy has at most
``DAYS`` days (faults after them dropped) and at most ``ROWS`` rows a day, so a runner's
seven runs take minutes. A copy keeps its scenario's name, so its runs are published as
that scenario's (the notebooks read the ``schema_break`` and ``transient_error`` ones).

Adding a scenario is one line in ``SCENARIOS``: ``"name": Short()`` for a file under
``scenarios/``. A copy may add faults of a kind only a test defines: ``Short(added=...,
setup="module:function")``; each bench lane calls ``setup`` before it runs (``lane.py``),
so the kind is known where the runs happen.

``clean``'s copy carries ``PAUSE``, a 1-s scheduler pause of a kind defined only in a
test (``tests/unit/test_dayloop.py``): a pause changes nothing else, so every property of
a clean run must hold with it, and the base runner's handling of a kind no adapter knows
is checked on every runner without a run of its own. It was a separate ``paused``
scenario until 2026-12-07: nine more 2-day runs (a 2-day ``clean`` costs 13 to 53 CPU-s by
runner, README "Known gaps"). ``plain()`` is the copy without it, for an ``orchbench
bench`` that has not registered the kind (``write(..., plain=True)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from orchbench import scenario

REPO = Path(__file__).resolve().parents[2]
DAYS = 2
ROWS = 5000
DAY1, DAY2 = "2026-01-01", "2026-01-02"


@dataclass(frozen=True)
class Short:
    """How a conformance copy differs from its scenario: ``params`` replace a fault's
    params (by fault kind); ``added`` are faults appended to the scenario's, of a kind
    ``setup`` (``"module:function"``, called in each bench lane first) registers;
    ``rows`` caps the rows a day (``None``: the scenario's own)."""

    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    added: tuple[dict[str, Any], ...] = ()
    setup: str | None = None
    days: int = DAYS  # missed_days needs a day after its outage
    rows: int | None = ROWS

    def plain(self) -> Short:
        """This copy without its test-only faults: one any ``orchbench bench`` can run."""
        return replace(self, added=(), setup=None)


# the base runner's day loop with a scheduler-level kind only a test defines: held 1 s
# before date 2 fires (``tests/unit/test_dayloop.py``, ``assert_paused_and_correct``)
PAUSE = {"kind": "test_scheduler_pause", "day": 2, "at": "ingest", "params": {"seconds": 1.0}}

SCENARIOS: dict[str, Short] = {
    "clean": Short(added=(PAUSE,), setup="tests.conformance.kinds:pause"),
    "schema_break": Short(),
    "transient_error": Short(),
    "hang": Short(),
    "crash": Short(),
    "scheduler_crash": Short(),
    "missed_days": Short(params={"missed_days": {"days": 1}}, days=3),
}


def shortened(name: str, how: Short) -> dict[str, Any]:
    """The scenario ``name`` as its conformance copy."""
    data = yaml.safe_load((REPO / "scenarios" / f"{name}.yaml").read_text())
    every = [*(data.get("faults") or []), *how.added]
    data = scenario.shortened({**data, "faults": every}, how.days)
    rows = data["data"]["rows_per_day"] if how.rows is None else how.rows
    data["data"] = {**data["data"], "rows_per_day": min(rows, data["data"]["rows_per_day"])}
    for f in data["faults"]:
        f["params"] = {**(f.get("params") or {}), **how.params.get(f["kind"], {})}
    return data


def setups() -> list[str]:
    """The setup functions the conformance scenarios need, each once."""
    return sorted({how.setup for how in SCENARIOS.values() if how.setup})


def call(ref: str) -> None:
    """Call a setup function named ``"module:function"``."""
    module, _, fn = ref.partition(":")
    getattr(importlib.import_module(module), fn)()


@contextmanager
def set_up() -> Iterator[None]:
    """The setups, in this process, for the block only: the fault catalog they register
    kinds in is as before afterwards (later tests see the real catalog)."""
    from fault_injection import catalog

    saved = dict(catalog.KINDS)
    try:
        for ref in setups():
            call(ref)
        yield
    finally:
        catalog.KINDS.clear()
        catalog.KINDS.update(saved)


def copy(name: str, directory: Path, how: Short | None = None) -> Path:
    """Write ``name``'s copy (``how``: its conformance one by default) as
    ``directory/<name>.yaml``; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    how = how or SCENARIOS[name]
    path.write_text(yaml.safe_dump(shortened(name, how), sort_keys=False))
    return path


def write(directory: Path, names: list[str] | None = None, plain: bool = False) -> Path:
    """Write the conformance copies of ``names`` (default: every one) into ``directory``,
    ``plain`` ones (``Short.plain``) for a bench that registers no test kind; returns it."""
    for name in SCENARIOS:
        if names is None or name in names:
            how = SCENARIOS[name]
            copy(name, directory, how.plain() if plain else how)
    directory.mkdir(parents=True, exist_ok=True)
    return directory
