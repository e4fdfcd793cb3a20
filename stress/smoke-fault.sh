#!/bin/sh
# Smoke test: the fault-injecting backend fails every 5th and every 2nd call;
# only ENOMEM is tolerated and the backend must end with nothing live.
. "$(dirname "$0")/smoke-lib.sh"
stress_run "--threads 4 --seconds 0.5 --fail-every 5" "--threads 3 --ops 2000 --fail-every 5"
stress_run "--threads 4 --ops 20000 --fail-every 2" "--threads 2 --ops 1000 --fail-every 2"
