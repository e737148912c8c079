#!/bin/bash
# catchup.sh: the catch-up job an ops engineer adds to the crontab, one minute before the
# day's first job. After the host was down (or a date failed), it re-runs every date of
# its look-back window that lacks its success marker (the last step's,
# markers/<date>/canary.ok), oldest first, then lets the day's jobs run: they wait for its
# lock (lib.sh), so the shared champion and serving slots see the dates in order.
#
#   window      the CATCHUP_DAYS dates before today's LOGICAL_DATE (the team's setting),
#               never before PIPELINE_START (the first date the pipeline ran for)
#   the chain   rerun.sh DATE... (pipeline.sh per date: each step resumes where the date
#               stopped, with lib.sh's retries, timeout, manifest and failure report);
#               it stops at the first date that fails, as later dates need it first
#   flock       locks/catchup.lock: one catch-up at a time, and the day's jobs wait on it
#   marker      markers/<today>/catchup.ok once every date of the window has its marker
#   quiet       its log is catchup.log; a failure's report goes to stderr, which cron
#               mails to MAILTO
#
#   catchup.sh          run the catch-up (the crontab entry)
#   catchup.sh --list   print the dates it would run, oldest first, and exit
set -euo pipefail
: "${PIPELINE_DATA:?} ${PIPELINE_LOGS:?} ${PIPELINE_START:?}"
TODAY=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CATCHUP_DAYS=${CATCHUP_DAYS:-7}
LAST_STEP=canary # a date is done when its last step's marker exists
here=$(dirname "$0")

# The dates of the window that lack their success marker, oldest first.
pending() {
    local k d
    for ((k = CATCHUP_DAYS; k >= 1; k--)); do
        d=$(date -u -d "$TODAY -$k days" +%F)
        [[ $d < $PIPELINE_START ]] && continue
        [[ -e $PIPELINE_DATA/markers/$d/$LAST_STEP.ok ]] || echo "$d"
    done
}

if [[ ${1:-} == --list ]]; then
    pending
    exit 0
fi
(($# == 0)) || {
    echo "usage: catchup.sh [--list]" >&2
    exit 2
}

marker=$PIPELINE_DATA/markers/$TODAY/catchup.ok
mkdir -p "$PIPELINE_DATA/locks" "$PIPELINE_LOGS" "${marker%/*}"
exec 3>&2 >>"$PIPELINE_LOGS/catchup.log" 2>&1 # fd 3 goes to cron (and to the mail)
log() { echo "[$(date --rfc-3339=ns)] catchup $TODAY $*"; }
failed() {
    log "FAILED: $*"
    echo "catchup for $TODAY failed: $*" >&3
    exit 1
}

exec 9>"$PIPELINE_DATA/locks/catchup.lock"
flock -n 9 || failed "another catch-up is still running"
if [[ -e $marker ]]; then
    log "skipped: already done"
    exit 0
fi
mapfile -t dates < <(pending)
if ((${#dates[@]} == 0)); then
    log "nothing to catch up (window: $CATCHUP_DAYS days, from $PIPELINE_START)"
    touch "$marker"
    exit 0
fi
log "start: ${dates[*]}"
# the chain's failure reports (lib.sh) and rerun.sh's own message go to cron's mail
if ! PIPELINE_CATCHUP=1 "$here/rerun.sh" "${dates[@]}" 2>&3; then
    failed "a date of ${dates[*]} failed; see $PIPELINE_LOGS/"
fi
log "done: ${dates[*]}"
touch "$marker"
