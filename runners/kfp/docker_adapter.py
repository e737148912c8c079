"""The ``kfp-docker`` runner: the ``kfp`` pipeline with ``kfp.local.DockerRunner``.

Everything the ``kfp`` runner does (one submission per date, the adapter's timeout, cached
re-submission, the trace from the run directory and spec), except where each task runs:
in its own container from the step image ``make image`` builds (``orchbench-step:<hash>``,
Debian + the ``kfp`` lock + this project's source; no registry pull is possible here).

- The spec: the same pipeline compiled with every component's ``base_image`` set to that
  image (``--base-image``), next to the default spec (``build/kfp/daily_retraining-*.yaml``).
- The daemon: ``start`` starts the harness's own dockerd (``orchbench.containers.daemon``)
  and builds or reuses the image; ``stop`` removes this runner's containers and stops the
  daemon, so nothing it started outlives a run. ``ORCHBENCH_DOCKER_HOST`` (``--docker-host``)
  uses a daemon the user runs instead, which is then never stopped.
- Containers: ``DockerRunner(environment=the step env, mounts=[the run directory at the
  same path], labels={orchbench.run: <run id>}, network_mode=none)``. The run directory holds
  the journal, heartbeats, world and pipeline root (KFP mounts the root itself too), so
  the step journal reaches the run directory. Each attempt journals its container's id and
  the memory limit it ran under (``orchbench.containers.inside``).
- Timeouts: the running task's container is ``docker kill``ed (exit 137); KFP sees the task
  fail and retries it. A container left by a killed driver is removed after the submission.
- Per-step images: a step whose code needs another library version on a date
  (``env_mismatch``: a requirement the scenario declares, as a team knows its step's needs)
  gets a variant of the step image with that version (``image.ensure_variant``), and that
  date is submitted with a spec compiled with the variant as that component's image. The
  other steps, and the other dates, keep the shared image.
- Resource limits: kfp.local passes none of the spec's resource fields to Docker (only the
  DockerRunner's own arguments). The adapter reads the memory limit the spec declares
  (``set_memory_limit``) and gives it to every container (``mem_limit`` = ``memswap_limit``),
  as a cluster's kubelet would; when steps declare different limits, the largest (one
  DockerRunner serves the whole submission). That is harness help: journaled as a
  ``memory_limit`` assist per task execution (container), and the ``declared`` record says
  ``enforced: []`` with ``applied_by_harness: ["memory_limit"]``. CPU and accelerator
  requests are not enforced. The journal's ``memory_limit_bytes`` shows what each
  container really had; the daemon's ``die``/``oom`` events (``logs/docker-events.jsonl``,
  read after every submission because kfp.local removes its containers) become
  ``container`` trace records, so a kernel OOM kill is the container system's own report,
  not ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from orchbench import journal as jr
from orchbench import trace
from orchbench.containers import daemon as dd
from orchbench.containers import image as img
from orchbench.containers.limits import memory_bytes
from orchbench.runner import EnvironmentMissing, RunContext
from runners.kfp import native
from runners.kfp.adapter import KfpRunner

ENV_DOCKER_HOST = "ORCHBENCH_DOCKER_HOST"
# the lock the step image's venv installs: the kfp runner's own (runner.mk's IMAGE_LOCK)
IMAGE_LOCK = Path(__file__).resolve().parent / "requirements.txt"
LABEL = "orchbench.run"
EVENTS_LOG = "docker-events.jsonl"


class KfpDockerRunner(KfpRunner):
    """KFP's local DockerRunner: every task in its own container from the step image."""

    name = "kfp-docker"
    system = "KFP (local DockerRunner)"
    description = "the kfp pipeline on kfp.local.DockerRunner: one container per task"
    timeout_kill = "docker-kills a hung task's container"

    def __init__(self, profile: str = "default", repo_root: Path | None = None) -> None:
        super().__init__(profile, repo_root)
        self._daemon: dd.DockerDaemon | None = None
        self._docker_env: dict[str, str] | None = None
        self._run_ids: set[str] = set()
        self._docker_version = "unknown (daemon not started)"
        self._variants: set[str] = set()
        self._limit: int | None = None  # the --mem-limit of the running submission
        self._declared_limits: dict[str, str | None] = {}  # step -> its declared limit

    @property
    def user_docker_host(self) -> str | None:
        return os.environ.get(ENV_DOCKER_HOST) or None

    def check_environment(self) -> None:
        super().check_environment()
        if self.host:
            raise EnvironmentMissing("kfp-docker runs kfp.local; use --runner kfp with --kfp-host")
        if not self.user_docker_host:
            try:
                dd.check_can_run()
            except dd.DockerUnavailable as e:
                raise EnvironmentMissing(f"kfp-docker: {e}") from e

    def start(self, matrix_dir: Path) -> None:
        if self._docker_env is not None:
            return
        if self.user_docker_host:
            self._docker_env = {**os.environ, "DOCKER_HOST": self.user_docker_host}
            self._docker_version = _docker_version(self._docker_env)
            self.base_image = img.image_tag(IMAGE_LOCK)
            if not img.image_on(self._docker_env, self.base_image):
                raise EnvironmentMissing(
                    f"{self.base_image} is not on {self.user_docker_host}: load it there "
                    "(make image builds it into the harness's own daemon)"
                )
            return
        matrix_dir.mkdir(parents=True, exist_ok=True)
        self._daemon = dd.DockerDaemon(log_path=matrix_dir / "dockerd.log")
        try:
            self._daemon.start()
            self.base_image = img.ensure_image(self._daemon, IMAGE_LOCK)
        except (dd.DockerUnavailable, RuntimeError) as e:
            self._daemon.stop()
            self._daemon = None
            raise EnvironmentMissing(f"kfp-docker: {e}") from e
        self._docker_env = self._daemon.env()
        self._docker_version = _docker_version(self._docker_env)

    def abort(self) -> None:
        """Kill the driver and remove every container this runner's runs started."""
        super().abort()
        if self._docker_env is not None:
            for run_id in sorted(self._run_ids):
                dd.remove_containers(self._docker_env, f"{LABEL}={run_id}")

    def stop(self) -> None:
        super().stop()  # KfpRunner.stop is abort()
        self._run_ids.clear()
        if self._daemon is not None:
            self._daemon.stop()
            self._daemon = None
        self._docker_env = None

    # --- hooks of the kfp runner --------------------------------------------------------

    def driver_env(self, extra: dict[str, str]) -> dict[str, str]:
        assert self._docker_env is not None, "kfp-docker not started"
        return {**super().driver_env(extra), "DOCKER_HOST": self._docker_env["DOCKER_HOST"]}

    def cron_env(self, ctx: RunContext) -> dict[str, str]:
        assert self._docker_env is not None, "kfp-docker not started"
        return {**super().cron_env(ctx), "DOCKER_HOST": self._docker_env["DOCKER_HOST"]}

    def spec_for(self, ctx: RunContext, logical_date: str) -> Path:
        assert self._docker_env is not None and self.base_image is not None
        needs = {
            step: reqs for (date, step), reqs in ctx.requirements.items() if date == logical_date
        }
        if not needs:
            return super().spec_for(ctx, logical_date)
        images = {
            step: img.ensure_variant(self._docker_env, self.base_image, reqs)
            for step, reqs in needs.items()
        }
        self._variants.update(images.values())
        return self.ensure_spec(ctx.scenario.policy, images)

    def local_args(self, ctx: RunContext) -> list[str]:
        limit = self._limit = self.memory_limit(ctx)
        return self.docker_args(ctx.run_id, [ctx.run_dir], list(ctx.step_env()), limit)

    def docker_args(
        self, run_id: str, mounts: list[Path], env: list[str], limit: int | None
    ) -> list[str]:
        """The driver's DockerRunner arguments: containers labelled with ``run_id`` (which
        ``abort``/``stop`` remove), ``mounts`` at the same path, the ``env`` variables and
        PYTHONUNBUFFERED passed, memory capped at ``limit`` bytes (None: no cap)."""
        self._run_ids.add(run_id)
        args = ["--docker", "--label", f"{LABEL}={run_id}"]
        for mount in mounts:
            args += ["--mount", str(mount)]
        for name in [*env, "PYTHONUNBUFFERED"]:
            args += ["--env", name]
        return [*args, "--mem-limit", str(limit)] if limit else args

    def task_started(self, ctx: RunContext, logical_date: str, task: str) -> None:
        """Journal the memory limit the adapter gave this task's container (harness help:
        kfp.local's DockerRunner passes none of the spec's resources to Docker)."""
        if not self._limit:
            return
        jr.harness_assist(
            ctx.journal,
            "memory_limit",
            f"ran {task} of {logical_date} with mem_limit=memswap_limit={self._limit} bytes",
            logical_date=logical_date,
            step=task,
            memory_limit_bytes=self._limit,
            declared=self._declared_limits.get(task),
            by="orchbench adapter: DockerRunner(mem_limit=..., memswap_limit=...); "
            + native.LOCAL_ENFORCES_NOTE,
        )

    def memory_limit(self, ctx: RunContext) -> int | None:
        """The largest per-step memory limit the spec declares, in bytes (None: none)."""
        resources = native.declared_from_spec(self.ensure_spec(ctx.scenario.policy))["resources"]
        self._declared_limits = {s: r.get("memory_limit") for s, r in resources.items()}
        limits = [memory_bytes(r.get("memory_limit")) for r in resources.values()]
        return max((b for b in limits if b), default=None)

    def _submit(self, ctx: RunContext, logical_date: str, cache: bool = True) -> int:
        since = time.time() - 1  # the daemon's clock is this machine's; 1 s of margin
        try:
            return super()._submit(ctx, logical_date, cache)
        finally:
            self._record_events(ctx, since)

    def _record_events(self, ctx: RunContext, since: float) -> None:
        """Append the daemon's die/oom events of this run's containers since ``since``."""
        if self._docker_env is None:
            return
        events = dd.container_events(self._docker_env, f"{LABEL}={ctx.run_id}", since)
        ctx.logs.mkdir(parents=True, exist_ok=True)
        with (ctx.logs / EVENTS_LOG).open("a") as f:
            f.writelines(json.dumps(e) + "\n" for e in events)

    def job_left(self, ctx: RunContext) -> bool:
        """A task container the killed driver left runs on (Docker keeps it): measured on
        scheduler_crash, the orphaned featurize container exited 0 by itself."""
        if self._docker_env is None:
            return False
        return bool(dd.containers(self._docker_env, f"{LABEL}={ctx.run_id}", running_only=True))

    def after_cron_job(self, ctx: RunContext, since: float) -> None:
        self._record_events(ctx, since)
        if self._docker_env is not None:
            dd.remove_containers(self._docker_env, f"{LABEL}={ctx.run_id}")

    def kill_running_task(self, ctx: RunContext) -> dict[str, list[Any]]:
        assert self._docker_env is not None
        return {"containers": dd.kill_containers(self._docker_env, f"{LABEL}={ctx.run_id}")}

    def after_submission(self, ctx: RunContext) -> None:
        super().after_submission(ctx)
        if self._docker_env is not None:
            dd.remove_containers(self._docker_env, f"{LABEL}={ctx.run_id}")

    def collect(self, ctx: RunContext) -> list[dict[str, Any]]:
        records = super().collect(ctx)
        if self.memory_limit(ctx):  # the adapter, not kfp.local, gave every container one
            for r in records:
                if r["kind"] == "declared":
                    for res in r["resources"].values():
                        res["applied_by_harness"] = ["memory_limit"]
        return [*records, *containers_from_events(ctx.logs / EVENTS_LOG)]

    def versions(self) -> dict[str, str]:
        v = dict(super().versions())
        v["docker"] = self._docker_version
        return v

    def task_executor(self) -> str:
        return "DockerRunner: a container per task, no network; harness sets memory limit"

    def settings(self) -> dict[str, Any]:
        s = super().settings()
        s["mode"] = "kfp.local DockerRunner"
        s["runner"] = "DockerRunner: one container per task, run dir bind-mounted, no network"
        s["timeout"] = "enforced by the orchbench adapter: docker kill of the task's container"
        s["spec"] = str(self.spec_path())
        s["docker_host"] = self.user_docker_host or "the harness's own dockerd"
        s["image"] = self.base_image
        s["image_manifest"] = img.manifest(self.base_image) if self.base_image else None
        s["variant_images"] = {v: img.manifest(v) for v in sorted(self._variants)}
        s["resource_limits"] = (
            "the spec's memory limit (largest of its tasks) passed to every container by the "
            "adapter, journaled as harness help (memory_limit); CPU and accelerator requests "
            "not enforced (kfp.local passes none)"
        )
        return s


def containers_from_events(path: Path) -> list[dict[str, Any]]:
    """One ``container`` trace record per container in a Docker events log (JSONL)."""
    seen: dict[str, dict[str, Any]] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        e = json.loads(line)
        cid = e.get("id") or (e.get("Actor") or {}).get("ID")
        if not cid:
            continue
        rec = seen.setdefault(
            cid,
            trace.container(
                container_id=cid, oom_killed=False, exit_code=None, t_ns=None,
                source="docker-events",
            ),
        )  # fmt: skip
        attrs = (e.get("Actor") or {}).get("Attributes") or {}
        if e.get("Action") == "oom":
            rec["oom_killed"] = True
        elif e.get("Action") == "die":
            code = attrs.get("exitCode")
            rec["exit_code"] = int(code) if str(code).isdigit() else None
            rec["t_ns"] = e.get("timeNano")
    return list(seen.values())


def _docker_version(env: dict[str, str]) -> str:
    r = subprocess.run([str(dd.DOCKER_CLI), "version", "--format", "{{.Server.Version}}"],
                       env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    return r.stdout.strip() or "unknown"
