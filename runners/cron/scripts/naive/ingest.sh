#!/bin/bash
# ingest.sh: copy yesterday's partition from the landing area
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] ingest $LOGICAL_DATE start"
mkdir -p $CUR
$PIPELINE_PYTHON -m orchbench.step ingest --date $LOGICAL_DATE \
    --out raw=$CUR/raw.csv
rc=$?
echo "[$(date --rfc-3339=ns)] ingest $LOGICAL_DATE end exit=$rc"
