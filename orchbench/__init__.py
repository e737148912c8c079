"""orchbench: what a pipeline orchestrator buys an ML team over chained cron scripts."""

__version__ = "0.1.0"
