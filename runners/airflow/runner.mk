# The airflow runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += airflow/celery

# Airflow's orchestration overhead per task, both shapes (default and tuned; about 11 min
# projected on a quiet machine: the short shape took 6 min before the long one was added)
bench-overhead:: setup
	.venv/bin/python -m runners.airflow.overhead
