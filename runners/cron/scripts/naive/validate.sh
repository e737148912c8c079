#!/bin/bash
# validate.sh: schema, row count, nulls and drift checks
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] validate $LOGICAL_DATE start"
$PIPELINE_PYTHON -m orchbench.step validate --date $LOGICAL_DATE \
    --in raw=$CUR/raw.csv \
    --out validated=$CUR/validated.csv
rc=$?
echo "[$(date --rfc-3339=ns)] validate $LOGICAL_DATE end exit=$rc"
