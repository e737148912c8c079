#!/bin/bash
# evaluate.sh: score the model against the holdout set and the champion
source "$(dirname "$0")/lib.sh"

run_step evaluate "train" \
    --in model="$DAY/model.json" \
    --reads holdout="$WORLD/reference/holdout.csv" \
    --reads champion="$WORLD/registry/champion.json" \
    --out evaluation="$DAY/evaluation.json"
