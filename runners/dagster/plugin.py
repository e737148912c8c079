"""The Dagster runner's declaration (``orchbench.plugins``)."""

from orchbench.plugins import Note, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="dagster",
        system="Dagster",
        description="Dagster daily-partitioned assets (retry policy, fail-fast, a schedule, "
        "a run failure sensor) on dagster dev",
        # default: Dagster as its docs set it up; tuned: the in-process executor and
        # shorter daemon intervals; production: default on PostgreSQL storage (the
        # runner's own cluster, dagster-postgres) (README "Profiles")
        profiles=("default", "tuned", "production"),
        # what its conformance runs show on the default profile (tests/conformance checks
        # it both ways); tuned differs on recovers_from_crash (README "Profiles")
        capabilities=frozenset(
            {
                "retries_without_human",  # RetryPolicy: STEP_UP_FOR_RETRY, same run
                "stops_on_schema_break",
                "alerts_on_failure",  # @run_failure_sensor into the alert sink
                "fails_fast_on_bad_data",  # Failure(allow_retries=False) (definitions.py)
                "recovers_from_crash",  # the multiprocess executor retries a killed step
            }
        ),
        # not recovers_from_hang: dagster/max_runtime fails the whole run (run monitoring)
        # and a failed run is not retried: the operator re-executes it.
        # not catches_up_missed_days: the schedule has no partition set in Dagster 1.13
        # (ScheduleSnap.from_def), so after downtime the daemon evaluates only the latest
        # missed tick; the missed date is the operator's.
        # survives_scheduler_crash varies: the run worker outlives the daemon until the
        # unit's restart stops dagster dev's group (up to 30 s for dagster dev to exit, then
        # SIGTERM); nothing in Dagster runs the date again. When the date's remaining steps
        # end before that stop, the day completes with no operator (the clean-clone CIs of
        # 3c04954 and a87556c: train and evaluate finished, evaluate said no deploy, then
        # Dagster marked the run FAILURE); when the stop cuts a step, the operator
        # re-executes it (4 runs here on 2026-12-06 and the conformance run at 2f2387b).
        capabilities_vary=frozenset({"survives_scheduler_crash"}),
        central_view="Dagster UI / GraphQL API (runs, their steps and asset materializations)",
        adapter=".adapter:DagsterRunner",
        scale=".scale:DagsterScale",
        authored=("definitions.py",),
        concepts=(
            "@asset",
            "@multi_asset (AssetOut)",
            "DailyPartitionsDefinition",
            "RetryPolicy",
            "Failure(allow_retries=False)",
            "MaterializeResult",
            "code_version",
            "define_asset_job",
            "@schedule",
            "@run_failure_sensor",
            "dagster/max_runtime tag",
            "Definitions",
        ),
        version_key="dagster",
        # seconds per run, to order bench lanes: 52-61 harness-fired in the conformance
        # suite of 2026-12-06 01:53 (2 days, 5000 rows), 136-209 on the shipped scenarios;
        # scheduler-fired runs last their 120-s days plus up to 2 min to the first tick
        cost_s=200,
        # two lanes at once (its scenarios split between them): each deployment is its
        # own `dagster dev` on free loopback ports with its DAGSTER_HOME under the lane's
        # services directory (production: its own PostgreSQL cluster), so two share
        # nothing; its lane was the bench's whole wall (95 min of runs in the make bench
        # of 2026-12-06 14:02, 27 min in the conformance bench, the other lanes ~19 min)
        lanes=2,
        notes=(
            Note(
                "Dagster runs under `dagster dev` (webserver, daemon, code server in one "
                "process group) with SQLite storage, not a production deployment.",
                profiles=("default", "tuned"),
            ),
            Note(
                "Profile production: Dagster's instance on PostgreSQL (dagster-postgres; the "
                "runner's own cluster on loopback, fsync off), still under `dagster dev` "
                "(webserver, daemon, code server in one process group on one host, the "
                "default run launcher), not separate services.",
                profiles=("production",),
            ),
            Note(
                "Profile tuned runs every step in the run worker's process (Dagster's "
                "in-process executor): a step that kills its process (the crash scenario's "
                "OOM kill) ends the whole run, which Dagster marks failed and does not retry; "
                "recovers_from_crash is declared from the default profile's runs.",
                profiles=("tuned",),
            ),
        ),
    ),
)
