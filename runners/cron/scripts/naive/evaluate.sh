#!/bin/bash
# evaluate.sh: score the model against the holdout set and the champion
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] evaluate $LOGICAL_DATE start"
$PIPELINE_PYTHON -m orchbench.step evaluate --date $LOGICAL_DATE \
    --in model=$CUR/model.json \
    --out evaluation=$CUR/evaluation.json
rc=$?
echo "[$(date --rfc-3339=ns)] evaluate $LOGICAL_DATE end exit=$rc"
