"""The Prefect runner's declaration (``orchbench.plugins``)."""

from orchbench.plugins import Note, RemoteFlag, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="prefect",
        system="Prefect",
        description="Prefect 3 flow (retries, input-content cache, assets) on a local server",
        # default, tuned: the flow as a served deployment (flow.serve); pool: a deployment on
        # a process work pool; script: a flow run as a bare script: no supervisor (not how
        # a scheduled Prefect deployment runs)
        profiles=("default", "tuned", "pool", "script"),
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",
                "stops_on_schema_break",
                "alerts_on_failure",
                "fails_fast_on_bad_data",  # retry_condition_fn (flow.py)
                "recovers_from_hang",
                # system-scheduled missed_days: the missed dates' runs (created ahead by the
                # scheduler service) go Late and run once the server and the serve
                # process are back, no operator command (README, issue 25)
                "catches_up_missed_days",
            }
        ),
        # scheduler-fired scheduler_crash (the server and the serve process killed as
        # featurize starts): the orphaned task dies of a broken pipe; in the conformance
        # run of 2026-12-05 22:55 Prefect retried it (0 interventions), in the bench of
        # 23:27 the flow run went Crashed and the operator re-ran the date
        capabilities_vary=frozenset({"survives_scheduler_crash"}),
        central_view="Prefect UI / REST API (flow runs, task runs and their states)",
        adapter=".adapter:PrefectRunner",
        authored=("flow.py", "serve.py"),
        concepts=(
            "@flow",
            "@task",
            "retries",
            "retry_condition_fn",
            "timeout_seconds",
            "cache_policy",
            "Asset",
            "on_failure hook",
            "flow.serve deployment",
            "schedule",
        ),
        scale=".scale:PrefectScale",
        version_key="prefect",
        # seconds per run, to order bench lanes: about 45 harness-fired, 60-110 scheduler-fired
        # (conformance bench of 2026-12-05 23:00), so the lane starts first
        cost_s=75,
        remote_flags=(
            RemoteFlag(
                "prefect_api_url",
                "ORCHBENCH_PREFECT_API_URL",
                "prefect runner: use this Prefect API (http://host:port/api), "
                "not a server of our own",
            ),
        ),
        notes=(
            Note(
                "Prefect's metadata database is SQLite (profiles default and tuned), not "
                "Postgres: single-writer latency differs from production setups.",
                profiles=("default", "tuned", "script"),
            ),
            Note(
                "Scenarios with a scheduler fault are fired by Prefect's own scheduler on "
                "20-s days; what serves the deployment prefetches runs 10 s x 20/86400 "
                "ahead (10 s per production day, compressed with the day) and workers poll "
                "every 1 s. With 20-s days every date's run is created ahead at once; with "
                "real days the scheduler keeps 3 ahead, so a longer outage than that would "
                "leave later dates without a run (not measured).",
                profiles=("default", "pool"),
            ),
            Note(
                "Profile script: a flow run as a bare script: no supervisor (not how a "
                "scheduled Prefect deployment runs); a killed flow process stays Running.",
                profiles=("script",),
            ),
        ),
    ),
)
