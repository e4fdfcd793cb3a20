#!/bin/sh
# Smoke test: each mode alone, briefly; the deferring modes again with the
# deferral queue's limit at 0 and 64 KiB (np_destroy_deferred then waits
# for grace periods and destroys pools on the calling threads).
. "$(dirname "$0")/smoke-lib.sh"
for mode in request thread shared rcu stats churn; do
    stress_run "--threads 4 --seconds 0.3 --mode $mode" "--threads 3 --ops 600 --mode $mode"
done
for limit in 0 64k; do
    for mode in request rcu; do
        (NPOOL_DEFER_LIMIT=$limit; export NPOOL_DEFER_LIMIT
         stress_run "--threads 4 --seconds 0.3 --mode $mode" "--threads 3 --ops 600 --mode $mode") || exit $?
    done
done
