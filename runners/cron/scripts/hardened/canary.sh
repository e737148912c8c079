#!/bin/bash
# canary.sh: put the new champion on canary, check it, promote it
source "$(dirname "$0")/lib.sh"

run_step canary "register" \
    --in registration="$DAY/registration.json" \
    --out deployment="$DAY/deployment.json"
