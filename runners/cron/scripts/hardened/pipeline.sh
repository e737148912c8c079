#!/bin/bash
# pipeline.sh: the whole chain of one date from one crontab entry (cron-hardened's
# `pipeline` profile), as teams write it before they adopt an orchestrator. It runs the
# step scripts in the spec's order and stops at the first that fails: each keeps lib.sh's
# guarantees (markers, retries, timeout, fail-fast on exit 65, the manifest, its failure
# report on stderr, which cron mails). A step whose marker exists skips itself, so running
# this again for a date resumes where the date stopped. Its own log: pipeline.log.
set -euo pipefail
export LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
: "${PIPELINE_LOGS:?}"
here=$(dirname "$0")
mkdir -p "$PIPELINE_LOGS"
log() { echo "[$(date --rfc-3339=ns)] pipeline $LOGICAL_DATE $*" >>"$PIPELINE_LOGS/pipeline.log"; }

log start
for step in ingest validate featurize train evaluate register canary; do
    if ! "$here/$step.sh"; then
        log "stopped: $step failed"
        echo "pipeline: $step failed for $LOGICAL_DATE; later steps not run" >&2
        exit 1
    fi
done
log done
