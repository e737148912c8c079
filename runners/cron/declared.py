"""What a crontab declares, read from the crontab text itself (trace kind ``declared``).

A crontab line declares a schedule and a command, nothing else: no retries, no timeout, no
types, no condition. The hardened scripts add a retry loop and ``timeout`` driven by the
crontab's ``RETRIES`` and ``STEP_TIMEOUT_S`` variables; they count as declared for a step
only when its command runs a script that uses that loop (``run_step`` from ``lib.sh``);
the one line of the ``pipeline`` profile runs ``pipeline.sh``, which runs every step's
script beside it.
The deploy gate lives inside the register step's own code, so no crontab holds it
(``deploy_condition`` null); artifacts are untyped files; nothing is cached.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchbench import trace
from orchbench.workflow.spec import STEP_NAMES
from runners.cron.schedule import PIPELINE

_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_SCRIPT = re.compile(r"(/\S+/scripts/(?:naive|hardened)/([a-z]+)\.sh)")


def parse_crontab(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(variables, {step: script path}) of a user crontab."""
    env: dict[str, str] = {}
    jobs: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ASSIGN.match(line)
        if m:
            env[m[1]] = m[2].strip().strip("'\"")
            continue
        s = _SCRIPT.search(line)
        if s and s[2] in STEP_NAMES:
            jobs[s[2]] = s[1]
        elif s and s[2] == PIPELINE:
            here = Path(s[1]).parent
            jobs.update({step: str(here / f"{step}.sh") for step in STEP_NAMES})
    return env, jobs


def _uses_retry_loop(script: str) -> bool:
    try:
        text = Path(script).read_text()
    except OSError:
        return False
    return "lib.sh" in text and "run_step " in text


def declared(crontab_path: Path) -> dict[str, Any] | None:
    """The ``declared`` record of the crontab at ``crontab_path`` (None if it is missing)."""
    try:
        text = crontab_path.read_text()
    except OSError:
        return None
    env, jobs = parse_crontab(text)
    retries: dict[str, int] = {}
    timeouts: dict[str, float] = {}
    for step, script in jobs.items():
        if not _uses_retry_loop(script):
            continue
        if "RETRIES" in env:
            retries[step] = int(env["RETRIES"])
        if "STEP_TIMEOUT_S" in env:
            timeouts[step] = float(env["STEP_TIMEOUT_S"])
    rec = trace.declared(
        source=f"crontab ({crontab_path.name})",
        typed_artifacts=[],
        deploy_condition=None,
        retries=retries,
        caching=False,
        timeouts=timeouts,
        resources={},
    )
    rec["mailto"] = env.get("MAILTO")
    rec["jobs"] = sorted(jobs, key=STEP_NAMES.index)
    return rec
