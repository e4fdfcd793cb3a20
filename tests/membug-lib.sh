# Shared by membug-asan.sh and membug-valgrind.sh (sourced, not run).
# membug_all RUNNER...: runs ./membug for each bug kind through RUNNER, then
# its clean twin ("ok"), and asserts the ten outcomes: every bug is reported
# (non-zero exit) naming the line marked "membug:KIND" in membug.c, and every
# twin exits 0 with an empty report.  Prints "N passed, M failed".
membug_src=${top_srcdir:-..}/tests/membug.c
membug_passed=0
membug_failed=0

membug_one() {
    kind=$1; variant=$2; shift 2
    log=membug-$kind-$variant.log
    line=$(grep -n "membug:$kind\\b" "$membug_src" | cut -d: -f1)
    set +e
    "$@" ./membug "$kind" $variant > "$log" 2>&1
    rc=$?
    set -e
    if [ "$variant" = bug ]; then
        if [ "$rc" -ne 0 ] && grep -q "membug\\.c:$line\\b" "$log"; then
            echo "PASS: $kind: reported at membug.c:$line (exit $rc)"
            membug_passed=$((membug_passed + 1))
        else
            echo "FAIL: $kind: not reported at membug.c:$line (exit $rc); report:"
            sed 's/^/    /' "$log"
            membug_failed=$((membug_failed + 1))
        fi
    else
        if [ "$rc" -eq 0 ] && ! grep -q "ERROR\\|Invalid\\|membug\\.c:" "$log"; then
            echo "PASS: $kind ok: clean"
            membug_passed=$((membug_passed + 1))
        else
            echo "FAIL: $kind ok: exit $rc or a report:"
            sed 's/^/    /' "$log"
            membug_failed=$((membug_failed + 1))
        fi
    fi
}

membug_all() {
    for kind in overflow reset slack destroy shrink; do
        membug_one "$kind" bug "$@"
        membug_one "$kind" ok "$@"
    done
    echo "$membug_passed passed, $membug_failed failed"
    [ "$membug_failed" -eq 0 ]
}
