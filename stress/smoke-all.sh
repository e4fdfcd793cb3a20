#!/bin/sh
# Smoke test: every mode mixed, thread churn included, for one second.
. "$(dirname "$0")/smoke-lib.sh"
stress_run "--threads 4 --seconds 1" "--threads 3 --ops 3000"
