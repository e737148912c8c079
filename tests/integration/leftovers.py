"""What a test asks of /proc after a stack stopped: is any process still about it?"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def mentions(d: Path) -> tuple[str, str]:
    """Process ``d`` (``/proc/<pid>``): its command line (NULs as spaces) and what it
    mentions: that, its environment and its working directory (PostgreSQL's children
    rename themselves but keep the data directory as their working directory). Raises
    ``OSError`` when the process is gone or not readable."""
    cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    environ = (d / "environ").read_bytes().decode(errors="replace")
    return cmdline, cmdline + environ + os.readlink(d / "cwd")


def processes_mentioning(*needles: str) -> list[str]:
    """``pid cmdline`` of live, non-zombie processes other than this one with any of
    ``needles`` in what they mention (``mentions``)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmdline, blob = mentions(d)
        except OSError:
            continue
        if any(n in blob for n in needles):
            found.append(f"{d.name} {cmdline[:200]}")
    return found


def wait_for_a_step(proc: subprocess.Popen[bytes], out: Path, timeout_s: float) -> None:
    """Until the run in progress under ``out`` (``<scenario>/<runner>/.tmp-*``) journals an
    attempt_start; fails if ``proc`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while not any(
        b'"attempt_start"' in j.read_bytes() for j in out.glob("*/*/.tmp-*/journal.jsonl")
    ):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"no step started in {timeout_s:.0f} s"
        time.sleep(0.5)


def interrupt_after_a_step(proc: subprocess.Popen[bytes], out: Path, *needles: str) -> None:
    """Ctrl-C ``proc`` once its run under ``out`` has started a step and some process
    mentions ``needles``; then it must exit 130, leave no process mentioning them and
    publish nothing under ``out``."""
    try:
        wait_for_a_step(proc, out, 300)
        assert processes_mentioning(*needles), "no process of the run while it runs"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert processes_mentioning(*needles) == []
    assert not list(out.glob("*/*/.tmp-*")) and not list(out.glob("*/*/[!.]*"))
