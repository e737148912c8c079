# The zenml runner's make hooks (included by the Makefile).

# ZenML's orchestration overhead per task (default and server, both shapes; one process
# per run, so about 10 min on a quiet machine, more under load: runners/zenml/README.md)
bench-overhead:: setup
	.venv/bin/python -m runners.zenml.overhead
