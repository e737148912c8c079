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
#   manifest            one JSON line per attempt in $PIPELINE_LOGS/manifest.jsonl: date,
#                       step, arguments, sha256 of each input and output file, revision
#                       of the step code, start and end time, exit status
#   catch-up            with the catch-up entry in the crontab (CATCHUP_WAIT_S set), a
#                       day's job waits while catchup.sh re-runs older dates (its lock),
#                       at most CATCHUP_WAIT_S; the catch-up's own chain
#                       (PIPELINE_CATCHUP=1) runs one step at a time under that lock and
#                       takes no step lock: today's ingest holds its own while it waits
#   late data           a step given --wait-for NAME=PATH (ingest: the landing partition)
#                       polls for PATH every LANDING_POLL_S, at most LANDING_WAIT_S
#                       (unset: no wait), then fails like any failure (mailed)
set -euo pipefail

LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
: "${PIPELINE_PYTHON:?} ${PIPELINE_DATA:?} ${PIPELINE_LOGS:?} ${ORCHBENCH_WORLD:?}"
RETRIES=${RETRIES:-2}
EX_DATAERR=65 # the step program's exit status for errors a retry cannot fix
RETRY_DELAY_S=${RETRY_DELAY_S:-60}
STEP_TIMEOUT_S=${STEP_TIMEOUT_S:-3600}
UPSTREAM_WAIT_S=${UPSTREAM_WAIT_S:-10800}
CATCHUP_WAIT_S=${CATCHUP_WAIT_S:-}     # set by the crontab that has the catch-up entry
PIPELINE_CATCHUP=${PIPELINE_CATCHUP:-} # set by catchup.sh for the chain it runs
LANDING_WAIT_S=${LANDING_WAIT_S:-}
LANDING_POLL_S=${LANDING_POLL_S:-1}
STEP_MODULE=${STEP_MODULE:-orchbench.step} # the step program (the overhead probe sets its own)

DAY=$PIPELINE_DATA/$LOGICAL_DATE
MARKERS=$PIPELINE_DATA/markers/$LOGICAL_DATE
LOCKS=$PIPELINE_DATA/locks
MANIFEST=$PIPELINE_LOGS/manifest.jsonl
WORLD=$ORCHBENCH_WORLD # the landing area, reference data, registry and serving slots
CODE=$WORLD/code       # the team's step code repository, where it is deployed from one
STEP=unknown
WHY=""
REVISION=""

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

# The revision of the step code: the commit of the code repository when there is one,
# else the sha256 of the installed step module. Once per script run.
code_revision() {
    local rev module sum
    if [[ -e $CODE/.git ]]; then
        rev=$(git -C "$CODE" rev-parse --short HEAD) && echo "git:$rev"
    else
        module=$("$PIPELINE_PYTHON" -c \
            'import importlib.util as u; print(u.find_spec("orchbench.workflow.steps").origin)') &&
            sum=$(sha256sum <"$module") && echo "sha256:${sum%% *}"
    fi
}

# hashes SIDE NAME=PATH...: "SIDE<TAB>NAME<TAB>PATH<TAB>SHA256" per file (each file of a
# directory; "-" for a missing one)
hashes() {
    local side=$1 ref name path f
    shift
    for ref in "$@"; do
        name=${ref%%=*} path=${ref#*=}
        if [[ -d $path ]]; then
            find "$path" -type f | sort | while read -r f; do
                printf '%s\t%s\t%s\t%s\n' "$side" "$name" "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
            done
        elif [[ -f $path ]]; then
            printf '%s\t%s\t%s\t%s\n' "$side" "$name" "$path" "$(sha256sum <"$path" | cut -d' ' -f1)"
        else
            printf '%s\t%s\t%s\t-\n' "$side" "$name" "$path"
        fi
    done
}

# manifest ATTEMPT START END RC REVISION ARG...: append the attempt's line (ARG...: the
# step program's arguments); reads hashes() on stdin
manifest() {
    "$PIPELINE_PYTHON" -I -c '
import json, sys
path, date, step, attempt, start, end, rc, revision, *args = sys.argv[1:]
refs = {"in": [], "out": []}
for line in filter(str.strip, sys.stdin):
    side, name, uri, sha = line.rstrip("\n").split("\t")
    refs[side].append({"name": name, "uri": uri, "sha256": None if sha == "-" else sha})
line = {"date": date, "step": step, "attempt": int(attempt), "args": args,
        "inputs": refs["in"], "outputs": refs["out"], "code_revision": revision,
        "start": start, "end": end, "exit": int(rc)}
with open(path, "a") as f:
    f.write(json.dumps(line) + "\n")
' "$MANIFEST" "$LOGICAL_DATE" "$STEP" "$@"
}

# wait_for_catchup: a day's job waits while the catch-up runs (its lock), at most
# CATCHUP_WAIT_S; nothing to do without the catch-up entry or inside the catch-up
wait_for_catchup() {
    [[ -n $CATCHUP_WAIT_S && -z $PIPELINE_CATCHUP ]] || return 0
    flock -n "$LOCKS/catchup.lock" true && return 0
    log "waiting: the catch-up is running"
    flock -w "$CATCHUP_WAIT_S" "$LOCKS/catchup.lock" true ||
        fail "the catch-up still running after ${CATCHUP_WAIT_S}s"
    log "waited: the catch-up is done"
}

# wait_for_landing NAME=PATH: poll for PATH until LANDING_WAIT_S (unset: no wait)
wait_for_landing() {
    local name=${1%%=*} path=${1#*=} deadline
    [[ -n $LANDING_WAIT_S && ! -e $path ]] || return 0
    deadline=$(($(date +%s) + LANDING_WAIT_S))
    log "waiting: $name $path has not landed; waiting up to ${LANDING_WAIT_S}s"
    until [[ -e $path ]]; do
        (($(date +%s) < deadline)) || fail "$name $path not landed after ${LANDING_WAIT_S}s"
        sleep "$LANDING_POLL_S"
    done
    log "waited: $name $path landed"
}

# run_step STEP UPSTREAM [--in NAME=PATH ...] [--out NAME=PATH ...]
#                        [--reads NAME=PATH ...] [--writes NAME=PATH ...]
#                        [--wait-for NAME=PATH]
# UPSTREAM is the step whose marker must exist first ("" for the first step). --in and
# --out are passed to the step program; --reads and --writes name the files it finds
# itself (the world's). The manifest hashes all four. --wait-for: a file that may land
# late (wait_for_landing), waited for before the first attempt.
run_step() {
    STEP=$1
    local upstream=$2 attempt=1 rc start end ins wait_for=""
    local -a args=() reads=() writes=() argv
    shift 2
    while (($#)); do
        case $1 in
            --in) args+=(--in "$2") reads+=("$2") ;;
            --out) args+=(--out "$2") writes+=("$2") ;;
            --reads) reads+=("$2") ;;
            --writes) writes+=("$2") ;;
            --wait-for) wait_for=$2 ;;
            *) fail "run_step: unknown option $1" ;;
        esac
        shift 2
    done
    mkdir -p "$DAY" "$MARKERS" "$LOCKS" "$PIPELINE_LOGS"
    exec 3>&2 >>"$PIPELINE_LOGS/$STEP.log" 2>&1 # fd 3 goes to cron (and to the mail)
    trap 'report_failure $?' EXIT

    exec 8>"$LOCKS/$STEP.lock"
    if [[ -z $PIPELINE_CATCHUP ]]; then
        flock -n 8 || fail "another $STEP is still running"
    fi
    if [[ -e $MARKERS/$STEP.ok ]]; then
        log "skipped: already done"
        return 0
    fi
    wait_for_catchup
    if [[ -n $upstream ]]; then
        # The upstream may still be retrying past our slot: wait for it, then check (the
        # catch-up's chain runs its steps one after the other: nothing to wait for).
        if [[ -z $PIPELINE_CATCHUP ]]; then
            flock -w "$UPSTREAM_WAIT_S" "$LOCKS/$upstream.lock" true ||
                fail "$upstream still running after ${UPSTREAM_WAIT_S}s"
        fi
        if [[ ! -e $MARKERS/$upstream.ok ]]; then
            WHY="refusing to run: no success marker for $upstream"
            log "refused: no success marker for $upstream"
            exit 1
        fi
    fi
    [[ -z $wait_for ]] || wait_for_landing "$wait_for"

    [[ -n $REVISION ]] || REVISION=$(code_revision) || REVISION=unknown
    while :; do
        argv=("$STEP" --date "$LOGICAL_DATE" --native try="$attempt" "${args[@]}")
        ins=$(hashes in "${reads[@]}")
        start=$(date --rfc-3339=ns)
        echo "[$start] $STEP $LOGICAL_DATE start attempt $attempt/$((RETRIES + 1))"
        rc=0
        timeout --kill-after=5 "$STEP_TIMEOUT_S" "$PIPELINE_PYTHON" -m "$STEP_MODULE" "${argv[@]}" ||
            rc=$?
        end=$(date --rfc-3339=ns)
        echo "[$end] $STEP $LOGICAL_DATE end exit=$rc attempt $attempt/$((RETRIES + 1))"
        { echo "$ins" && hashes out "${writes[@]}"; } |
            manifest "$attempt" "$start" "$end" "$rc" "$REVISION" "${argv[@]}" ||
            log "manifest: could not write the line of attempt $attempt"
        ((rc == 0)) && break
        ((rc != EX_DATAERR)) || fail "bad data, not retried (exit $rc, attempt $attempt)"
        ((attempt <= RETRIES)) || fail "gave up after $attempt attempts (last exit $rc)"
        sleep "$RETRY_DELAY_S"
        attempt=$((attempt + 1))
    done
    touch "$MARKERS/$STEP.ok"
}
