# The cron runners' make hooks (included by the Makefile).

# Cron's orchestration overhead per task (runners/cron/overhead.py, README "Overhead
# probe"): naive cron's default crontab and cron-hardened's pipeline profile, about 3.4
# and 1.0 min of wall (the others: `--runner cron --profiles tuned`, 1.8 min;
# `--runner cron-hardened --profiles default,tuned`, 7 min)
bench-overhead:: setup
	.venv/bin/python -m runners.cron.overhead --runner cron --profiles default
	.venv/bin/python -m runners.cron.overhead --runner cron-hardened --profiles pipeline
