"""What a step can see of the container it runs in (nothing outside one).

``container_facts()`` gives the container's full id, read from ``/proc/self/mountinfo``
(Docker bind-mounts ``<data-root>/containers/<id>/hostname`` into every container; the
``HOSTNAME`` variable is only the 12-character prefix), and the cgroup v2 memory limit the
container really runs under (``/sys/fs/cgroup/memory.max``; ``None`` when unlimited). The
KFP component records both in its journal attempt, so a run shows which container ran
each attempt and whether a memory limit declared in the pipeline spec was enforced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/hostname ")


def container_id(mountinfo: str | None = None) -> str | None:
    """The full id of the Docker container this process runs in, or None."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    m = _CONTAINER_ID.search(mountinfo)
    return m.group(1) if m else None


def memory_limit_bytes(memory_max: str | None = None) -> int | None:
    """The cgroup v2 memory limit of this process's cgroup (None: unlimited/unknown)."""
    if memory_max is None:
        try:
            memory_max = Path("/sys/fs/cgroup/memory.max").read_text()
        except OSError:
            return None
    value = memory_max.strip()
    return int(value) if value.isdigit() else None


def container_facts() -> dict[str, Any]:
    """``{container_id, memory_limit_bytes}`` inside a container; ``{}`` outside one."""
    cid = container_id()
    if cid is None:
        return {}
    return {"container_id": cid, "memory_limit_bytes": memory_limit_bytes()}
