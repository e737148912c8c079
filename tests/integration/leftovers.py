"""What a test asks of /proc after a stack stopped: is any process still about it?"""

from __future__ import annotations

import os
from pathlib import Path


def processes_mentioning(*needles: str) -> list[str]:
    """``pid cmdline`` of live, non-zombie processes with any of ``needles`` in their
    command line, environment or working directory (PostgreSQL's children rename
    themselves but keep the data directory as their working directory)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            blob = cmdline + (d / "environ").read_bytes().decode(errors="replace")
            blob += os.readlink(d / "cwd")
        except OSError:
            continue
        if any(n in blob for n in needles):
            found.append(f"{d.name} {cmdline[:200]}")
    return found
