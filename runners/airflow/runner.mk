# The airflow runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += airflow/celery

# Airflow's orchestration overhead per task, both shapes (default, tuned and celery; default
# 5 min 52 s and tuned 2 min 50 s on a quiet machine, 2026-12-07)
bench-overhead:: setup
	.venv/bin/python -m runners.airflow.overhead
