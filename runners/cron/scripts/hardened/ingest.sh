#!/bin/bash
# ingest.sh: copy the day's partition from the landing area
source "$(dirname "$0")/lib.sh"

run_step ingest "" \
    --out raw="$DAY/raw.csv"
