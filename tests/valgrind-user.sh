#!/bin/sh
# valgrind-user.c, a small correct threaded program, under the valgrind
# command the README gives users:
#   valgrind --leak-check=full --error-exitcode=3 --suppressions=valgrind.supp
# With checkers/valgrind.supp it must pass: exit 0, no leak or error record,
# and the suppression used.  Without it memcheck must fail it (exit 3) on
# liburcu's call_rcu thread's TLS, "possibly lost": the suppression file is
# needed, and enough.  Plain builds with valgrind only.
set -u
top_srcdir=${top_srcdir:-..}
VALGRIND=${VALGRIND:-valgrind}
supp=$top_srcdir/checkers/valgrind.supp
passed=0
failed=0

# vg LOG [OPTION...]: the program under the users' command; sets rc.
vg() {
    log=$1; shift
    ../libtool --mode=execute "$VALGRIND" --leak-check=full --error-exitcode=3 -s "$@" \
        ./valgrind-user > "$log" 2>&1
    rc=$?
}

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; sed 's/^/    /' "$2"; failed=$((failed + 1)); }

vg valgrind-user-supp.log --suppressions="$supp"
if [ "$rc" -eq 0 ] && grep -q '0 bad' valgrind-user-supp.log &&
   ! grep -q 'are possibly lost\|are definitely lost\|are indirectly lost\|Invalid \|uninitialised' valgrind-user-supp.log &&
   grep -q 'used_suppression:.*npool-liburcu-call_rcu-thread-dtv' valgrind-user-supp.log; then
    pass "with valgrind.supp: clean (exit 0), $(grep -o 'used_suppression:.*' valgrind-user-supp.log | sed 's/  */ /g')"
else
    fail "with valgrind.supp: expected exit 0 and no record, got exit $rc:" valgrind-user-supp.log
fi

vg valgrind-user-nosupp.log
# the possibly-lost record, up to the blank line that ends it, names liburcu
record=$(sed -n '/are possibly lost in loss record/,/^==[0-9]*== *$/p' valgrind-user-nosupp.log)
if [ "$rc" -eq 3 ] && printf '%s\n' "$record" | grep -q 'pthread_create' &&
   printf '%s\n' "$record" | grep -q 'liburcu-memb\.so'; then
    pass "without it: exit 3 on $(printf '%s\n' "$record" | head -1 | sed 's/^==[0-9]*== //')"
else
    fail "without valgrind.supp: expected exit 3 on liburcu's possibly-lost record, got exit $rc:" valgrind-user-nosupp.log
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
