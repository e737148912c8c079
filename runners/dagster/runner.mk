# The dagster runner's make hooks (included by the Makefile).

PRODUCTION_RUNNERS += dagster/production
