# The zenml runner's make hooks (included by the Makefile).

# ZenML's orchestration overhead per task (default and server, both shapes, a process per
# run: projected 10 + 16 min at load 15-20 on 2 cores, runners/zenml/README.md)
bench-overhead:: setup
	.venv/bin/python -m runners.zenml.overhead
