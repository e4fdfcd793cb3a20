#!/bin/sh
# Smoke test: each mode alone, briefly.
. "$(dirname "$0")/smoke-lib.sh"
for mode in request thread shared rcu stats churn; do
    stress_run "--threads 4 --seconds 0.3 --mode $mode" "--threads 3 --ops 600 --mode $mode"
done
