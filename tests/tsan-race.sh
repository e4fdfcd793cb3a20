#!/bin/sh
# The races planted in tsan-race.c must each be reported by ThreadSanitizer
# (a report, not merely a failing exit), and the correct twin must run clean:
# npool's liburcu annotations (doc/DESIGN.md §4) hide no real race.  TSan builds
# only (make check-tsan).
set -u
passed=0
failed=0

run() {
    prog=$1; expect=$2
    log=$prog.out
    ./$prog > "$log" 2>&1
    rc=$?
    if grep -q "WARNING: ThreadSanitizer:" "$log"; then reported=yes; else reported=no; fi
    if [ "$expect" = report ] && [ "$rc" -ne 0 ] && [ "$reported" = yes ]; then
        echo "PASS: $prog: $(grep -m1 "WARNING: ThreadSanitizer:" "$log") (exit $rc)"
        passed=$((passed + 1))
    elif [ "$expect" = clean ] && [ "$rc" -eq 0 ] && [ "$reported" = no ]; then
        echo "PASS: $prog: clean"
        passed=$((passed + 1))
    else
        echo "FAIL: $prog: expected $expect, got exit $rc, TSan report: $reported"
        sed 's/^/    /' "$log"
        failed=$((failed + 1))
    fi
}

run tsan-race-ok clean
run tsan-race-publish report
run tsan-race-nograce report
run tsan-race-counter report
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
