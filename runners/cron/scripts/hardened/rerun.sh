#!/bin/bash
# rerun.sh DATE... [--from STEP]: what the operator runs after a fix, or to catch up on
# dates that never ran. With --from, first removes the success markers of STEP and every
# step after it for each DATE; then runs the chain (pipeline.sh) for each DATE in the
# order given, stopping at the first date that fails. Steps that keep their marker skip
# themselves, so without --from it runs only what is missing.
#   rerun.sh 2026-01-02 2026-01-03 --from validate
set -euo pipefail
here=$(dirname "$0")
steps=(ingest validate featurize train evaluate register canary)
usage() {
    echo "usage: rerun.sh YYYY-MM-DD... [--from STEP] (STEP: ${steps[*]})" >&2
    exit 2
}
dates=() from=""
while (($#)); do
    case $1 in
        --from) (($# >= 2)) || usage; from=$2; shift 2 ;;
        --from=*) from=${1#--from=}; shift ;;
        [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]) dates+=("$1"); shift ;;
        *) usage ;;
    esac
done
((${#dates[@]})) || usage
redo=()
if [[ -n $from ]]; then
    for i in "${!steps[@]}"; do
        [[ ${steps[i]} == "$from" ]] && redo=("${steps[@]:i}")
    done
    ((${#redo[@]})) || usage
fi
for date in "${dates[@]}"; do
    for step in "${redo[@]}"; do
        rm -f "${PIPELINE_DATA:?}/markers/$date/$step.ok"
    done
done
for date in "${dates[@]}"; do
    if ! LOGICAL_DATE=$date "$here/pipeline.sh"; then
        echo "rerun: $date failed; stopped (see $PIPELINE_LOGS/)" >&2
        exit 1
    fi
    echo "rerun: $date done"
done
