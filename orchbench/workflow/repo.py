"""The team's code repository: the part of the step package that changes between deploys.

Each run's world holds a real git repository (``World.code``, ``world/code``) with one
module per step whose implementation can change; today ``train.py``, the constants of the
training step. Revision 1 is committed when the world is prepared; a scenario's
``code_changes`` commit a later revision before a day fires (``Runner.run_days``), as a
team merges a change, and each runner then deploys it the way its users do
(``Runner.deploy_code``). The oracle applies the same changes on the same days.

Steps read the module from the repository's working tree at each attempt (never cached),
so an attempt after a change runs the new code; a world without a repository (older run
directories) falls back to revision 1.
"""

from __future__ import annotations

import hashlib
import runpy
import subprocess
from pathlib import Path
from typing import Any

from orchbench.world import World

# step -> revision -> the module's text. Revision 2 of train searches half as many
# regularization strengths: a different model (another C on the grid) and another hash.
REVISIONS: dict[str, dict[int, str]] = {
    "train": {
        rev: f'"""train\'s implementation constants (revision {rev})."""\n\n'
        "# how many regularization strengths LogisticRegressionCV searches (log grid 1e-4..1e4)\n"
        f"CS = {cs}\n"
        for rev, cs in ((1, 20), (2, 10))
    },
}
GIT_ID = ("-c", "user.name=orchbench", "-c", "user.email=orchbench@localhost")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *GIT_ID, "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def module_path(world: World, step: str) -> Path:
    return world.code / f"{step}.py"


def init_repo(world: World) -> str:
    """Create ``world/code`` with revision 1 of every module committed; its commit id."""
    world.code.mkdir(parents=True, exist_ok=True)
    _git(world.code, "init", "-q", "-b", "main")
    for step, revs in REVISIONS.items():
        module_path(world, step).write_text(revs[1])
    _git(world.code, "add", "-A")
    _git(world.code, "commit", "-q", "-m", "revision 1")
    return head(world)


def commit_revision(world: World, step: str, revision: int) -> str:
    """Write ``revision`` of ``step``'s module and commit it; the new commit id."""
    if revision not in REVISIONS.get(step, {}):
        raise ValueError(f"no revision {revision} of {step!r}; known: {known_revisions()}")
    module_path(world, step).write_text(REVISIONS[step][revision])
    _git(world.code, "add", "-A")
    _git(world.code, "commit", "-q", "--allow-empty", "-m", f"{step}: revision {revision}")
    return head(world)


def head(world: World) -> str:
    return _git(world.code, "rev-parse", "HEAD")


def revision(world_root: str | Path | None) -> str | None:
    """The short id of the code repository's HEAD, the name a team gives the code it
    deploys (a Prefect deployment's version); None when the world has no repository."""
    if not world_root:
        return None
    code = World(Path(world_root)).code
    if not code.is_dir():
        return None
    try:
        return _git(code, "rev-parse", "--short", "HEAD") or None
    except subprocess.CalledProcessError:
        return None


def module_source(world: World | None, step: str) -> str | None:
    """The text of ``step``'s module in the repository's working tree (None: no module)."""
    if world is None or step not in REVISIONS:
        return None
    try:
        return module_path(world, step).read_text()
    except FileNotFoundError:
        return None


def load_module(world: World | None, step: str) -> dict[str, Any]:
    """Execute ``step``'s module from the working tree now, as an import of a fresh file
    would (no module cache: a change between two attempts in one process is seen); its
    globals. Revision 1 when the world has no repository."""
    src = module_source(world, step)
    if src is None:
        namespace: dict[str, Any] = {"__name__": f"orchbench_code_{step}"}
        exec(compile(REVISIONS[step][1], f"<{step} revision 1>", "exec"), namespace)
        return namespace
    return runpy.run_path(str(module_path(world, step)))  # type: ignore[arg-type]


def known_revisions() -> dict[str, list[int]]:
    return {step: sorted(revs) for step, revs in REVISIONS.items()}


def fingerprint() -> str:
    """A hash of every revision's text (part of the oracle's cache key)."""
    return hashlib.sha256(repr(sorted(REVISIONS.items())).encode()).hexdigest()[:16]
