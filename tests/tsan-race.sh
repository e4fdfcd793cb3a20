#!/bin/sh
# The races planted in tsan-race.c must each be reported by ThreadSanitizer
# (a report, not merely a failing exit), and the correct twin must run clean:
# npool's liburcu annotations (doc/DESIGN.md §4) hide no real race.  The
# user bugs (late, barrier) must be reported at their planted line, under
# the TSAN_OPTIONS the README documents (suppressions=checkers/tsan.supp).
# TSan builds only (make check-tsan).
set -u
top_srcdir=${top_srcdir:-..}
src=$top_srcdir/tests/tsan-race.c
passed=0
failed=0

# run PROG clean|report [MARK]: with MARK, the report must name the line of
# tsan-race.c marked "tsan-race:MARK".
run() {
    prog=$1; expect=$2; mark=${3-}
    log=$prog.out
    ./$prog > "$log" 2>&1
    rc=$?
    if grep -q "WARNING: ThreadSanitizer:" "$log"; then reported=yes; else reported=no; fi
    at=yes
    if [ -n "$mark" ]; then
        line=$(grep -n "tsan-race:$mark\\b" "$src" | cut -d: -f1)
        grep -q "tsan-race\\.c:$line\\([^0-9]\\|$\\)" "$log" || at="no (tsan-race.c:$line not in the report)"
    fi
    if [ "$expect" = report ] && [ "$rc" -ne 0 ] && [ "$reported" = yes ] && [ "$at" = yes ]; then
        echo "PASS: $prog: $(grep -m1 "WARNING: ThreadSanitizer:" "$log")${mark:+ at tsan-race.c:$line} (exit $rc)"
        passed=$((passed + 1))
    elif [ "$expect" = clean ] && [ "$rc" -eq 0 ] && [ "$reported" = no ]; then
        echo "PASS: $prog: clean"
        passed=$((passed + 1))
    else
        echo "FAIL: $prog: expected $expect, got exit $rc, TSan report: $reported${mark:+, at the planted line: $at}"
        case " ${TSAN_OPTIONS-} " in
        *ignore_noninstrumented_modules=1*)
            echo "    (TSAN_OPTIONS has ignore_noninstrumented_modules=1, which hides frees: use suppressions=checkers/tsan.supp)" ;;
        esac
        sed 's/^/    /' "$log"
        failed=$((failed + 1))
    fi
}

run tsan-race-ok clean
run tsan-race-publish report
run tsan-race-nograce report
run tsan-race-counter report
run tsan-race-late report late
run tsan-race-barrier report barrier
run tsan-race-retired report            # tsan-retired.c: a reader that began after the retire
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
