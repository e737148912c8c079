#!/bin/bash
# canary.sh: put the new champion on canary, check it, promote it
source "$(dirname "$0")/lib.sh"

run_step canary "register" \
    --in registration="$DAY/registration.json" \
    --reads holdout="$WORLD/reference/holdout.csv" \
    --reads champion="$WORLD/registry/champion.json" \
    --reads serving="$WORLD/serving" \
    --out deployment="$DAY/deployment.json" \
    --writes serving="$WORLD/serving"
