#!/bin/bash
# train.sh: fit the model
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] train $LOGICAL_DATE start"
$PIPELINE_PYTHON -m orchbench.step train --date $LOGICAL_DATE \
    --in features=$CUR/features.csv \
    --out model=$CUR/model.json
rc=$?
echo "[$(date --rfc-3339=ns)] train $LOGICAL_DATE end exit=$rc"
