# The prefect runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += prefect/pool

# Prefect's orchestration overhead per task, both shapes (default, tuned, pool, script)
bench-overhead:: setup
	.venv/bin/python -m runners.prefect.overhead
