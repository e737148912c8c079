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
# default only: tuned is the same deployment (kfp.local has no setting that changes its
# overhead), `--profiles tuned` measures it. About 10 min (kfp) and 14 min (kfp-docker) on
# a loaded 2-core machine, by 6 x each 1-run smoke (runners/kfp/README.md).
bench-overhead:: setup
	.venv/bin/python -m runners.kfp.overhead --runner kfp --profiles default
	.venv/bin/python -m runners.kfp.overhead --runner kfp-docker --profiles default
