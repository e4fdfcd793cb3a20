#!/bin/sh
# Smoke test: every mode mixed, thread churn included, for one second;
# --dump: the pool and global dumps at the end.
. "$(dirname "$0")/smoke-lib.sh"
stress_run "--threads 4 --seconds 1 --dump" "--threads 3 --ops 3000 --dump"
