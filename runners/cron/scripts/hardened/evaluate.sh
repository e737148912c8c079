#!/bin/bash
# evaluate.sh: score the model against the holdout set and the champion
source "$(dirname "$0")/lib.sh"

run_step evaluate "train" \
    --in model="$DAY/model.json" \
    --out evaluation="$DAY/evaluation.json"
