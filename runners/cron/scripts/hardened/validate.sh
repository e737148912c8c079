#!/bin/bash
# validate.sh: schema, row count, nulls and drift checks
source "$(dirname "$0")/lib.sh"

run_step validate "ingest" \
    --in raw="$DAY/raw.csv" \
    --reads reference="$WORLD/reference/profile.json" \
    --out validated="$DAY/validated.csv"
