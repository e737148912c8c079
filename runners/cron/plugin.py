"""The cron runners' declaration (``orchbench.plugins``): naive and hardened crontabs."""

from orchbench.plugins import Note, RunnerPlugin

CLOCK = Note(
    "Simulated clock for cron: the cron daemon runs on libfaketime, sped up "
    "x{schedule[speed]}, so a day of crontab slots takes seconds; jobs run on the real "
    "clock. Times in real seconds are on that compressed schedule; the production-clock "
    "times add back the daemon's idle time each run journals (compressed waits)."
)

PIPELINE = Note(
    "Profile pipeline: one crontab entry runs the whole chain from one script "
    "(pipeline.sh), each step with lib.sh's markers, retries, timeout, mail and manifest; "
    "the script's order is the only dependency management.",
    profiles=("pipeline",),
)

# x30: the default crontab on a clock ten times slower (schedule.py), to check that the
# compression does not change the verdicts
PROFILES = ("default", "tuned", "x30")
# pipeline: one crontab entry runs every step from one script (hardened scripts only)
HARDENED_PROFILES = (*PROFILES, "pipeline")

PLUGINS = (
    RunnerPlugin(
        name="cron",
        system="cron",
        description="Debian cron, one crontab line per step, scripts as teams write them",
        # what its conformance runs show (tests/conformance checks it both ways)
        # not fails_fast_on_bad_data: it retries nothing, but the later scripts run on
        capabilities=frozenset(),
        # the daemon SIGKILLed as featurize starts: in some runs the job survives it (0
        # human actions), in others it dies with it and the scripts are re-run by hand
        # (one intervention); seen both ways before and after the day loop moved (2026-12-05)
        capabilities_vary=frozenset({"survives_scheduler_crash"}),
        adapter=".adapter:CronRunner",
        # the crontab lines are written by the adapter (schedule.py) from the same rules
        authored=("scripts/naive/*.sh",),
        concepts=("crontab entry", "shell script per step", "MAILTO"),
        system_packages=("cron", "exim4-daemon-light"),
        profiles=PROFILES,
        scale=".scale:CronScale",
        version_key="cron",
        cost_s=50,  # seconds per run, serial `make bench` of 2026-12-02 (after the hang cut)
        # its lane of the conformance copies, alone on the quiet 2 cores (2026-12-07):
        # 211 s, 88 CPU-s of the whole machine (0.42 cores): its days wait on the clock
        light=True,
        notes=(CLOCK,),
    ),
    RunnerPlugin(
        name="cron-hardened",
        system="cron",
        description="Debian cron with set -euo pipefail, flock, markers, retries, timeout, MAILTO",
        # what its conformance runs show (tests/conformance checks it both ways)
        capabilities=frozenset(
            {
                "retries_without_human",
                "stops_on_schema_break",
                "alerts_on_failure",
                "recovers_from_hang",
                "recovers_from_crash",
                # lib.sh does not retry the step program's exit 65 (EX_DATAERR: a
                # validation or canary failure), so a schema break fails at once
                "fails_fast_on_bad_data",
                # the catch-up job (catchup.sh) re-runs the dates lacking their marker the
                # first morning the host is back (missed_days runs system-scheduled)
                "catches_up_missed_days",
            }
        ),
        adapter=".adapter:HardenedCronRunner",
        authored=("scripts/hardened/*.sh",),
        concepts=(
            "crontab entry",
            "pipeline.sh",
            "flock",
            "timeout",
            "retry loop",
            "success markers",
            "catch-up job",
            "rerun.sh",
            "MAILTO",
        ),
        system_packages=("cron", "exim4-daemon-light"),
        profiles=HARDENED_PROFILES,
        scale=".scale:HardenedCronScale",
        # make bench carries the strongest cron beside the steelman's default
        bench_profiles=("default", "pipeline"),
        version_key="cron",
        cost_s=40,
        # the same measurement as cron's: 194 s, 86 CPU-s (0.44 cores)
        light=True,
        notes=(CLOCK, PIPELINE),
    ),
)
