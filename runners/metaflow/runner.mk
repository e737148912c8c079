# The metaflow runner's make hooks (included by the Makefile).

# Metaflow's orchestration overhead per task (default profile, both shapes)
bench-overhead:: setup
	.venv/bin/python -m runners.metaflow.overhead
