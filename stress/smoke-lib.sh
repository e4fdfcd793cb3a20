# npool-stress smoke tests: the helper every smoke-*.sh sources.
#
# stress_run "ARGS" "VALGRIND-ARGS" runs ./npool-stress --quiet ARGS, or,
# under `make check-valgrind` (NP_UNDER_VALGRIND=1), the shorter
# VALGRIND-ARGS under valgrind memcheck: .sh tests do not get the
# LOG_COMPILER that check-valgrind sets for program tests.
#
# --no-fork: forking is left out of `make check` while a known deadlock
# stands (fork racing with the first np_destroy_deferred calls of a process:
# repro/repro-fork-call-rcu.c; a forked child can also hang: repro-fork-register.c);
# `npool-stress --mode churn` exercises both.
stress_run() {
    if [ "${NP_UNDER_VALGRIND:-0}" = 1 ]; then
        echo "valgrind: npool-stress --quiet --no-fork $2"
        # shellcheck disable=SC2086
        ../libtool --mode=execute "${VALGRIND:-valgrind}" --quiet --error-exitcode=99 \
            --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
            ./npool-stress --quiet --no-fork $2 || exit $?
    else
        echo "npool-stress --quiet --no-fork $1"
        # shellcheck disable=SC2086
        ./npool-stress --quiet --no-fork $1 || exit $?
    fi
}
