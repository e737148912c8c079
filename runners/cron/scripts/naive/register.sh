#!/bin/bash
# register.sh: make the model champion if the evaluation says so
# Run by cron once a day; cron's crontab sets PIPELINE_PYTHON and PIPELINE_DATA.
# Reads and writes the fixed "current" files the other jobs use.
LOGICAL_DATE=${LOGICAL_DATE:-$(date -d yesterday +%F)}
CUR=$PIPELINE_DATA/current

echo "[$(date --rfc-3339=ns)] register $LOGICAL_DATE start"
$PIPELINE_PYTHON -m orchbench.step register --date $LOGICAL_DATE \
    --in model=$CUR/model.json \
    --in evaluation=$CUR/evaluation.json \
    --out registration=$CUR/registration.json
rc=$?
echo "[$(date --rfc-3339=ns)] register $LOGICAL_DATE end exit=$rc"
