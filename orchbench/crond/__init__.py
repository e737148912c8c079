"""Debian's cron daemon in fresh PID+mount namespaces on a libfaketime clock.

``sandbox``: one command in its own namespaces, killed with everything it started;
``daemon``: one simulated day of the real ``cron -f`` inside such a sandbox, its crontab
and mail bind-mounted over the host's; ``cpu_group``: a raised-weight CPU cgroup for a
namespace's processes. Infrastructure: it names no runner; runners that fire their dates
with cron (the cron runners, and systems without a scheduler of their own) use it.
"""
