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
        adapter=".adapter:AirflowRunner",
        scale=".scale:AirflowScale",
        version_key="apache-airflow",
        cost_s=70,  # seconds per run, serial `make bench` of 2026-12-02
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
