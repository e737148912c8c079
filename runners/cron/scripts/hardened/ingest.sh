#!/bin/bash
# ingest.sh: copy the day's partition from the landing area, once it has landed (a
# partition that lands late is waited for: LANDING_WAIT_S, lib.sh)
source "$(dirname "$0")/lib.sh"

run_step ingest "" \
    --wait-for landing="$WORLD/landing/$LOGICAL_DATE.csv" \
    --reads landing="$WORLD/landing/$LOGICAL_DATE.csv" \
    --out raw="$DAY/raw.csv"
