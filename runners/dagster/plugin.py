"""The Dagster runner's declaration (``orchbench.plugins``)."""

from orchbench.plugins import Note, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="dagster",
        system="Dagster",
        description="Dagster daily-partitioned assets (retry policy, fail-fast, sensors) "
        "on dagster dev",
        profiles=("default",),
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(),
        central_view="Dagster UI / GraphQL API (runs, their steps and asset materializations)",
        adapter=".adapter:DagsterRunner",
        version_key="dagster",
        cost_s=90,
        notes=(
            Note(
                "Dagster runs under `dagster dev` (webserver, daemon, code server in one "
                "process group) with SQLite storage, not a production deployment."
            ),
        ),
    ),
)
