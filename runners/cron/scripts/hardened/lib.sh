#!/bin/bash
# lib.sh: what a careful cron user wraps around every step; sourced by the step scripts.
#
#   set -euo pipefail   stop at the first error, unset variable or failed pipe
#   per-date paths      $PIPELINE_DATA/<date>/...: no day ever reads another day's files
#   flock               a step never overlaps itself, and waits while its upstream runs
#   success markers     markers/<date>/<step>.ok after success; a step refuses to run
#                       without its upstream's marker and skips if its own exists
#   retries + timeout   RETRIES extra attempts, RETRY_DELAY_S apart, each killed after
#                       STEP_TIMEOUT_S; exit 65 (EX_DATAERR: bad data or a rolled-back
#                       model, which a retry cannot fix) fails at once, without a retry
#   quiet unless broken details go to $PIPELINE_LOGS/<step>.log; a failure prints a short
#                       report, which cron mails to MAILTO with "(failed)" in the subject
set -euo pipefail

LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
: "${PIPELINE_PYTHON:?} ${PIPELINE_DATA:?} ${PIPELINE_LOGS:?}"
RETRIES=${RETRIES:-2}
EX_DATAERR=65 # the step program's exit status for errors a retry cannot fix
RETRY_DELAY_S=${RETRY_DELAY_S:-60}
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-3600}
UPSTREAM_WAIT_S=${UPSTREAM_WAIT_S:-10800}

DAY=$PIPELINE_DATA/$LOGICAL_DATE
MARKERS=$PIPELINE_DATA/markers/$LOGICAL_DATE
LOCKS=$PIPELINE_DATA/locks
STEP=unknown
WHY=""

log() { echo "[$(date --rfc-3339=ns)] $STEP $LOGICAL_DATE $*"; }

# Exit non-zero with a reason; the EXIT trap prints the report cron mails.
fail() {
    WHY=$*
    log "FAILED: $WHY"
    exit 1
}

report_failure() {
    local rc=$1
    ((rc == 0)) && return 0
    {
        echo "$STEP for $LOGICAL_DATE failed (exit $rc): ${WHY:-unexpected error}"
        echo "last lines of $PIPELINE_LOGS/$STEP.log:"
        tail -n 12 "$PIPELINE_LOGS/$STEP.log"
    } >&3
}

# run_step STEP UPSTREAM [--in NAME=PATH ...] [--out NAME=PATH ...]
# UPSTREAM is the step whose marker must exist first ("" for the first step).
run_step() {
    STEP=$1
    local upstream=$2 attempt=1 rc
    shift 2
    mkdir -p "$DAY" "$MARKERS" "$LOCKS" "$PIPELINE_LOGS"
    exec 3>&2 >>"$PIPELINE_LOGS/$STEP.log" 2>&1 # fd 3 goes to cron (and to the mail)
    trap 'report_failure $?' EXIT

    exec 8>"$LOCKS/$STEP.lock"
    flock -n 8 || fail "another $STEP is still running"
    if [[ -e $MARKERS/$STEP.ok ]]; then
        log "skipped: already done"
        return 0
    fi
    if [[ -n $upstream ]]; then
        # The upstream may still be retrying past our slot: wait for it, then check.
        flock -w "$UPSTREAM_WAIT_S" "$LOCKS/$upstream.lock" true ||
            fail "$upstream still running after ${UPSTREAM_WAIT_S}s"
        if [[ ! -e $MARKERS/$upstream.ok ]]; then
            WHY="refusing to run: no success marker for $upstream"
            log "refused: no success marker for $upstream"
            exit 1
        fi
    fi

    while :; do
        log "start attempt $attempt/$((RETRIES + 1))"
        rc=0
        timeout --kill-after=5 "$STEP_TIMEOUT_S" \
            "$PIPELINE_PYTHON" -m orchbench.step "$STEP" --date "$LOGICAL_DATE" \
            --native try="$attempt" "$@" || rc=$?
        log "end exit=$rc attempt $attempt/$((RETRIES + 1))"
        ((rc == 0)) && break
        ((rc != EX_DATAERR)) || fail "bad data, not retried (exit $rc, attempt $attempt)"
        ((attempt <= RETRIES)) || fail "gave up after $attempt attempts (last exit $rc)"
        sleep "$RETRY_DELAY_S"
        attempt=$((attempt + 1))
    done
    touch "$MARKERS/$STEP.ok"
}
