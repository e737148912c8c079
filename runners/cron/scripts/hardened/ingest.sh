#!/bin/bash
# ingest.sh: copy the day's partition from the landing area
source "$(dirname "$0")/lib.sh"

run_step ingest "" \
    --reads landing="$WORLD/landing/$LOGICAL_DATE.csv" \
    --out raw="$DAY/raw.csv"
