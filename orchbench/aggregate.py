"""The one aggregation over repeats: a metric's values over the runs of one cell become a
``Spread`` (median, min, max, coefficient of variation).

A value counts when it is a number; a boolean counts as 1 or 0 (so a boolean's median says
whether it held in most runs); anything else (None, NaN, text) is left out. The report's
tables, capability cells, comparison, overhead table and heatmaps all aggregate here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Median, min, max and coefficient of variation of ``n`` values."""

    n: int
    median: float
    min: float
    max: float
    cv: float | None  # sample standard deviation / |mean|; None for n < 2 or a zero mean

    @property
    def varies(self) -> bool:
        """More than one value, and not all equal."""
        return self.n > 1 and self.min != self.max


def as_number(v: object) -> float | None:
    """A value as a float (booleans as 1.0/0.0), or None when it is not a number (None,
    NaN, text)."""
    if v is None or isinstance(v, str):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def numbers(values: Iterable[object]) -> list[float]:
    """The values that count (see the module docstring), as floats."""
    return [f for f in map(as_number, values) if f is not None]


def spread(values: Iterable[object]) -> Spread | None:
    """The spread of the values that count; None when none does."""
    nums = numbers(values)
    if not nums:
        return None
    mean = statistics.fmean(nums)
    cv = statistics.stdev(nums) / abs(mean) if len(nums) > 1 and mean != 0 else None
    return Spread(len(nums), statistics.median(nums), min(nums), max(nums), cv)


def median(values: Iterable[object]) -> float:
    """The median of the values that count; NaN when none does."""
    s = spread(values)
    return math.nan if s is None else s.median
