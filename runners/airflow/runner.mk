# The airflow runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += airflow/celery

bench-overhead: setup ## Airflow's orchestration overhead per task, windmill-benchmarks method (~6 min)
	.venv/bin/python -m runners.airflow.overhead

.PHONY: bench-overhead
