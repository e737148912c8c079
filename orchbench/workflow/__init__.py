"""The shared daily retraining workflow: data, steps and their spec. Runners only orchestrate."""
