# The kfp runner's build hook (included by the Makefile): the compiled pipeline spec (IR YAML)
# the kfp runner submits.

KFP_SPEC := build/kfp/daily_retraining.yaml

kfp-spec: $(KFP_SPEC) ## compile the KFP pipeline to its IR YAML (build/kfp/)

$(KFP_SPEC): runners/kfp/pipeline.py runners/kfp/task.py runners/kfp/__main__.py .venvs/kfp/.synced
	.venvs/kfp/bin/python -m runners.kfp compile --out $@

# the lock file the step image's venv installs (`make image`; the kfp-docker runner passes
# the same file, runners/kfp/docker_adapter.py IMAGE_LOCK)
IMAGE_LOCK := runners/kfp/requirements.txt

SETUP_HOOKS += $(if $(filter kfp,$(RUNNERS)),kfp-spec)

.PHONY: kfp-spec

# KFP's orchestration overhead per task on kfp.local (a process, or a container, per task).
# default only: tuned and gpu-request are the same deployment (kfp.local has no setting
# that changes its overhead), so the probe records them as unmeasured with that reason
# (runners/kfp/overhead.py, UNMEASURED) and refuses `--profiles tuned`. 1 min 30 s (kfp)
# and 2 min 50 s (kfp-docker) alone on a quiet machine, 2026-12-07 (README).
bench-overhead:: setup
	.venv/bin/python -m runners.kfp.overhead --runner kfp --profiles default
	.venv/bin/python -m runners.kfp.overhead --runner kfp-docker --profiles default
