# The cron runners' make hooks (included by the Makefile).

# Cron's orchestration overhead per task (runners/cron/overhead.py, README "Overhead
# probe"), every probed profile: naive cron's default and tuned (3 min 52 s and 2 min 18 s
# of wall alone on a quiet machine, 2026-12-07), cron-hardened's default, tuned and
# pipeline (5 min 33 s, 2 min 22 s and 1 min 43 s)
bench-overhead:: setup
	.venv/bin/python -m runners.cron.overhead --runner cron
	.venv/bin/python -m runners.cron.overhead --runner cron-hardened
