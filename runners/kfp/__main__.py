"""``python -m runners.kfp``: compile the pipeline, run it locally, or submit it to a cluster.

- ``compile --out FILE [--policy JSON] [--accelerator]``: the KFP IR YAML (``make kfp-spec``
  runs this); ``--accelerator`` adds the accelerator request on ``train`` (gpu-request).
- ``run --spec FILE --logical-date D --pipeline-root DIR [--min-accuracy X] [--no-cache]``:
  one submission of the compiled spec to ``kfp.local`` (``SubprocessRunner(use_venv=False)``:
  each task is a subprocess of this interpreter; caching on unless ``--no-cache``). Exit 0
  when the pipeline succeeded, 1 when KFP reported it failed. With ``--docker``:
  ``DockerRunner`` instead, every task in its own container from the spec's image, on the
  daemon at ``DOCKER_HOST``; ``--mount DIR`` (repeatable) bind-mounts a host directory at
  the same path, ``--env NAME`` passes a variable of this process's environment, and
  ``--label K=V`` labels every container (the adapter finds them by it); ``--mem-limit B``
  caps every container's memory (and memory+swap) at B bytes. No network.
- ``submit --host URL --spec FILE --logical-date D [...]``: the same compiled spec to a KFP
  API with ``kfp.Client(host=URL).create_run_from_pipeline_package``; prints the run id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

RUN_STARTED = "orchbench-kfp: submitting"  # the driver's first line: the run's arguments
RUN_ENDED = "orchbench-kfp: pipeline run"  # the driver's last line: state and message
BASE_IMAGE_ENV = "ORCHBENCH_KFP_BASE_IMAGE"  # compile: the components' image
STEP_IMAGES_ENV = "ORCHBENCH_KFP_STEP_IMAGES"  # compile: step=image overrides


def _compile(args: argparse.Namespace) -> int:
    from orchbench.policy import DEFAULT_POLICY, Policy

    if args.base_image:  # read when runners.kfp.pipeline's components are defined
        os.environ[BASE_IMAGE_ENV] = args.base_image
    if args.step_image:
        os.environ[STEP_IMAGES_ENV] = ",".join(args.step_image)
    from runners.kfp.pipeline import compile_spec

    policy = Policy.model_validate_json(args.policy) if args.policy else DEFAULT_POLICY
    print(compile_spec(Path(args.out), policy, accelerator=args.accelerator))
    return 0


def _arguments(args: argparse.Namespace) -> dict[str, object]:
    return {"logical_date": args.logical_date.isoformat(), "min_accuracy": args.min_accuracy}


def _say(message: str) -> None:
    now = dt.datetime.now().isoformat(sep=" ", timespec="milliseconds")
    print(f"{now} - {message}", flush=True)


def _run(args: argparse.Namespace) -> int:
    import json
    import logging

    from kfp import components, local

    # kfp.local logs cache hits, retries and skipped conditions on the root logger at INFO;
    # without a handler at INFO a user would never see them.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s - %(levelname)s - %(message)s", stream=sys.stdout
    )
    root = Path(args.pipeline_root).resolve()
    workspace = root / ".workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    local.init(
        runner=_docker_runner(args) if args.docker else local.SubprocessRunner(use_venv=False),
        pipeline_root=str(root),
        workspace_root=str(workspace),
        raise_on_error=True,
        enable_caching=not args.no_cache,
    )
    pipeline = components.load_component_from_file(args.spec)
    arguments = _arguments(args)
    _say(f"{RUN_STARTED} {json.dumps(arguments)} caching={not args.no_cache}")
    try:
        pipeline(**arguments)
    except RuntimeError as e:
        _say(f"{RUN_ENDED} FAILURE: {e}")
        return 1
    _say(f"{RUN_ENDED} SUCCESS")
    return 0


def _docker_runner(args: argparse.Namespace):  # kfp.local.DockerRunner
    from docker.types import Mount
    from kfp import local

    mounts = [Mount(target=d, source=d, type="bind") for d in map(_absolute, args.mount)]
    limits = {}
    if args.mem_limit:  # no swap either: the limit is what the container can hold
        limits = {"mem_limit": args.mem_limit, "memswap_limit": args.mem_limit}
    return local.DockerRunner(
        environment={name: os.environ[name] for name in args.env if name in os.environ},
        mounts=mounts,
        labels=dict(label.split("=", 1) for label in args.label),
        network_mode="none",
        **limits,
    )


def _absolute(path: str) -> str:
    return str(Path(path).resolve())


def _submit(args: argparse.Namespace) -> int:
    import json

    import kfp

    arguments = _arguments(args)
    _say(f"{RUN_STARTED} {json.dumps(arguments)} caching={not args.no_cache} host={args.host}")
    try:
        client = kfp.Client(host=args.host, namespace=args.namespace)
        run = client.create_run_from_pipeline_package(
            args.spec,
            arguments=arguments,
            run_name=f"daily-retraining-{args.logical_date}",
            experiment_name=args.experiment,
            enable_caching=not args.no_cache,
        )
        print(run.run_id, flush=True)
        if not args.wait:
            return 0
        done = client.wait_for_run_completion(run.run_id, timeout=args.wait_timeout)
    except Exception as e:  # the client raises many types (urllib3, ApiException...)
        _say(f"{RUN_ENDED} FAILURE: cannot use the KFP API at {args.host}: {type(e).__name__}: {e}")
        return 2
    state = str(getattr(done, "state", "UNKNOWN"))
    ok = state.upper() == "SUCCEEDED"
    _say(f"{RUN_ENDED} {'SUCCESS' if ok else 'FAILURE'}: run {run.run_id} {state}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.kfp", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compile", help="compile the pipeline to IR YAML")
    c.add_argument("--out", required=True)
    c.add_argument("--policy", default=None, help="orchbench policy as JSON (retries...)")
    c.add_argument("--base-image", default=None, help="every component's image")
    c.add_argument("--step-image", action="append", default=[], help="STEP=IMAGE override")
    c.add_argument("--accelerator", action="store_true", help="request a GPU on train")
    for name in ("run", "submit"):
        p = sub.add_parser(name)
        p.add_argument("--spec", required=True)
        p.add_argument("--logical-date", required=True, type=dt.date.fromisoformat)
        p.add_argument("--min-accuracy", type=float, default=0.0)
        p.add_argument("--no-cache", action="store_true")
    r = sub.choices["run"]
    r.add_argument("--pipeline-root", required=True)
    r.add_argument("--docker", action="store_true", help="kfp.local.DockerRunner")
    r.add_argument("--mount", action="append", default=[], help="--docker: host dir to mount")
    r.add_argument("--env", action="append", default=[], help="--docker: variable to pass")
    r.add_argument("--label", action="append", default=[], help="--docker: K=V label")
    r.add_argument("--mem-limit", type=int, default=None, help="--docker: bytes per container")
    s = sub.choices["submit"]
    s.add_argument("--host", required=True)
    s.add_argument("--namespace", default=None)
    s.add_argument("--experiment", default="orchbench")
    s.add_argument("--wait", action="store_true", help="wait for the run to finish")
    s.add_argument("--wait-timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    return {"compile": _compile, "run": _run, "submit": _submit}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
