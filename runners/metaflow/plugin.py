"""The Metaflow runner's declaration (``orchbench.plugins``): the flow on Metaflow's local
runtime, local datastore and metadata, fired by cron when the scenario needs a scheduler."""

from orchbench.plugins import Note, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="metaflow",
        system="Metaflow (local runtime)",
        description="a Metaflow flow: @retry, @timeout, a switch as the gate, @exit_hook alert",
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",  # @retry
                "stops_on_schema_break",
                "alerts_on_failure",  # @exit_hook(on_error=...) into the alert sink
                "recovers_from_hang",  # @timeout raises in the task, @retry runs it again
                "recovers_from_crash",  # the runtime retries a task whose process died
            }
        ),
        # not fails_fast_on_bad_data: @retry has no condition, validate is retried
        # not survives_scheduler_crash: a killed runtime is restarted by nobody (cron
        # never re-fires a passed minute); the operator resumes the run
        # not catches_up_missed_days: no scheduler of its own, cron has no catch-up
        adapter=".adapter:MetaflowRunner",
        authored=("daily_retraining_flow.py", "task.py"),
        concepts=(
            "FlowSpec",
            "@step",
            "Parameter",
            "@retry",
            "@timeout",
            "@exit_hook",
            "artifacts",
        ),
        profiles=("default",),
        scale=".scale:MetaflowScale",
        version_key="metaflow",
        cost_s=50,  # seconds per run: median 48 s over the 17 shipped scenarios, 2026-12-06
        central_view="Metaflow Client API (Flow/Run/Step/Task: run and task states, attempts)",
        notes=(
            Note(
                "Metaflow runs with its local runtime, local datastore and local metadata: "
                "no Metaflow service, no Argo/Step Functions deployment, so no scheduler "
                "of its own (cron fires it where a scenario needs one)."
            ),
        ),
    ),
)
