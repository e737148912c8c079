#!/bin/bash
# canary.sh: put the new champion on canary, check it, promote it
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] canary $LOGICAL_DATE start"
$PIPELINE_PYTHON -m orchbench.step canary --date $LOGICAL_DATE \
    --in registration=$CUR/registration.json \
    --out deployment=$CUR/deployment.json
rc=$?
echo "[$(date --rfc-3339=ns)] canary $LOGICAL_DATE end exit=$rc"
