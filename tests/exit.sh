#!/bin/sh
# Process exit and the environment (exit-probe.c, linked with the shared
# library and with the static archive): the main thread's pool's
# cleanups run at exit; exit() inside read sections still runs the queued
# deferred destroys and returns; the process's first deferral after the
# library's finalizer runs; under valgrind a thread alive at exit()
# leaves nothing "definitely lost"; environment values that overflow or are
# out of range mean the default.
set -u
prog=./exit-probe
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

# The exit cases twice: linked with the shared library, and with the static
# archive (whose link must bring the library's constructor and destructor).
for p in $prog ./exit-probe-static; do
    out=$(timeout 20 $p main-pool); rc=$?
    [ $rc -eq 0 ] && [ "$out" = "main pool cleanup ran" ] && ok ||
        bad "$p main-pool: rc=$rc, output '$out' (the main thread's pool cleanup must run at exit)"

    out=$(timeout 20 $p exit-reading); rc=$?
    [ $rc -eq 0 ] && [ "$out" = "deferred destroy ran" ] && ok ||
        bad "$p exit-reading: rc=$rc, output '$out' (124: exit hung)"

    for used in "" used; do
        out=$(timeout 20 $p late-deferral $used); rc=$?
        [ $rc -eq 0 ] && [ "$out" = "late deferral ran
barrier returned" ] && ok ||
            bad "$p late-deferral $used: rc=$rc, output '$out' (a deferral after the library's finalizer, in a read section; 124: it hung)"
    done
done

if [ -n "${VALGRIND:-}" ] && [ "$VALGRIND" != no ] && [ -z "${NP_SANITIZER:-}" ]; then
    log=exit-probe-valgrind.log
    timeout 120 ${LIBTOOL:-../libtool} --mode=execute "$VALGRIND" --quiet --error-exitcode=3 \
        --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        $prog alive-thread > "$log" 2>&1; rc=$?
    [ $rc -eq 0 ] && ok || { bad "alive-thread under valgrind: rc=$rc"; cat "$log"; }
fi

# NPOOL_THREAD_CACHE NPOOL_DEBUG_PALLOC NPOOL_REDZONE NPOOL_LARGE_CACHE
# NPOOL_DEFER_LIMIT as taken
defaults="1048576 0 16 2097152 67108864"
check_env() {
    expect=$1; shift
    out=$(env "$@" $prog options); rc=$?
    [ $rc -eq 0 ] && [ "$out" = "$expect" ] && ok || bad "env $*: rc=$rc, got '$out', want '$expect'"
}
check_env "$defaults" NPOOL_DEBUG_PALLOC=99999999999999999999
check_env "$defaults" NPOOL_DEBUG_PALLOC=9223372036854775808
check_env "$defaults" NPOOL_DEBUG_PALLOC=2
check_env "$defaults" NPOOL_REDZONE=99999999999999999999
check_env "$defaults" NPOOL_REDZONE=1g
check_env "$defaults" NPOOL_THREAD_CACHE=9223372036854775807
check_env "$defaults" NPOOL_THREAD_CACHE=8589934592g
check_env "$defaults" NPOOL_LARGE_CACHE=-1 NPOOL_THREAD_CACHE=12x
check_env "$defaults" NPOOL_DEFER_LIMIT=2048g
check_env "$defaults" NPOOL_DEFER_LIMIT=1m5
check_env "4194304 0 16 0 67108864" NPOOL_THREAD_CACHE=4m NPOOL_LARGE_CACHE=0
check_env "1048576 1 4096 2097152 67108864" NPOOL_DEBUG_PALLOC=1 NPOOL_REDZONE=4096
check_env "1048576 0 16 2097152 0" NPOOL_DEFER_LIMIT=0
check_env "1048576 0 16 2097152 1099511627776" NPOOL_DEFER_LIMIT=1024g

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
