#!/bin/bash
# rerun.sh DATE: what the operator runs after a fix. Runs every step of DATE in order;
# steps that still have their success marker skip themselves, so first remove the
# markers of the steps to redo (the broken step and everything after it):
#   rm -f $PIPELINE_DATA/markers/DATE/{validate,featurize,...}.ok
set -euo pipefail
export LOGICAL_DATE=${1:?usage: rerun.sh YYYY-MM-DD}
here=$(dirname "$0")
for step in ingest validate featurize train evaluate register canary; do
    if ! "$here/$step.sh"; then
        echo "rerun: $step failed for $LOGICAL_DATE; stopped (see $PIPELINE_LOGS/$step.log)" >&2
        exit 1
    fi
done
echo "rerun: $LOGICAL_DATE done"
