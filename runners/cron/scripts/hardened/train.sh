#!/bin/bash
# train.sh: fit the model
source "$(dirname "$0")/lib.sh"

run_step train "featurize" \
    --in features="$DAY/features.csv" \
    --out model="$DAY/model.json"
