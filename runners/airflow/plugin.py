"""The Airflow runner's declaration (``orchbench.plugins``)."""

from orchbench.plugins import Note, RemoteFlag, RunnerPlugin

PLUGINS = (
    RunnerPlugin(
        name="airflow",
        system="Apache Airflow",
        description=(
            "Airflow 3: api-server + scheduler + dag-processor, LocalExecutor, SQLite; "
            "TaskFlow DAG, clear-and-rerun recovery; --profile celery: CeleryExecutor, "
            "2 workers, Redis, PostgreSQL"
        ),
        profiles=("default", "tuned", "celery"),
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",
                "stops_on_schema_break",
                "fails_fast_on_bad_data",
                "alerts_on_failure",
                "recovers_from_hang",
                "recovers_from_crash",
                "survives_scheduler_crash",
                # its timetable with catchup=True creates one run per missed interval
                # once the scheduler is back (system-scheduled missed_days)
                "catches_up_missed_days",
            }
        ),
        central_view="Airflow UI / REST API (dag runs, task instances and their tries)",
        adapter=".adapter:AirflowRunner",
        authored=("dags/orchbench_retrain.py", "plugins/orchbench_timetable.py"),
        concepts=(
            "DAG",
            "@task",
            "@task.sensor",
            "@task.short_circuit",
            "retries/retry_delay",
            "execution_timeout",
            "on_failure_callback",
            "Asset outlets",
            "Timetable plugin",
            "catchup",
            "max_active_runs",
        ),
        scale=".scale:AirflowScale",
        version_key="apache-airflow",
        # seconds per run, to order bench lanes: about 30 harness-fired, 60-100 scheduler-fired
        # (conformance bench of 2026-12-05 23:00)
        cost_s=80,
        remote_flags=(
            RemoteFlag(
                "airflow_url",
                "ORCHBENCH_AIRFLOW_URL",
                "airflow runner: drive this Airflow API server (http://user:password@host:port), "
                "not a stack of our own",
            ),
        ),
        notes=(
            Note(
                "Airflow's metadata database is SQLite (profiles default and tuned), not "
                "Postgres: single-writer latency differs from production setups.",
                profiles=("default", "tuned"),
            ),
        ),
    ),
)
