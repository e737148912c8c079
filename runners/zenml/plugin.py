"""The ZenML runner's declaration (``orchbench.plugins``): a dynamic ZenML pipeline on the
local orchestrator with a SQLite store, fired by cron in system-scheduled scenarios."""

from orchbench.plugins import Note, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="zenml",
        system="ZenML (local orchestrator)",
        description="ZenML dynamic pipeline on the local orchestrator: artifacts, cache, "
        "Model Control Plane stages, on_failure hook",
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",
                "stops_on_schema_break",
                "alerts_on_failure",  # the steps' on_failure hook (pipeline.py)
            }
        ),
        # not fails_fast_on_bad_data: StepRetryConfig has no condition, validate is retried
        # not recovers_from_hang: ZenML has no step timeout; the harness kills the hung run
        # not recovers_from_crash: the local orchestrator runs every step in the run's own
        # process, so a killed step kills the run, which stays "running" (README)
        adapter=".adapter:ZenmlRunner",
        authored=("pipeline.py", "task.py"),
        concepts=(
            "@pipeline",
            "@step",
            "StepRetryConfig",
            "enable_cache",
            "on_failure hook",
            "ArtifactConfig",
            "Model",
        ),
        # default: local orchestrator, SQLite store in-process; server: the same pipeline
        # as a REST client of a local ZenML server (zenml login --local --blocking) per run
        profiles=("default", "server"),
        scale=".scale:ZenmlScale",  # default stack, one SQLite store (scale.py)
        version_key="zenml",
        cost_s=55,  # mean wall s per run, every shipped scenario, 2026-12-06 (README)
        notes=(
            Note(
                "ZenML runs with its local orchestrator and a SQLite store per run: no ZenML "
                "server, no dashboard; every step runs in the run's own process.",
                profiles=("default",),
            ),
            Note(
                "Profile server: a local ZenML server per run (`zenml login --local "
                "--blocking`, uvicorn on 127.0.0.1, SQLite in the run dir); the pipeline and "
                "the trace are its REST clients. The server stores and serves records only: "
                "steps still run in the run's own process (local orchestrator), and it "
                "schedules nothing.",
                profiles=("server",),
            ),
        ),
        central_view="ZenML Client API / `zenml pipeline runs list` (runs and step runs, "
        "retried tries included)",
    ),
)
