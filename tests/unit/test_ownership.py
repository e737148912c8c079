"""Ownership: what a killed harness left is told apart from what a live one uses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orchbench import ownership, rundir


def test_a_token_is_alive_only_while_its_process_runs() -> None:
    assert ownership.alive(ownership.token())
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    tok = ownership.token(proc.pid)
    assert ownership.alive(tok)
    proc.kill()
    proc.wait()
    assert not ownership.alive(tok)
    assert not ownership.alive("garbage")


def _mark_from(path: Path, *, keep_running: bool) -> subprocess.Popen[bytes]:
    code = f"from orchbench import ownership; ownership.mark({str(path)!r}); print('ok')"
    if keep_running:
        code += "; import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ok"
    return proc


def test_resume_cleanup_removes_only_what_a_dead_harness_left(tmp_path: Path) -> None:
    live = tmp_path / "s" / "r" / f"{rundir.TMP_PREFIX}live"
    dead = tmp_path / "s" / "r" / f"{rundir.TMP_PREFIX}dead"
    unmarked = tmp_path / "s" / "r" / f"{rundir.TMP_PREFIX}old"
    services_dead = tmp_path / rundir.SERVICES_DIR / "kfp-default-1"
    published = tmp_path / "s" / "r" / "20261203T000000Z-abcdef"
    for d in (live, dead, unmarked, services_dead, published):
        d.mkdir(parents=True)
    holder = _mark_from(live, keep_running=True)
    try:
        gone = _mark_from(dead, keep_running=False)
        gone.wait()
        _mark_from(services_dead, keep_running=False).wait()
        assert rundir.remove_stale_temps(tmp_path) == 3
        assert live.is_dir() and published.is_dir()
        assert not dead.exists() and not unmarked.exists() and not services_dead.exists()
    finally:
        holder.kill()
        holder.wait()
    assert rundir.remove_stale_temps(tmp_path) == 1  # its owner is gone now
    assert not live.exists()


def test_temp_dirs_of_a_dead_harness_are_removed_and_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``temp_dir``s (a Postgres cluster's, a ``dagster dev``'s socket dir) outside
    ``results/``: the next harness removes those whose owner died, keeps a live one's and
    any directory no harness marked."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    mine = ownership.temp_dir("pg")
    assert mine.parent == tmp_path and mine.name.startswith("orchbench-pg-")
    dead = tmp_path / "orchbench-dagster-scale-x"
    unmarked = tmp_path / "orchbench-conformance-y"
    other = tmp_path / "not-ours"
    for d in (dead, unmarked, other):
        d.mkdir()
    _mark_from(dead, keep_running=False).wait()
    _mark_from(other, keep_running=False).wait()
    assert ownership.remove_dead_temps() == 1
    assert not dead.exists()
    assert mine.is_dir() and unmarked.is_dir() and other.is_dir()


def test_finalize_publishes_without_the_owner_file(tmp_path: Path) -> None:
    tmp = tmp_path / f"{rundir.TMP_PREFIX}x"
    tmp.mkdir()
    ownership.mark(tmp)
    final = rundir.finalize(tmp)
    assert final.name == "x" and not (final / ownership.OWNER_FILE).exists()


@pytest.mark.root
@pytest.mark.skipif(not ownership.available(), reason="needs root and the cgroup v1 freezer")
def test_reap_kills_what_a_sigkilled_owner_started_even_in_a_new_session() -> None:
    """The owner claims a group, starts a server-like child in its own session (as the
    orchestrator stacks do), then dies by SIGKILL: nothing of it runs after reaping."""
    code = textwrap.dedent(
        """
        import os, signal, subprocess, sys
        from orchbench import ownership
        ownership.adopt()
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
        )
        print(child.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    owner.wait()
    assert Path(f"/proc/{child}").exists()  # orphaned, still running
    group = ownership.ROOT / ownership.token(owner.pid)
    killed = ownership.reap_orphans()
    # A harness starting at the same moment (another xdist worker's bench) reaps every
    # dead owner's group too and may take this one first (CI of 5dccb0a: this call got
    # another's orphan); alone, only this call can end the child's 300-s sleep.
    end = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists()
    assert not group.exists()
    assert os.getpid() not in killed
