# The prefect runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += prefect/pool
