#!/bin/sh
# Drives misuse.c: concurrent use of a non-shared pool aborts with a message
# naming the pool; handing a pool over and nested use in a cleanup do not.
set -u
prog=./misuse
pass=0 fail=0
check() { if [ "$1" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $2"; fi; }

out=$($prog race 2>&1); rc=$?
addr=$(printf '%s\n' "$out" | sed -n 's/^pool //p' | head -1)
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -q "npool: pool $addr used by two threads at once"; then
    check ok
else
    check bad "race: rc=$rc, output: $out"
fi
$prog handover >/dev/null 2>&1 && check ok || check bad "handover aborted"
$prog nested >/dev/null 2>&1 && check ok || check bad "nested use in a cleanup aborted"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
