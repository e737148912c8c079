"""The ``zenml`` runner: the dynamic pipeline of ``pipeline.py`` on ZenML's local
orchestrator, one process per pipeline run.

- One run per logical date: ``.venvs/zenml/bin/python -m runners.zenml run
  --logical-date D`` in its own process group, cwd the checkout. ZenML's store (SQLite),
  config and local artifact store live in the scenario run's ``work/zenml/config``
  (``ZENML_CONFIG_PATH``); HOME points into ``work/zenml/home``; analytics off, no
  dashboard. One store per scenario run: its cache, its runs, its model versions.
- Timeouts: ZenML has no step timeout, and the local orchestrator runs every step in the
  run's process. The adapter follows the run's console (``Step `X` has started.``) and,
  when a step has run for the policy's ``timeout_s``, SIGKILLs the run's process group:
  the only way to stop an in-process step. ZenML then records nothing more: the run and
  the step stay "running". The kill is journaled (harness help ``timeout_kill``) and
  written into the run's log. The date waits for the operator.
- ``recover``: per date of the plan, ZenML's re-run after a fix, per its docs: when the
  step to restart from did not succeed in the date's last run, ``replay`` that run with
  ``skip_successful_steps=True`` (finished steps are skipped, their artifacts reused);
  when it had succeeded (the fix changed what it read), a new run with caching off, since
  a replay would skip it; a date with no run gets a new run; a plan that trusts the
  cache (recovery action ``rerun_date``) gets a new run with caching on.
- System-scheduled runs (``fired_by``: "cron"): the local orchestrator refuses schedules,
  so cron fires the same command from a one-entry crontab, one ``orchbench.crond``
  daemon per simulated day, exactly as the kfp runner does.
- Scheduler-level faults: ``missed_days`` is the base runner's (no daemon on the down
  dates, nothing catches up; the operator runs them). ``scheduler_crash`` is not
  applicable: ZenML's local orchestrator has no scheduler process of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from orchbench import journal as jr
from orchbench.card import source_literal
from orchbench.contracts import RecoveryPlan
from orchbench.cron_fired import (
    CRON_AT,
    CRON_ENTRY,
    CRON_LEAD_IN,
    CRON_LEAD_IN_S,
    CRON_SPEED,
    CronFiredHost,
)
from orchbench.crond.daemon import CronDay, DeadlineReached, mail_stub, render_crontab
from orchbench.procs import kill_group, venv_versions
from orchbench.runner import HARNESS, SYSTEM, EnvironmentMissing, RunContext, Runner, RunTimeout
from orchbench.workflow.spec import STEP_NAMES

from .plugin import PLUGINS
from .server import LocalServer

ENV_PYTHON = "ORCHBENCH_ZENML_PYTHON"
MODULE = "runners.zenml"
POLL_S = 0.1
CRONTAB_COPY = "zenml-crontab.txt"
CRON = "cron"  # fired_by: cron fires the dates
CRON_LOG = "zenml-cron-daemon.log"
HARNESS_KILL = "orchbench-harness: timeout killed the run of step"
STARTED = re.compile(r"Step `(\w+)` has started\.")
ENDED = re.compile(r"Step `(\w+)` has finished|Failed to run step `(\w+)`")
TRACE_FILE = "zenml-native.jsonl"
SNAPSHOT_FILE = "zenml-records.json"  # native.fetch's plain data, kept with --keep-work
SERVER = "server"  # the profile with a local ZenML server (server.py)
SERVER_LOG = "zenml-server.log"
PIPELINE_FILE = Path(__file__).with_name("pipeline.py")
QUIET = {  # every ZenML process of a run, the server's too: no analytics, no dashboard
    "ZENML_ANALYTICS_OPT_IN": "false",
    "ZENML_AUTO_OPEN_DASHBOARD": "false",
    "ZENML_ENABLE_RICH_TRACEBACK": "false",
    "ZENML_LOGGING_COLORS_DISABLED": "true",
}


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "ORCHBENCH_"))}


class ZenmlRunner(CronFiredHost, Runner):
    """ZenML 0.98: the dynamic pipeline on the local orchestrator, SQLite store per run."""

    cron_log: ClassVar[str] = CRON_LOG

    name: ClassVar[str] = PLUGINS[0].name
    system: ClassVar[str] = PLUGINS[0].system
    description: ClassVar[str] = PLUGINS[0].description
    profiles: ClassVar[tuple[str, ...]] = PLUGINS[0].profiles

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self._driver: subprocess.Popen[bytes] | None = None
        self._cron: CronDay | None = None
        self._submissions: list[Path] = []
        self._timeout_kills = 0
        self._versions: dict[str, str] | None = None
        self._server: LocalServer | None = None
        self._server_run: Path | None = None  # the scenario run whose server it is
        self._server_start_s: float | None = None

    # --- environment --------------------------------------------------------------------

    def python(self) -> Path:
        override = os.environ.get(ENV_PYTHON)
        if override:
            return Path(override)
        return self.repo_root / ".venvs" / "zenml" / "bin" / "python"

    def check_environment(self) -> None:
        py = self.python()
        if not os.access(py, os.X_OK):
            raise EnvironmentMissing(f"{py} not found: run `make setup` (builds .venvs/zenml)")

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = (
                "zenml",
                "sqlalchemy",
                "numpy",
                "pandas",
                "pandera",
                "scikit-learn",
                "pydantic",
                "fastapi",
                "uvicorn",
            )  # pydantic: zenml's override of core's pin (overrides.txt); fastapi, uvicorn:
            # the local server's (zenml[server])
            self._versions = venv_versions(self.python(), wanted)
        return self._versions

    def settings(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "orchestrator": "local (every step in the run's process)",
            "store": (
                "local ZenML server (zenml login --local --blocking, 127.0.0.1) with its "
                "SQLite under the scenario run's work/zenml/server; clients over its REST API "
                "(ZENML_STORE_URL)"
                if self.profile == SERVER
                else "SQLite under the scenario run's work/zenml/config (ZENML_CONFIG_PATH)"
            ),
            "server_start_s": self._server_start_s,
            "caching": "on (ingest, validate, featurize, train); off (evaluate, register, canary)",
            "retries": "StepRetryConfig(policy.retries, ceil(policy.retry_delay_s), backoff=1)",
            "timeout": "enforced by the orchbench adapter (ZenML has no step timeout)",
            "deploy_gate": "dynamic pipeline: if deploy.load(): register, canary",
            "timeout_kills": self._timeout_kills,
        }

    def card(self) -> dict[str, str]:
        """The profile's card, from the pipeline file's own constants (cached steps) and
        the cron entry that fires scheduled dates; the timeout kill is ours."""
        cached = source_literal(PIPELINE_FILE, "CACHED")
        uncached = [s for s in STEP_NAMES if s not in cached]
        at = CRON_ENTRY
        return {
            "scheduler": f"none (the local orchestrator refuses schedules): harness runs; "
            f"cron '{at}' when scheduler-fired",
            "executor": "local orchestrator: every step in the run's process",
            "database": (
                "local ZenML server (`zenml login --local --blocking` on 127.0.0.1, its "
                "SQLite in the run's work dir); pipeline and trace are REST clients"
                if self.profile == SERVER
                else "SQLite ZenML store under the run's work dir (ZENML_CONFIG_PATH)"
            ),
            "retries": "StepRetryConfig(max_retries, delay rounded up) from the policy",
            "timeouts": "none in ZenML: the harness kills the hung run (harness help)",
            "fail_fast": "none: StepRetryConfig has no condition (bad data is retried)",
            "alerting": "on_failure hook on every step to the alert sink",
            "caching": f"ZenML cache on {', '.join(cached)} (ingest keyed by our landing "
            f"sha256 parameter); off: {', '.join(uncached)}",
            "parallelism": "one run (date) at a time; steps in sequence, a dynamic gate",
        }

    def stop(self) -> None:
        self.abort()
        self._stop_server()

    def abort(self) -> None:
        if self._driver is not None:
            kill_group(self._driver)
            self._driver = None
        if self._cron is not None:
            self._cron.stop()
            self._cron = None

    # --- runs ---------------------------------------------------------------------------

    def zenml_dir(self, ctx: RunContext) -> Path:
        return ctx.work / "zenml"

    # --- the server profile's local ZenML server (server.py) ----------------------------

    def _start_server(self, ctx: RunContext) -> None:
        """One local ZenML server per scenario run (its state in the run's work dir), so a
        run's cache, runs and model versions are its own, as on ``default``."""
        if self.profile != SERVER:
            return
        self._stop_server()
        ctx.logs.mkdir(parents=True, exist_ok=True)
        server = self.local_server(self.zenml_dir(ctx) / "server", ctx.logs / SERVER_LOG)
        self._server, self._server_run = server, ctx.work
        try:
            server.start(deadline=ctx.deadline)
        except BaseException:
            self._stop_server()  # no URL of a server that is not there
            raise
        self._server_start_s = server.started_s
        jr.harness_event(
            ctx.journal,
            "zenml_server_started",
            url=server.url,
            pids=server.pids(),
            started_s=server.started_s,
        )

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._server_run = None

    def zenml_env(self, ctx: RunContext) -> dict[str, str]:
        """What every ZenML process of the run needs: the store, no analytics, no
        dashboard, a HOME of its own, the policy. On ``server`` the store is the local
        server's URL (``ZENML_STORE_URL``): the processes are its REST clients."""
        url = None
        if self.profile == SERVER:
            if self._server is None or self._server_run != ctx.work:
                raise RuntimeError("the ZenML server of this run is not running")
            url = self._server.url
        return {
            **self.store_env(self.zenml_dir(ctx), url),
            "ORCHBENCH_ZENML_POLICY": ctx.scenario.policy.model_dump_json(),
            "PYTHONUNBUFFERED": "1",
        }

    def local_server(self, root: Path, log: Path) -> LocalServer:
        """The ``server`` profile's local ZenML server (not started), its state under
        ``root``, its output to ``log``."""
        return LocalServer(self.python().parent / "zenml", root, log, {**_clean_env(), **QUIET})

    @staticmethod
    def store_env(root: Path, server_url: str | None = None) -> dict[str, str]:
        """The ZenML part of a ZenML process's environment: its config dir (on ``default``
        the SQLite store and the artifact store too) and a HOME under ``root``, no
        analytics, no dashboard; with ``server_url``, that server as its store."""
        home = root / "home"
        store = {"ZENML_STORE_URL": server_url} if server_url else {}
        return {
            **store,
            "ZENML_CONFIG_PATH": str(root / "config"),
            **QUIET,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
        }

    def _env(self, ctx: RunContext) -> dict[str, str]:
        return {**_clean_env(), **ctx.step_env(), **self.zenml_env(ctx)}

    def command(self, ctx: RunContext, logical_date: str, cache: bool = True) -> list[str]:
        cmd = [str(self.python()), "-m", MODULE, "run", "--logical-date", logical_date]
        return cmd if cache else [*cmd, "--no-cache"]

    def replay_command(
        self, ctx: RunContext, logical_date: str, start: str | None = None
    ) -> list[str]:
        """A replay of the date's last run: of its unsuccessful steps, or (``start``) of
        ``start`` and what follows it, without the cache."""
        cmd = [str(self.python()), "-m", MODULE, "replay", "--logical-date", logical_date]
        return cmd if start is None else [*cmd, "--from", start, "--no-cache"]

    def _new_log(self, ctx: RunContext, logical_date: str) -> Path:
        ctx.logs.mkdir(parents=True, exist_ok=True)
        n = len(self._submissions) + 1
        log = ctx.logs / f"zenml-run-{n:02d}-{logical_date}.log"
        self._submissions.append(log)
        log.write_bytes(b"")
        return log

    def _submit(self, ctx: RunContext, logical_date: str, cmd: list[str]) -> int:
        """One ZenML run (or replay) in its own process group; its exit code."""
        if ctx.remaining() <= 0:
            raise RunTimeout(f"deadline reached before the run for {logical_date}")
        self.zenml_dir(ctx).mkdir(parents=True, exist_ok=True)
        log = self._new_log(ctx, logical_date)
        with log.open("ab") as out:  # O_APPEND: the harness's kill line is appended too
            self._driver = subprocess.Popen(
                cmd,
                env=self._env(ctx),
                cwd=self.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                steps = _Steps(log)
                while True:
                    rc = self._driver.poll()
                    self._watch_steps(ctx, logical_date, steps, ended=rc is not None)
                    if rc is not None:
                        return rc
                    self.watch(ctx, f"the ZenML run of {logical_date}")
                    time.sleep(POLL_S)
            finally:
                kill_group(self._driver)  # nothing a run started may outlive it
                self._driver = None

    def _watch_steps(self, ctx: RunContext, logical_date: str, steps: _Steps, ended: bool) -> None:
        """Follow the run's console; kill the run whose step has run for ``timeout_s``."""
        steps.follow()
        if ended:
            return
        timeout = ctx.scenario.policy.timeout_s
        now = time.monotonic()
        for step, since in list(steps.running.items()):
            if now - since >= timeout:
                self._kill_run(ctx, logical_date, step, timeout, steps.log)
                steps.running.clear()
                return

    def _kill_run(
        self, ctx: RunContext, logical_date: str, step: str, timeout: float, log: Path
    ) -> None:
        """SIGKILL the run's processes (the step runs inside them); journal and log that
        the kill came from the harness."""
        pids = self._run_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._timeout_kills += 1
        jr.harness_assist(
            ctx.journal,
            "timeout_kill",
            f"killed the ZenML run of {logical_date} in {step} after {timeout:g} s",
            logical_date=logical_date,
            step=step,
            pids=pids,
            timeout_s=timeout,
            by="orchbench harness (ZenML has no step timeout; the step runs in the run's process)",
        )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with log.open("a") as f:
            f.write(f"{stamp} - {HARNESS_KILL} '{step}' after {timeout:g} s (pids {pids})\n")

    def _run_pids(self) -> list[int]:
        if self._driver is not None:
            from orchbench.procs import group_pids

            return list(group_pids(self._driver.pid))
        if self._cron is not None and self._cron.sandbox is not None:
            return [p for p in self._cron.sandbox.members() if _is_driver(p)]
        return []

    # --- hooks of the base runner's day loop --------------------------------------------

    def prepare_days(self, ctx: RunContext) -> None:
        self._submissions = []
        self._timeout_kills = 0
        self._start_server(ctx)
        self.compressed = (CRON_LEAD_IN,) if self.fired_by(ctx) != HARNESS else ()

    def fired_by(self, ctx: RunContext) -> str:
        """ZenML's local orchestrator refuses schedules ("does not support scheduling"):
        on a system-scheduled run cron fires each date's run; otherwise the harness."""
        return CRON if ctx.scheduling == SYSTEM else HARNESS

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        if self.fired_by(ctx) == HARNESS:
            self._submit(ctx, date.isoformat(), self.command(ctx, date.isoformat()))
        else:
            self._cron_date(ctx, date)

    # --- fired by cron (system-scheduled runs) ------------------------------------------

    def crontab(self, ctx: RunContext, logical_date: str, log: Path) -> str:
        """One entry at CRON_AT running the command the harness would run, its output
        appended to the run's log; the entry's variables are the run's environment."""
        cmd = self.command(ctx, logical_date)
        i = cmd.index("--logical-date") + 1
        line = (
            f"cd {shlex.quote(str(self.repo_root))} && {shlex.join(cmd[:i])} "
            f'"$LOGICAL_DATE" {shlex.join(cmd[i + 1 :])} >> {shlex.quote(str(log))} 2>&1'
        )
        env = {"LOGICAL_DATE": logical_date, **ctx.step_env(), **self.zenml_env(ctx)}
        return render_crontab(env, {CRON_ENTRY: line})

    def _cron_date(self, ctx: RunContext, date: dt.date) -> None:
        """A fresh cron daemon on the date's clock fires the crontab's one entry; the day
        ends when the job has ended. The adapter's step timeout watches the run's log."""
        logical_date = date.isoformat()
        fire = dt.datetime.combine(date, CRON_AT)
        mailbox = self.zenml_dir(ctx) / "cron-mail" / "root"  # root's local mail
        self.zenml_dir(ctx).mkdir(parents=True, exist_ok=True)
        log = self._new_log(ctx, logical_date)
        tab = self.crontab(ctx, logical_date, log)
        (ctx.logs / CRONTAB_COPY).write_text(tab)
        day = CronDay(
            root=self.zenml_dir(ctx) / "cron" / f"day-{date}",
            crontab=tab,
            stub=mail_stub("root", mailbox, mailbox),
            fake_start=fire - dt.timedelta(seconds=CRON_LEAD_IN_S),
            speed=CRON_SPEED,
            log=ctx.logs / CRON_LOG,
            job_logs=[log],
        )
        steps = _Steps(log)

        def poll() -> bool:
            self.watch(ctx, None)
            idle = day.sandbox is None or not day.sandbox.members()
            self._watch_steps(ctx, logical_date, steps, ended=idle)
            return False

        self._cron = day
        try:
            day.start()
            ended = day.wait_finished(fire, ctx.deadline, ctx.deadline, stop_if=poll)
            assert day.sandbox is not None
            start_ns, fired_ns = day.sandbox.started_at, day.real_time_of(fire)
            self.compressed_wait(ctx, int(start_ns * 1e9), int(fired_ns * 1e9), CRON_LEAD_IN_S)
        except DeadlineReached as e:
            raise RunTimeout(f"{self.name}: {e}") from e
        finally:
            day.stop()
            self._cron = None
        with (ctx.logs / CRON_LOG).open("a") as f:
            f.write(f"# orchbench: day {date} {ended}; daemon killed\n")

    # --- recovery and the trace ---------------------------------------------------------

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        trace = self._trace(ctx) if plan else []
        trusted = ctx.scenario.recovery.action == "rerun_date"
        for logical_date, step in sorted(plan.restart_from.items()):
            last = _last_state(trace, logical_date, step)
            if trusted:
                cmd = self.command(ctx, logical_date, cache=True)
            elif last is None:  # no run of the date: a new run
                cmd = self.command(ctx, logical_date)
            elif last in ("success", "cached"):
                # the step had succeeded (what it read changed): replay the run from it,
                # the steps before it skipped, without the cache (a hit would serve the
                # old result: the change is outside ZenML's cache key)
                cmd = self.replay_command(ctx, logical_date, start=step)
            else:
                cmd = self.replay_command(ctx, logical_date)
            ctx.operator(shlex.join(["python", *cmd[1:]]))
            self._submit(ctx, logical_date, cmd)

    def _trace(self, ctx: RunContext) -> list[dict[str, Any]]:
        """The native trace, read from ZenML's store with ``Client()`` in the ZenML venv
        (``python -m runners.zenml.native``), plus the alert sink's messages."""
        out = self.zenml_dir(ctx) / TRACE_FILE
        if not (self.zenml_dir(ctx) / "config").exists():
            return []
        snapshot = self.zenml_dir(ctx) / SNAPSHOT_FILE
        cmd = [str(self.python()), "-m", f"{MODULE}.native", "--out", str(out)]
        cmd += ["--snapshot", str(snapshot)]
        done = subprocess.run(
            cmd,
            env=self._env(ctx),
            cwd=self.repo_root,
            capture_output=True,
            text=True,
            timeout=max(60.0, min(600.0, ctx.remaining())),
        )
        ctx.logs.mkdir(parents=True, exist_ok=True)
        (ctx.logs / "zenml-native.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"reading ZenML's records failed: {done.stderr.strip()[-500:]}")
        from runners.zenml.alerts import read_alerts

        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        return records + read_alerts(ctx.world.alerts)

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        """The trace (on ``server`` read through the server's API); the run's server is
        stopped after it: collect is the run's last call."""
        try:
            return self._trace(ctx)
        finally:
            self._stop_server()


def _last_state(trace: list[dict[str, Any]], logical_date: str, step: str) -> str | None:
    """ZenML's state of the date's last record of ``step`` (None: no record)."""
    last = None
    for r in trace:
        if (
            r.get("kind") == "task_attempt"
            and r.get("logical_date") == logical_date
            and r.get("step") == step
        ):
            last = r
    return None if last is None else str(last.get("state"))


class _Steps:
    """The steps a run's console shows running (``running``: step -> monotonic time its
    start was seen), read on from where the last read ended."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0
        self.running: dict[str, float] = {}

    def follow(self) -> None:
        try:
            with self.log.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            if m := STARTED.search(line):
                self.running[m.group(1)] = time.monotonic()
            elif m := ENDED.search(line):
                self.running.pop(m.group(1) or m.group(2), None)


def _is_driver(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"-m" in argv and MODULE.encode() in argv
