"""The ``kfp`` runner: the compiled pipeline spec (``pipeline.py``) run by ``kfp.local``.

- The spec: ``build/kfp/daily_retraining.yaml`` (``make kfp-spec``) for the default policy;
  a scenario with another policy gets its own spec compiled next to it (KFP compiles
  retries into the spec). A missing or stale spec is compiled with the same command.
- ``run_days``: one submission per logical date, in date order, each as
  ``.venvs/kfp/bin/python -m runners.kfp run --spec ... --logical-date D`` in its own
  process group: ``kfp.local.SubprocessRunner(use_venv=False)``, caching on, one
  ``pipeline_root`` per scenario run (its cache lives there too).
- Timeouts: the local runner has none, so the adapter watches each submission's console
  output and, when a task has been executing for the policy's ``timeout_s``, SIGKILLs that
  task's processes (never the driver). KFP then sees the task fail and applies its own
  retry policy. The kill is journaled (harness event ``timeout_kill``) and written into the
  submission's log (``orchbench-harness: timeout killed task ...``), so the trace says the
  kill came from the harness.
- ``recover``: the operator re-submits each date of the plan with caching on, so KFP reuses
  the cached outputs that are still valid. When the plan restarts a date at a step whose
  last execution KFP shows as *successful* (the fix changed its input: e.g. a re-delivered
  source partition), its cache entry is stale and KFP cannot invalidate one task's entry, so
  that date is re-submitted with caching off.
- System-scheduled runs (``fired_by``: "cron"): kfp.local has no scheduler, so cron fires
  the same submission from a one-entry crontab, one ``orchbench.crond`` daemon per
  simulated day (``_cron_date``); other scenarios keep harness submissions.
- Scheduler-level faults (handled by the base runner's day loop): ``missed_days``: no
  daemon runs on the down dates and nothing catches up (cron has no catch-up, kfp.local no
  scheduler); the operator re-submits them in recovery (a cluster's recurring run with
  catchup would backfill). ``scheduler_crash``: harness-submitted, the "scheduler" is the
  driver process (``scheduler_processes``: it orchestrates the tasks); the fault SIGKILLs
  it mid-run, ``scheduler_killed`` kills what it left, and after ``restart_after_s``
  ``restart_scheduler`` has the date re-submitted with caching, as a supervisor re-running
  the job would. Cron-fired, ``scheduler_killed`` SIGKILLs the driver alone, its task is
  left orphaned, and cron fires the entry again on a new daemon (``_cron_date``). That
  re-submission is the driver's restart, journaled once as harness help
  (``scheduler_restarted``, by the fault's supervisor), never also as ``resubmitted``.
- Harness help (``orchbench.journal.harness_assist``): ``timeout_kill`` per kill above,
  ``scheduler_restarted`` per driver restart, and on kfp-docker ``memory_limit`` per task
  container (``docker_adapter``). ``recover`` is the operator's: one ``ctx.operator``
  command per date, nothing else.
- ``--kfp-host URL`` (env ``ORCHBENCH_KFP_HOST``, optional ``ORCHBENCH_KFP_NAMESPACE``):
  submit the same compiled spec to a KFP API with ``kfp.Client`` and wait for each run. No
  cluster was reachable where this was built; only the unreachable-host error was tested.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
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
from orchbench.policy import DEFAULT_POLICY, Policy
from orchbench.procs import group_pids, kill_group, venv_versions
from orchbench.runner import HARNESS, SYSTEM, EnvironmentMissing, RunContext, Runner, RunTimeout
from orchbench.workflow.spec import STEP_NAMES
from runners.kfp import native

ENV_PYTHON = "ORCHBENCH_KFP_PYTHON"
ENV_HOST = "ORCHBENCH_KFP_HOST"
ENV_NAMESPACE = "ORCHBENCH_KFP_NAMESPACE"
MODULE = "runners.kfp"
SPEC_NAME = "daily_retraining"
DRIVER = "kfp-local-driver"  # what a scheduler_crash kills
POLL_S = 0.1
SOURCES = ("pipeline.py", "task.py", "__main__.py")
GPU_PROFILE = "gpu-request"
# the pipeline, read (never imported) for the card: it imports kfp
PIPELINE_FILE = Path(__file__).resolve().parent / "pipeline.py"
# System-scheduled runs (``fired_by``): kfp.local has no scheduler, so cron fires the
# submission, from one crontab entry at a fixed minute. One fresh daemon per simulated day
# on a libfaketime clock (``orchbench.crond``), started CRON_LEAD_IN_S fake seconds before
# the entry's minute; at x60 that lead-in lasts 0.5 real seconds.
CRONTAB_COPY = "kfp-crontab.txt"  # the crontab of the last date (what `crontab -l` shows)
CRON = "cron"  # fired_by: cron fires the dates
CRON_LOG = "kfp-cron-daemon.log"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("KFP_", "ORCHBENCH_"))}


class KfpRunner(CronFiredHost, Runner):
    """Kubeflow Pipelines: the compiled IR YAML run by ``kfp.local`` (SubprocessRunner)."""

    cron_log: ClassVar[str] = CRON_LOG

    name = "kfp"
    system = "KFP (local runner)"
    description = "KFP v2 compiled spec on kfp.local: typed artifacts, dsl.If gate, caching"
    # kfp.local has no setting that changes its own overhead: default and tuned are the
    # same. gpu-request: the same pipeline with an accelerator request on train, which the
    # logistic regression cannot use (pipeline.py): it shows what kfp.local does with one.
    profiles: ClassVar[tuple[str, ...]] = ("default", "tuned", GPU_PROFILE)
    runner_faults = frozenset({"scheduler_crash"})

    base_image: str | None = None  # None: the spec's default image (unused by SubprocessRunner)
    timeout_kill: ClassVar[str] = "SIGKILLs a hung task's processes"  # the card's timeouts

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self._driver: subprocess.Popen[bytes] | None = None
        self._cron: CronDay | None = None  # the running date's cron daemon (system-scheduled)
        self._submissions: list[Path] = []
        self._restarts: list[dict[str, Any]] = []  # crashes whose date must be re-submitted
        self._versions: dict[str, str] | None = None
        self._timeout_kills = 0

    # --- environment --------------------------------------------------------------------

    @property
    def host(self) -> str | None:
        return os.environ.get(ENV_HOST) or None

    def python(self) -> Path:
        override = os.environ.get(ENV_PYTHON)
        if override:
            return Path(override)
        return self.repo_root / ".venvs" / "kfp" / "bin" / "python"

    def spec_path(
        self, policy: Policy = DEFAULT_POLICY, step_images: dict[str, str] | None = None
    ) -> Path:
        build = self.repo_root / "build" / "kfp"
        gpu = self.profile == GPU_PROFILE
        if policy == DEFAULT_POLICY and self.base_image is None and not step_images and not gpu:
            return build / f"{SPEC_NAME}.yaml"
        key = policy.model_dump_json() + (self.base_image or "") + json.dumps(step_images or {})
        key += " accelerator" if gpu else ""
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        return build / f"{SPEC_NAME}-{digest}.yaml"

    def check_environment(self) -> None:
        py = self.python()
        if not os.access(py, os.X_OK):
            raise EnvironmentMissing(f"{py} not found: run `make setup` (builds .venvs/kfp)")
        if self.host:
            _probe(self.host)

    def ensure_spec(
        self, policy: Policy = DEFAULT_POLICY, step_images: dict[str, str] | None = None
    ) -> Path:
        """The compiled spec for ``policy`` (and per-step images); compiled (as ``make
        kfp-spec`` does) when missing or older than the pipeline's sources."""
        path = self.spec_path(policy, step_images)
        src = self.repo_root / "runners" / "kfp"
        newest = max((src / f).stat().st_mtime for f in SOURCES)
        if path.exists() and path.stat().st_mtime >= newest:
            return path
        return self.compile(path, policy, step_images)

    def compile(
        self, path: Path, policy: Policy = DEFAULT_POLICY, step_images: dict[str, str] | None = None
    ) -> Path:
        """Compile the pipeline for ``policy`` (and per-step images) into ``path``."""
        cmd = [str(self.python()), "-m", MODULE, "compile", "--out", str(path)]
        if policy != DEFAULT_POLICY:
            cmd += ["--policy", policy.model_dump_json()]
        if self.base_image is not None:
            cmd += ["--base-image", self.base_image]
        for step, image in sorted((step_images or {}).items()):
            cmd += ["--step-image", f"{step}={image}"]
        if self.profile == GPU_PROFILE:
            cmd += ["--accelerator"]
        done = subprocess.run(
            cmd, cwd=self.repo_root, env=_clean_env(), capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise EnvironmentMissing(f"compiling the KFP pipeline failed: {' '.join(tail)}")
        return path

    def export(self, out_dir: Path) -> list[Path]:
        """The compiled spec of the default retry policy, for upload to a KFP cluster
        (``kfp.Client().upload_pipeline``); ``--kfp-host`` runs submit the same file."""
        import shutil

        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{SPEC_NAME}.yaml"
        shutil.copyfile(self.ensure_spec(), target)
        return [target]

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            wanted = ("kfp", "kfp-pipeline-spec", "numpy", "pandas", "pandera", "scikit-learn")
            self._versions = venv_versions(self.python(), wanted)
        return self._versions

    def card(self) -> dict[str, str]:
        """The profile's card, from the pipeline's own constants (``pipeline.py``: cached
        steps, the exit task, the accelerator request of ``gpu-request``), the cron entry
        that fires scheduled dates, and what the adapter does that KFP does not (the
        timeout kill)."""
        cached = source_literal(PIPELINE_FILE, "CACHED")
        uncached = [s for s in STEP_NAMES if s not in cached]
        executor = self.task_executor()
        timeouts = f"none in KFP: the harness {self.timeout_kill} (harness help)"
        if self.host:
            scheduler = "harness submits each date to the cluster's KFP API"
            executor = "the cluster's KFP backend (kfp.Client runs)"
            database = "the cluster's KFP backend"
            timeouts = "none in the KFP spec (the harness kills local tasks only)"
        else:
            at = CRON_ENTRY
            scheduler = f"none in kfp.local: harness submits; cron '{at}' when scheduler-fired"
            database = "none: kfp.local keeps no database (pipeline_root files)"
        if self.profile == GPU_PROFILE:
            gpu = source_literal(PIPELINE_FILE, "TRAIN_ACCELERATOR")
            executor += f"; train requests {gpu['accelerator_type']} x{gpu['accelerator_limit']}"
            executor += "" if self.host else " (not enforced)"
        return {
            "scheduler": scheduler,
            "executor": executor,
            "database": database,
            "retries": "set_retry(retries, backoff retry_delay_s) from the scenario policy",
            "timeouts": timeouts,
            "fail_fast": "none: set_retry has no condition (bad data is retried)",
            "alerting": (
                f"dsl.ExitHandler task {source_literal(PIPELINE_FILE, 'ALERT_TASK')} "
                "to the alert sink; none if the driver dies"
            ),
            "caching": f"KFP cache on {', '.join(cached)}; off: {', '.join(uncached)}",
            "parallelism": "one submission (date) at a time; tasks in sequence (a chain)",
        }

    def task_executor(self) -> str:
        """Where each task runs (the card's executor)."""
        return "SubprocessRunner(use_venv=False): a process per task"

    def settings(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "mode": f"cluster: {self.host}" if self.host else "kfp.local SubprocessRunner",
            "runner": "SubprocessRunner(use_venv=False), one process per task",
            "caching": "on (ingest, validate, featurize, train); off (evaluate, register, canary)",
            "retries": "set_retry(policy.retries, backoff policy.retry_delay_s, factor 1.0)",
            "timeout": "enforced by the orchbench adapter (kfp.local has no task timeout)",
            "spec": str(self.spec_path()),
            "timeout_kills": self._timeout_kills,
        }

    def stop(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self._driver is not None:
            kill_group(self._driver)
            self._driver = None
        if self._cron is not None:
            self._cron.stop()  # the daemon's namespace: the job and its tasks with it
            self._cron = None

    # --- runs ---------------------------------------------------------------------------

    def _env(self, ctx: RunContext) -> dict[str, str]:
        return self.driver_env(ctx.step_env())

    def driver_env(self, extra: dict[str, str]) -> dict[str, str]:
        """A submission's environment: ours without KFP_/ORCHBENCH_ variables, plus
        ``extra`` (a run's step environment) and PYTHONUNBUFFERED (kfp-docker: DOCKER_HOST)."""
        return {**_clean_env(), **extra, "PYTHONUNBUFFERED": "1"}

    def pipeline_root(self, ctx: RunContext) -> Path:
        return ctx.work / "kfp" / "pipeline_root"

    def command(self, ctx: RunContext, logical_date: str, cache: bool = True) -> list[str]:
        spec = self.spec_for(ctx, logical_date)
        floor = ctx.scenario.gate.min_accuracy or 0.0
        verb = ["submit", "--host", self.host, "--wait"] if self.host else ["run"]
        cmd = [str(self.python()), "-m", MODULE, *verb, "--spec", str(spec)]
        cmd += ["--logical-date", logical_date, "--min-accuracy", f"{floor:g}"]
        if not self.host:
            cmd += ["--pipeline-root", str(self.pipeline_root(ctx)), *self.local_args(ctx)]
        if self.host and os.environ.get(ENV_NAMESPACE):
            cmd += ["--namespace", os.environ[ENV_NAMESPACE]]
        return cmd if cache else [*cmd, "--no-cache"]

    def spec_for(self, ctx: RunContext, logical_date: str) -> Path:
        """The compiled spec a date is submitted with (kfp-docker: per-step images)."""
        return self.ensure_spec(ctx.scenario.policy)

    def local_args(self, ctx: RunContext) -> list[str]:
        """Extra ``run`` arguments of the local runner (kfp-docker: the DockerRunner's)."""
        return []

    def kill_running_task(self, ctx: RunContext) -> dict[str, list[Any]]:
        """SIGKILL the running task (every process of the driver's group but the driver;
        fired by cron: every process of the daemon's namespace but the daemon, the driver
        and the job's shell); returns what was killed, e.g. ``{"pids": [...]}``."""
        if self._cron is not None:
            pids = self._cron_task_pids()
        else:
            assert self._driver is not None
            pids = [p for p in group_pids(self._driver.pid) if p != self._driver.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return {"pids": pids}

    def after_submission(self, ctx: RunContext) -> None:
        """Kill whatever the submission started that outlived its driver."""
        if self._driver is not None:
            kill_group(self._driver)

    def _submit(self, ctx: RunContext, logical_date: str, cache: bool = True) -> int:
        """One submission in its own process group; returns the driver's exit code."""
        if ctx.remaining() <= 0:
            raise RunTimeout(f"deadline reached before the submission for {logical_date}")
        ctx.logs.mkdir(parents=True, exist_ok=True)
        n = len(self._submissions) + 1
        log = ctx.logs / f"kfp-submission-{n:02d}-{logical_date}.log"
        self._submissions.append(log)
        # O_APPEND for the driver too: the timeout kill's line (appended by the harness)
        # must not be overwritten by the driver writing at its own file offset.
        log.write_bytes(b"")
        with log.open("ab") as out:
            self._driver = subprocess.Popen(
                self.command(ctx, logical_date, cache),
                env=self._env(ctx),
                cwd=self.repo_root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.scheduler_changed(ctx)
            rc = self._watch(ctx, logical_date, log)
        self.after_submission(ctx)  # nothing a submission started may outlive it
        self._driver = None
        return rc

    def _watch(self, ctx: RunContext, logical_date: str, log: Path) -> int:
        """Wait for the driver; kill a task that runs past the policy's timeout."""
        assert self._driver is not None
        tasks = _Tasks(log)
        while True:
            rc = self._driver.poll()
            self._watch_tasks(ctx, logical_date, tasks, ended=rc is not None)
            if rc is not None:
                return rc
            self.watch(ctx, f"submission for {logical_date}")
            time.sleep(POLL_S)

    def _watch_tasks(self, ctx: RunContext, logical_date: str, tasks: _Tasks, ended: bool) -> None:
        """Read the submission's console output so far; kill a task executing for the
        policy's ``timeout_s`` (unless the submission ``ended``)."""
        for task in tasks.follow():
            self.task_started(ctx, logical_date, task)
        if ended:
            return
        timeout = ctx.scenario.policy.timeout_s
        now = time.monotonic()
        for task, since in list(tasks.running.items()):
            if now - since >= timeout:
                self._kill_task(ctx, logical_date, task, timeout, tasks.log)
                tasks.running.pop(task)

    def task_started(self, ctx: RunContext, logical_date: str, task: str) -> None:
        """kfp.local began executing ``task`` (its console said so); kfp-docker journals the
        memory limit the adapter gave its container."""

    def _kill_task(
        self, ctx: RunContext, logical_date: str, task: str, timeout: float, log: Path
    ) -> None:
        """Kill the running task (``kill_running_task``); journal and log that the kill came
        from the harness."""
        killed = self.kill_running_task(ctx)
        self._timeout_kills += 1
        jr.harness_assist(
            ctx.journal,
            "timeout_kill",
            f"killed {task} of {logical_date} after {timeout:g} s",
            logical_date=logical_date,
            step=task,
            **killed,
            timeout_s=timeout,
            by="orchbench harness (kfp.local has no task timeout)",
        )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        with log.open("a") as f:
            f.write(
                f"{stamp} - {native.HARNESS_KILL} '{task}' after {timeout:g} s "
                f"({json.dumps(killed)}; kfp.local has no task timeout)\n"
            )

    def _submit_until_done(self, ctx: RunContext, logical_date: str, cache: bool = True) -> None:
        """Submit; if the driver was killed and restarted meanwhile (``restart_scheduler``),
        re-submit (caching on), as a supervisor re-running the job would."""
        while True:
            self._restarts = []
            self._submit(ctx, logical_date, cache)
            self.watch(ctx, None)  # a crash seen as it ended (the date is done: no deadline)
            if not self._restarts:
                return
            with (ctx.logs / "kfp-driver-restarts.log").open("a") as f:
                f.write(f"{self._restarts}: re-submitting {logical_date} with caching\n")
            # This re-submission IS the driver's restart: the fault's supervisor journaled it
            # once as harness help (scheduler_restarted) when restart_scheduler marked it; a
            # second record (resubmitted) would count the same act twice.
            cache = True

    # --- hooks of the base runner's day loop --------------------------------------------

    def prepare_days(self, ctx: RunContext) -> None:
        """A new scenario run: one runner serves a whole bench lane, so forget the
        submissions of the runs before (their logs are in those runs' directories)."""
        self._submissions = []
        self._timeout_kills = 0
        self.compressed = (CRON_LEAD_IN,) if self.fired_by(ctx) != HARNESS else ()

    def deploy_code(self, ctx: RunContext, step: str, revision: int) -> None:
        """What a KFP team does with new code: recompile the pipeline, then submit the next
        dates (each date is a new submission anyway). The step's code lives in the team's
        repository (``world/code``), which no component's image or command in the spec
        contains, so the recompiled spec names the same code for every task and the code
        versions KFP records (``native.Spec.code``, read from the spec) stay the same;
        logs/kfp-deploys.log says which tasks' versions changed (measured: none)."""
        ctx.logs.mkdir(parents=True, exist_ok=True)
        path = self.compile(
            ctx.work / "kfp" / f"recompiled-{step}-r{revision}.yaml", ctx.scenario.policy
        )
        before = native.Spec.load(self.ensure_spec(ctx.scenario.policy)).code
        after = native.Spec.load(path).code
        changed = sorted(t for t in after if after[t] != before.get(t))
        with (ctx.logs / "kfp-deploys.log").open("a") as f:
            f.write(
                f"{step} revision {revision}: recompiled {path.name}; "
                f"tasks whose code version changed: {changed or 'none'}\n"
            )

    def fired_by(self, ctx: RunContext) -> str:
        """kfp.local has no scheduler of its own: on a system-scheduled run cron fires
        each date's submission (``_cron_date``); otherwise the harness submits it."""
        return CRON if ctx.scheduling == SYSTEM else HARNESS

    def run_date(self, ctx: RunContext, date: dt.date) -> None:
        """One submission of the date: by the harness, or, system-scheduled, by cron (a
        down date is simply not submitted: no daemon runs that day)."""
        if self.fired_by(ctx) == HARNESS:
            self._submit_until_done(ctx, date.isoformat())
        else:
            self._cron_date(ctx, date)

    # --- fired by cron (system-scheduled runs) ------------------------------------------

    def cron_env(self, ctx: RunContext) -> dict[str, str]:
        """The crontab's variables: what the submission needs beyond what cron gives every
        job (HOME, LOGNAME, SHELL, PATH=/usr/bin:/bin): the step environment and
        PYTHONUNBUFFERED (kfp-docker: DOCKER_HOST too)."""
        return {**ctx.step_env(), "PYTHONUNBUFFERED": "1"}

    def crontab(self, ctx: RunContext, logical_date: str, log: Path) -> str:
        """One entry at CRON_AT running the submission the harness would run, output
        appended to the submission's log. No MAILTO (see the README)."""
        cmd = self.command(ctx, logical_date)
        i = cmd.index("--logical-date") + 1
        line = (
            f"cd {shlex.quote(str(self.repo_root))} && {shlex.join(cmd[:i])} "
            f'"$LOGICAL_DATE" {shlex.join(cmd[i + 1 :])} >> {shlex.quote(str(log))} 2>&1'
        )
        env = {"LOGICAL_DATE": logical_date, **self.cron_env(ctx)}
        return render_crontab(env, {CRON_ENTRY: line})

    def _cron_date(self, ctx: RunContext, date: dt.date) -> None:
        """A fresh cron daemon on the date's clock fires the crontab's one entry; the day
        ends when the job (and everything it started) has ended. The adapter's task
        timeout watches the submission's log as when the harness submits.

        ``scheduler_crash``: the crash SIGKILLs the KFP driver (``scheduler_killed``);
        kfp.local leaves the executing task running, orphaned (its output pipe to the
        driver is gone). The day ends once nothing of the job runs; cron, which outlived
        its job, never fires a passed minute again, so nothing re-runs the date
        (``restart_scheduler`` returns False): the operator does."""
        logical_date = date.isoformat()
        fire = dt.datetime.combine(date, CRON_AT)
        mailbox = ctx.work / "kfp" / "cron-mail" / "root"  # root's local mail: nobody reads
        for n in itertools.count():
            self._restarts = []
            log = self._new_log(ctx, logical_date)
            tab = self.crontab(ctx, logical_date, log)
            (ctx.logs / CRONTAB_COPY).write_text(tab)
            day = CronDay(
                root=ctx.work / "kfp" / "cron" / f"day-{date}{f'-restart{n}' if n else ''}",
                crontab=tab,
                stub=mail_stub("root", mailbox, mailbox),
                fake_start=fire - dt.timedelta(seconds=CRON_LEAD_IN_S),
                speed=CRON_SPEED,
                log=ctx.logs / CRON_LOG,
                job_logs=[log],
            )
            tasks = _Tasks(log)

            def poll(day: CronDay = day, tasks: _Tasks = tasks) -> bool:
                self.watch(ctx, None)  # the deadline: wait_finished's own check
                idle = day.sandbox is None or not day.sandbox.members()
                ended = idle and not self.job_left(ctx)
                self._watch_tasks(ctx, logical_date, tasks, ended=ended)
                return False

            self._cron = day
            since = time.time() - 1  # for kfp-docker's container events; 1 s of margin
            try:
                day.start()
                ended = day.wait_finished(fire, ctx.deadline, ctx.deadline, stop_if=poll)
                while self.job_left(ctx):  # kfp-docker: a container outlived its driver
                    poll()
                    self.watch(ctx, f"what {logical_date}'s cron job left running")
                    time.sleep(POLL_S)
                self._watch_tasks(ctx, logical_date, tasks, ended=True)
                assert day.sandbox is not None
                # the daemon's lead-in before the entry's minute, on its x60 clock
                start_ns, fired_ns = day.sandbox.started_at, day.real_time_of(fire)
                self.compressed_wait(ctx, int(start_ns * 1e9), int(fired_ns * 1e9), CRON_LEAD_IN_S)
            except DeadlineReached as e:
                raise RunTimeout(f"{self.name}: {e}") from e
            finally:
                self.after_cron_job(ctx, since)
                day.stop()
                self._cron = None
                self.watch(ctx, None)  # a crash seen as the day ended belongs to it
            with (ctx.logs / CRON_LOG).open("a") as f:
                f.write(f"# orchbench: day {date} {ended}; daemon killed\n")
            if not self._restarts:
                return
            with (ctx.logs / "kfp-driver-restarts.log").open("a") as f:
                f.write(f"{self._restarts}: cron fires {logical_date}'s entry again\n")

    def _new_log(self, ctx: RunContext, logical_date: str) -> Path:
        ctx.logs.mkdir(parents=True, exist_ok=True)
        log = ctx.logs / f"kfp-submission-{len(self._submissions) + 1:02d}-{logical_date}.log"
        self._submissions.append(log)
        log.write_bytes(b"")
        return log

    def job_left(self, ctx: RunContext) -> bool:
        """Whether something the day's job started still runs outside the daemon's
        namespace (kfp-docker: a task's container); the day waits for it."""
        return False

    def after_cron_job(self, ctx: RunContext, since: float) -> None:
        """The day's job (started after epoch second ``since``) ended, or the day is cut:
        kfp-docker records its containers' events and removes those left."""

    def _cron_driver(self) -> int | None:
        """Host pid of the KFP driver cron started (``python -m runners.kfp``), if alive."""
        if self._cron is None or self._cron.sandbox is None:
            return None
        for pid in self._cron.sandbox.members():
            if _is_driver(pid):
                return pid
        return None

    def _cron_task_pids(self) -> list[int]:
        """The daemon namespace's processes but the daemon, the driver and its shell."""
        assert self._cron is not None and self._cron.sandbox is not None
        driver = self._cron_driver()
        keep = set(_ancestors(driver)) if driver is not None else set()
        return [p for p in self._cron.sandbox.members() if p not in keep]

    def scheduler_processes(self, ctx: RunContext) -> dict[str, list[int]]:
        """The driver of the running submission orchestrates its tasks. Fired by cron, the
        driver lives in the daemon's PID namespace, where the crash's step process reads
        other pid numbers: nothing is registered and ``scheduler_killed`` kills it."""
        return {DRIVER: [self._driver.pid]} if self._driver is not None else {}

    def scheduler_killed(self, ctx: RunContext, crash: dict[str, Any]) -> None:
        """Kill what the killed driver left running. Fired by cron: SIGKILL the driver
        alone; what it was running is left to itself, as on a host (see _cron_date)."""
        if self._driver is not None:
            self.after_submission(ctx)
        driver = self._cron_driver()
        if driver is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(driver, signal.SIGKILL)
            with (ctx.logs / "kfp-driver-restarts.log").open("a") as f:
                f.write(f"SIGKILLed the KFP driver (host pid {driver}) cron had started\n")

    def restart_scheduler(self, ctx: RunContext, crash: dict[str, Any]) -> bool | None:
        """Harness-fired: the driver is restarted by re-submitting the date
        (``_submit_until_done``), as a supervisor re-running the job would. Fired by cron:
        the driver was a cron job and cron, still running, never runs a job again whose
        minute passed; nothing restarts it (False: no restart, no harness help), so the
        rest of the date waits for the operator."""
        if self.fired_by(ctx) != HARNESS:
            with (ctx.logs / "kfp-driver-restarts.log").open("a") as f:
                f.write("cron does not re-run the killed driver's job: nothing restarts it\n")
            return False
        self._restarts.append(crash)
        return None

    def recover(self, ctx: RunContext, plan: RecoveryPlan) -> None:
        trace = self._trace(ctx) if plan else []
        trusted = ctx.scenario.recovery.action == "rerun_date"
        for logical_date, step in sorted(plan.restart_from.items()):
            # a restart from a step that had succeeded (it let bad data in) needs caching
            # off: kfp.local cannot refresh one task's cache; a re-run that trusts the
            # cache (recovery action rerun_date) leaves it on
            cache = trusted or not _succeeded(trace, logical_date, step)
            cmd = self.command(ctx, logical_date, cache)
            ctx.operator(shlex.join(["python", *cmd[1:]]))
            self._submit_until_done(ctx, logical_date, cache)

    def _trace(self, ctx: RunContext) -> list[dict[str, Any]]:
        if self.host:
            return native.collect_cluster(self._submissions, self.ensure_spec(ctx.scenario.policy))
        return native.collect(
            self._submissions,
            self.pipeline_root(ctx),
            self.ensure_spec(ctx.scenario.policy),
            ctx.world.alerts,
        )

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        return self._trace(ctx)


def _succeeded(trace: list[dict[str, Any]], logical_date: str, step: str) -> bool:
    """Whether KFP's last record of ``step`` for the date is a success or a cache hit (its
    cache entry would then be reused by a re-submission)."""
    last = None
    for r in trace:
        if (
            r.get("kind") == "task_attempt"
            and r.get("logical_date") == logical_date
            and r.get("step") == step
        ):
            last = r
    return last is not None and last.get("state") in ("success", "cached")


class _Tasks:
    """The tasks a submission's console output shows executing (``running``: task ->
    monotonic time its execution was seen), read on from where the last read ended."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0
        self.running: dict[str, float] = {}

    def follow(self) -> list[str]:
        """Read what was appended; the tasks whose execution began in it."""
        self.offset, started = _follow(self.log, self.offset, self.running)
        return started


def _is_driver(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"-m" in argv and MODULE.encode() in argv


def _ancestors(pid: int) -> list[int]:
    """``pid`` and its parents up to the namespace's PID 1's children, from /proc."""
    out = []
    while pid > 1:
        out.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _follow(log: Path, offset: int, running: dict[str, float]) -> tuple[int, list[str]]:
    """Read the log from ``offset``; track which tasks are executing. Returns the new offset
    and the tasks whose execution began in what was read."""
    try:
        with log.open("rb") as f:
            f.seek(offset)
            chunk = f.read()
    except FileNotFoundError:
        return offset, []
    end = chunk.rfind(b"\n") + 1
    started: list[str] = []
    for raw in chunk[:end].decode(errors="replace").splitlines():
        sub = native.Submission(log)
        native.add_event(sub, 0, native.message(raw))
        for e in sub.events:
            if e.kind == "exec" and e.task:
                running[e.task] = time.monotonic()
                started.append(e.task)
            elif e.kind == "done" and e.task:
                running.pop(e.task, None)
    return offset + end, started


def _probe(host: str) -> None:
    """Fail clearly when the KFP API at ``host`` does not answer its health endpoint."""
    url = host.rstrip("/") + "/apis/v2beta1/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            json.loads(resp.read() or b"{}")
    except (OSError, urllib.error.URLError, ValueError) as e:
        raise EnvironmentMissing(f"the KFP API at {host} is not reachable ({url}: {e})") from e
