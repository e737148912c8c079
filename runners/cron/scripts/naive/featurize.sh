#!/bin/bash
# featurize.sh: build the feature table
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] featurize $LOGICAL_DATE start"
$PIPELINE_PYTHON -m orchbench.step featurize --date $LOGICAL_DATE \
    --in validated=$CUR/validated.csv \
    --out features=$CUR/features.csv
rc=$?
echo "[$(date --rfc-3339=ns)] featurize $LOGICAL_DATE end exit=$rc"
