"""The Metaflow runner's declaration (``orchbench.plugins``): the flow on Metaflow's local
runtime, local datastore and metadata, fired by cron when the scenario needs a scheduler."""

from orchbench.plugins import Note, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="metaflow",
        system="Metaflow (local runtime)",
        description="a Metaflow flow: @retry, @timeout, a switch as the gate, @exit_hook alert",
        capabilities=frozenset(),
        adapter=".adapter:MetaflowRunner",
        profiles=("default",),
        version_key="metaflow",
        cost_s=40,
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
