"""What a step can see of the container it runs in (nothing outside one).

``container_facts()`` gives the container's full id, read from ``/proc/self/mountinfo``
(Docker bind-mounts ``<data-root>/containers/<id>/hostname`` into every container; the
``HOSTNAME`` variable is only the 12-character prefix), and the memory limit the container
really runs under (cgroup v2 or v1, whichever the kernel mounts; ``None`` when unlimited).
The KFP component records both in its journal attempt, so a run shows which container ran
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


CGROUP_LIMIT_FILES = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1 (these machines)
)
UNLIMITED = 2**62  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def memory_limit_bytes(value: str | None = None) -> int | None:
    """The memory limit of this process's cgroup, read from cgroup v2's ``memory.max`` or
    v1's ``memory.limit_in_bytes`` (None: unlimited or unknown)."""
    if value is None:
        for path in CGROUP_LIMIT_FILES:
            try:
                value = path.read_text()
                break
            except OSError:
                continue
        else:
            return None
    text = value.strip()
    return int(text) if text.isdigit() and int(text) < UNLIMITED else None


def container_facts() -> dict[str, Any]:
    """``{container_id, memory_limit_bytes}`` inside a container; ``{}`` outside one."""
    cid = container_id()
    if cid is None:
        return {}
    return {"container_id": cid, "memory_limit_bytes": memory_limit_bytes()}
