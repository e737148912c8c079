# The dagster runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += dagster/production

# Dagster's orchestration overhead per task, both shapes (default, tuned and production)
bench-overhead:: setup
	.venv/bin/python -m runners.dagster.overhead
