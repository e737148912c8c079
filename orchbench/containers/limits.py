"""Memory quantities as pipeline specs declare them (Kubernetes strings) in bytes."""

from __future__ import annotations

import re

_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(|k|M|G|T|Ki|Mi|Gi|Ti)\s*$")
_FACTOR = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def memory_bytes(quantity: str | int | None) -> int | None:
    """``"512M"`` -> 512000000, ``"1Gi"`` -> 1073741824; None for None or unparsable."""
    if quantity is None:
        return None
    if isinstance(quantity, int):
        return quantity
    m = _QUANTITY.match(str(quantity))
    if not m:
        return None
    return int(float(m.group(1)) * _FACTOR[m.group(2)])
