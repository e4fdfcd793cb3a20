#!/bin/sh
# Drives misuse.c: concurrent use of a non-shared pool (np_destroy and
# np_destroy_deferred included, and np_destroy_deferred of a parent whose
# child another thread is inside a call on) aborts with a message naming the pool, and so
# does an unbalanced np_rcu_read_unlock; handing a pool over and nested use in a cleanup do not.
set -u
prog=./misuse
pass=0 fail=0
check() { if [ "$1" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $2"; fi; }

for mode in race destroy deferred child-deferred; do
    out=$($prog $mode 2>&1); rc=$?
    addr=$(printf '%s\n' "$out" | sed -n 's/^pool //p' | head -1)
    if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "npool: pool $addr used by two threads at once"; then
        check ok
    else
        check bad "$mode: rc=$rc, output: $out"
    fi
done
out=$($prog unlock 2>&1); rc=$?
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "np_rcu_read_unlock() without a matching np_rcu_read_lock()"; then
    check ok
else
    check bad "unlock: rc=$rc, output: $out"
fi
$prog handover >/dev/null 2>&1 && check ok || check bad "handover aborted"
$prog nested >/dev/null 2>&1 && check ok || check bad "nested use in a cleanup aborted"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
