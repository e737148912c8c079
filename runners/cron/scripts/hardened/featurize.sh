#!/bin/bash
# featurize.sh: build the feature table
source "$(dirname "$0")/lib.sh"

run_step featurize "validate" \
    --in validated="$DAY/validated.csv" \
    --out features="$DAY/features.csv"
