"""The Kubeflow Pipelines runners' declaration (``orchbench.plugins``): kfp.local with
one process per task, and with one container per task."""

from orchbench.plugins import Note, RemoteFlag, RunnerPlugin

LOCAL = Note(
    "Kubeflow Pipelines runs with the local runner (`kfp.local`), not on a cluster: no "
    "KFP API server, no Kubernetes scheduling, no pod start-up cost."
)
KFP_HOST = RemoteFlag(
    "kfp_host", "ORCHBENCH_KFP_HOST", "kfp runner: submit to this KFP API, not kfp.local"
)

# gpu-request: the default pipeline plus an accelerator request on train (adapter.GPU_PROFILE)
PROFILES = ("default", "tuned", "gpu-request")
# what the pipeline's authors write (orchbench footprint): the same files for both runners
AUTHORED = ("pipeline.py", "task.py")
CONCEPTS = (
    "@dsl.pipeline",
    "@dsl.component",
    "Input/Output artifacts",
    "set_retry",
    "set_caching_options",
    "dsl.If",
)

PLUGINS = (
    RunnerPlugin(
        name="kfp",
        system="KFP (local runner)",
        description="KFP v2 compiled spec on kfp.local: typed artifacts, dsl.If gate, caching",
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",
                "stops_on_schema_break",
                "alerts_on_failure",  # the pipeline's dsl.ExitHandler task (pipeline.py)
                "recovers_from_crash",
            }
        ),
        # not fails_fast_on_bad_data: set_retry has no condition, validate is retried
        # not recovers_from_hang: kfp.local has no task timeout; the hung task is killed by
        # the harness (journaled as harness help), which is never credited to the system
        adapter=".adapter:KfpRunner",
        authored=AUTHORED,
        concepts=(*CONCEPTS, "kfp.local"),
        profiles=PROFILES,
        scale=".scale:KfpScale",
        version_key="kfp",
        cost_s=35,  # seconds per run, serial `make bench` of 2026-12-02
        remote_flags=(KFP_HOST,),
        notes=(LOCAL,),
    ),
    RunnerPlugin(
        name="kfp-docker",
        system="KFP (local DockerRunner)",
        description="the kfp pipeline on kfp.local.DockerRunner: one container per task",
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",
                "stops_on_schema_break",
            }
        ),
        # the KFP DockerRunner race (kubeflow/pipelines#13332, README): a container that
        # is gone before kfp.local waits on it counts as exit 0, so a killed step is
        # reported SUCCESS, not retried, and the run dies ("task not found"): an operator
        # re-runs it. Seen both ways on crash (0 human actions in the four runs of the
        # issue-22 check; 1, with the killed featurize misreported as success, in the
        # clean-clone make test of 2026-12-05 16:46). The same race skips the exit
        # handler: a schema_break run with a failed validate reported SUCCESS died before
        # alerting (CI of 2026-12-06 00:24: alerted False, 2 attempts before the fix; the
        # 7 runs of 00:47-00:52 alerted). And with the failed validate reported SUCCESS,
        # kfp.local does not retry it, so the run shows one attempt before the fix: fails
        # fast, where a validate reported failed is retried (clean-clone CI of 74dc49d,
        # on a loaded machine: validate ValidationFailed in the journal, SUCCESS natively)
        capabilities_vary=frozenset(
            {"recovers_from_crash", "alerts_on_failure", "fails_fast_on_bad_data"}
        ),
        adapter=".docker_adapter:KfpDockerRunner",
        authored=AUTHORED,
        concepts=(*CONCEPTS, "kfp.local DockerRunner", "step image"),
        system_packages=("docker.io",),
        profiles=PROFILES,
        scale=".scale:KfpDockerScale",
        version_key="kfp",
        cost_s=60,
        remote_flags=(
            KFP_HOST,
            RemoteFlag(
                "docker_host",
                "ORCHBENCH_DOCKER_HOST",
                "container runners: use this Docker daemon, not our own",
            ),
        ),
        notes=(LOCAL,),
    ),
)
