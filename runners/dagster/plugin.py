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
        capabilities=frozenset(
            {
                "retries_without_human",  # RetryPolicy: STEP_UP_FOR_RETRY, same run
                "stops_on_schema_break",
                "alerts_on_failure",  # @run_failure_sensor into the alert sink
                "fails_fast_on_bad_data",  # Failure(allow_retries=False) (definitions.py)
                "recovers_from_crash",  # the multiprocess executor retries a killed step
                # the day_clock sensor requests the missed dates on the daemon's first
                # tick back (run keys: each date once), oldest first
                "catches_up_missed_days",
                # the daemon SIGKILLed as featurize starts: dagster dev shuts the webserver
                # down, but the code server waits for its run to finish; restarted, the
                # date completes (scheduler_crash run of 2026-12-06 01:50)
                "survives_scheduler_crash",
            }
        ),
        # not recovers_from_hang: dagster/max_runtime fails the whole run (run monitoring)
        # and a failed run is not retried: the operator re-executes it
        central_view="Dagster UI / GraphQL API (runs, their steps and asset materializations)",
        adapter=".adapter:DagsterRunner",
        version_key="dagster",
        # seconds per run, to order bench lanes: 52-61 harness-fired and 130-245
        # scheduler-fired in the conformance suite of 2026-12-06 01:53 (2 days, 5000 rows);
        # 136-209 harness-fired, 533 for missed_days on the shipped scenarios
        cost_s=150,
        notes=(
            Note(
                "Dagster runs under `dagster dev` (webserver, daemon, code server in one "
                "process group) with SQLite storage, not a production deployment."
            ),
        ),
    ),
)
