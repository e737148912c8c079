#!/bin/bash
# register.sh: make the model champion if the evaluation says so
source "$(dirname "$0")/lib.sh"

run_step register "evaluate" \
    --in model="$DAY/model.json" \
    --in evaluation="$DAY/evaluation.json" \
    --reads champion="$WORLD/registry/champion.json" \
    --out registration="$DAY/registration.json" \
    --writes champion="$WORLD/registry/champion.json"
