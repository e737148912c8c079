# The airflow runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += airflow/celery

# Airflow's orchestration overhead per task (default and tuned, about 6 min)
bench-overhead:: setup
	.venv/bin/python -m runners.airflow.overhead
